import { createWriteStream } from 'node:fs';
import { lstat, mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Writable } from 'node:stream';
import { isKkoError, KkoError } from '../errors.js';
import type { ArchiveCompression, ArchiveEntry } from '../archive/reader.js';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { scanArtifact, type ScanGate } from './scan.js';
import { createStaging, removeStaleStaging, type Staging } from './staging.js';
import { Trust, type TrustOptions } from './trust.js';
import { ArtifactProblemsError, formatProblem, summarizeProblems, type FileRecord, type Problem } from './types.js';
import { trustOfScan, verifyScan } from './verify.js';
import { assertDeltaBase, BaseMissingError, missingCount, type Delta } from '../artifact-format/index.js';
import { hashFile } from '../cache/index.js';
import { createHash } from 'node:crypto';
import { blobPath, INVENTORY_NAME } from './docs.js';
import { quoteValue } from '../util/safe-text.js';
import { mapLimitAll } from '../util/concurrency.js';
import { syncDir, syncFile } from '../util/durable.js';

// `signal` stops the import (SIGINT/SIGTERM in the CLI); the staging dir is removed before the promise settles.
// `verifyInventory` (#12): refuse anything unsigned or signed by another key (see verify.ts VerifyOptions).
export type ImportOptions = {
  artifact: string;
  dir: string;
  catalog?: Catalog;
  signal?: AbortSignal;
  verifyInventory?: TrustOptions['verifyInventory'];
  // #12 item 3: for a delta, the base artifact to take the left-out files and blobs from (else `dir` must hold them).
  base?: string;
};
export type ImportReport = {
  readonly dir: string;
  readonly compression: ArchiveCompression;
  readonly files: number;
  readonly bytes: number;
  readonly md5: string;
  // A delta: its base, and how many left-out entries were found in `dir` or taken from ImportOptions.base.
  readonly delta?: { readonly base: Delta['base']; readonly fromDir: number; readonly fromBase: number };
};

// kk keeps the MD5 (lower-case hex, no newline) of the last unpacked tarball here and skips its untar when it matches.
export const MD5_FILE = 'artifact.md5';

// `name` resolved under `base`; anything that would land outside is refused (names are checked by the reader too).
export function inside(base: string, name: string): string {
  const target = resolve(base, name);
  if (!target.startsWith(base + sep))
    throw new KkoError('UNSAFE_ARCHIVE', `refusing to write ${quoteValue(name, 256)}: outside ${base}`);
  return target;
}

// Each file goes to the same relative path under the staging dir, created exclusively (never through a link).
function stagingSink(staging: string): (e: ArchiveEntry) => Promise<Writable> {
  return async (e) => {
    const target = inside(staging, e.name);
    await mkdir(dirname(target), { recursive: true });
    return createWriteStream(target, { flags: 'wx', mode: (e.mode & 0o755) | 0o644 });
  };
}

type Seen = Map<string, 'dir' | 'absent'>;

// A parent inside the target must be a real directory or not exist yet; a symlink there would lead outside.
async function checkParent(root: string, rel: string, seen: Seen): Promise<void> {
  if (seen.has(rel)) return;
  const info = await lstat(inside(root, rel)).catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? undefined : Promise.reject(err),
  );
  if (info && info.isSymbolicLink())
    throw new KkoError('INVALID_INPUT', `importing into ${root}: ${rel} is a symlink; refusing to write through it`, {
      hint: 'import into a directory without symlinks',
    });
  if (info && !info.isDirectory())
    throw new KkoError('FILE_EXISTS', `importing into ${root}: ${rel} exists and is not a directory`);
  seen.set(rel, info ? 'dir' : 'absent');
}

// Before anything moves: every target's parents are directories (or absent) and no target is a directory.
async function checkTargets(root: string, names: readonly string[]): Promise<void> {
  const seen: Seen = new Map();
  for (const name of names) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) await checkParent(root, parts.slice(0, i).join('/'), seen);
    const info = await lstat(inside(root, name)).catch(() => undefined);
    if (info?.isDirectory()) throw new KkoError('FILE_EXISTS', `importing into ${root}: ${name} exists as a directory`);
  }
}

// Rename every verified file from staging into place; artifact.md5 is removed first and written last. kk skips its
// untar when artifact.md5 matches, so what it vouches for is on disk first: each file fsynced (once), then the
// directories the renames changed, then artifact.md5 itself.
async function moveIntoPlace(staging: string, root: string, names: readonly string[], md5: string): Promise<void> {
  await mapLimitAll(names, 4, (name) => syncFile(inside(staging, name)));
  await rm(inside(root, MD5_FILE), { force: true });
  await syncDir(root); // the old artifact.md5 is gone for good before any file it vouched for is replaced
  const dirs = new Set<string>([root]);
  for (const name of names) {
    const to = inside(root, name);
    await mkdir(dirname(to), { recursive: true });
    await rename(inside(staging, name), to);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(inside(root, parts.slice(0, i).join('/')));
  }
  for (const d of [...dirs].reverse()) await syncDir(d);
  const tmp = inside(root, `.${MD5_FILE}.kko-tmp-${process.pid}`);
  await writeFile(tmp, md5, { mode: 0o644 });
  await syncFile(tmp);
  await rename(tmp, inside(root, MD5_FILE));
  await syncDir(root);
}

// D itself: created when absent (and removed again on failure); a file in its place is the caller's mistake.
async function prepareRoot(dir: string): Promise<{ root: string; created: string | undefined }> {
  try {
    const created = await mkdir(dir, { recursive: true });
    return { root: await realpath(dir), created };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new KkoError('INVALID_INPUT', `importing into ${dir}: it (or a parent) exists and is not a directory`, {
        cause: err,
        hint: "--dir takes kk's work dir, a directory (created when absent)",
      });
    }
    throw new KkoError('IO_ERROR', `importing into ${dir}: ${code ?? String(err)}`, { cause: err });
  }
}

function ioError(root: string, err: unknown): unknown {
  return isKkoError(err)
    ? err
    : new KkoError('IO_ERROR', `importing into ${root}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
        cause: err,
      });
}

// Stop the scan at the first entry the lists or anchors refuse: a 2 MB artifact must not fill staging with 2 GB.
function importGate(trust: Trust, artifact: string, root: string): ScanGate {
  const seen: FileRecord[] = [];
  const stop = (p: Problem | undefined): void => {
    if (p)
      throw new ArtifactProblemsError(
        `importing ${artifact}: ${formatProblem(p)}; stopped at this entry, nothing was written to ${root}`,
        [p],
      );
  };
  return {
    // With a key, the signature (written first, beside the inventory) must have verified before any content is staged.
    admit: (e) =>
      stop((e.name.startsWith('kko/') ? undefined : trust.signatureProblem()) ?? trust.admit(e.name, e.size)),
    settle: (f, doc) => {
      if (doc) {
        trust.learn(f.name, doc);
        for (const prior of seen) stop(trust.check(prior)); // lists that came late (not kko's order) still count
      }
      seen.push(f);
      stop(trust.check(f));
    },
  };
}

// kk's `artifact import`, safely: unpack into a staging dir under D while hashing, refusing each entry as soon as its
// header or hash disagrees with what is known (catalog, lists written first, blob names); check everything at the
// end, and only then move the files into place and write D/artifact.md5. On any failure (or opts.signal) the staging
// dir is removed and D is left as it was. Nothing is written outside D.
export async function importArtifact(opts: ImportOptions): Promise<ImportReport> {
  const catalog = opts.catalog ?? (await loadCatalog());
  const { root, created } = await prepareRoot(opts.dir);
  await removeStaleStaging(root);
  const trust = new Trust({ catalog, ...(opts.verifyInventory ? { verifyInventory: opts.verifyInventory } : {}) });
  let staging: Staging | undefined;
  let done = false;
  try {
    staging = await createStaging(root);
    const scan = await scanArtifact(opts.artifact, {
      sink: stagingSink(staging.files),
      gate: importGate(trust, opts.artifact, root),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const report = verifyScan(scan, trust);
    if (!report.ok)
      throw new ArtifactProblemsError(
        `importing ${opts.artifact}: ${summarizeProblems(report.problems)}; nothing was written to ${root}`,
        report.problems,
      );
    const names = [...scan.files.keys()];
    const fromBase = trust.delta ? await completeDelta(trust.delta, opts, root, staging.files, catalog) : [];
    names.push(...fromBase);
    await checkTargets(root, names);
    await moveIntoPlace(staging.files, root, names, scan.md5);
    done = true;
    const omitted = trust.delta ? trust.delta.omitted.blobs.length + trust.delta.omitted.files.length : 0;
    return {
      dir: root,
      compression: scan.compression,
      files: report.files,
      bytes: report.bytes,
      md5: scan.md5,
      ...(trust.delta
        ? { delta: { base: trust.delta.base, fromDir: omitted - fromBase.length, fromBase: fromBase.length } }
        : {}),
    };
  } catch (err) {
    throw ioError(root, err);
  } finally {
    await staging?.remove();
    if (!done && created) await rm(created, { recursive: true, force: true });
  }
}

// Every entry a delta leaves out, as artifact paths with the sha256 and size they must have.
function omittedEntries(delta: Delta): Array<{ path: string; sha256: string; size: number }> {
  return [
    ...delta.omitted.blobs.map((b) => ({ path: blobPath(b.digest), sha256: b.digest.slice(7), size: b.size })),
    ...delta.omitted.files,
  ];
}

function baseName(delta: Delta): string {
  return delta.base.artifact ?? `the artifact whose inventory has sha256 ${delta.base.inventorySha256}`;
}

// #12 item 3: a delta's left-out entries must be where it is applied. With opts.base they are taken from that artifact
// (verified whole, and it must be the delta's base) into staging, and their names returned to be moved with the
// delta's own; without, `root` must already hold each one with its sha256 (hashed here). Anything absent is listed.
async function completeDelta(
  delta: Delta,
  opts: ImportOptions,
  root: string,
  staging: string,
  catalog: Catalog,
): Promise<string[]> {
  const want = omittedEntries(delta);
  if (opts.base !== undefined) return takeFromBase(delta, want, opts.base, staging, catalog, opts.signal);
  const missing: string[] = [];
  for (const e of want) {
    opts.signal?.throwIfAborted();
    const got = await hashFile(inside(root, e.path)).catch(() => undefined);
    if (!got) missing.push(`${e.path} (${e.size} bytes): not in ${root}`);
    else if (got.digest !== `sha256:${e.sha256}` || got.size !== e.size)
      missing.push(`${e.path}: ${root} holds other content (sha256 ${got.digest.slice(7)}, ${got.size} bytes)`);
  }
  if (missing.length > 0)
    throw new BaseMissingError(
      `importing ${opts.artifact}: a delta of ${baseName(delta)}, but ${root} lacks ${missingCount(missing.length, want.length)}; nothing was written`,
      missing,
      `import the base first (kko artifact import ${baseName(delta)} --dir ${root}), or pass --base OLD_ART`,
    );
  return [];
}

async function takeFromBase(
  delta: Delta,
  want: ReadonlyArray<{ path: string; sha256: string; size: number }>,
  base: string,
  staging: string,
  catalog: Catalog,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const wanted = new Map(want.map((e) => [e.path, e]));
  const stage = stagingSink(staging);
  const discard = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
  const scan = await scanArtifact(base, {
    sink: async (e) => (wanted.has(e.name) ? stage(e) : discard()),
    ...(signal ? { signal } : {}),
  });
  const report = verifyScan(scan, trustOfScan(scan, { catalog }));
  if (!report.ok)
    throw new ArtifactProblemsError(
      `--base ${base}: ${summarizeProblems(report.problems)}; nothing was written`,
      report.problems,
    );
  const inv = scan.docs.get(INVENTORY_NAME);
  const sha = inv ? createHash('sha256').update(inv).digest('hex') : undefined;
  assertDeltaBase(delta, sha, base);
  const missing = want
    .filter((e) => scan.files.get(e.path)?.sha256 !== e.sha256)
    .map((e) => `${e.path} (${e.size} bytes): not in ${base}`);
  if (missing.length > 0)
    throw new BaseMissingError(
      `--base ${base} lacks ${missingCount(missing.length, want.length)}; nothing was written`,
      missing,
      'pass the artifact the delta was exported against',
    );
  return want.map((e) => e.path);
}
