import { mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MAX_PARTS, partName, partsListName, presentParts } from '../archive/parts.js';
import type { TarEntry } from '../archive/tar.js';
import { writeArchive } from '../archive/write.js';
import { blobPath, COMPRESSED_MEDIA_TYPE } from '../artifact-format/index.js';
import { scanArtifact } from '../artifact-read/scan.js';
import { ArtifactProblemsError, formatProblem, summarizeProblems } from '../artifact-read/types.js';
import { trustOfScan, verifyScan, type VerifyOptions } from '../artifact-read/verify.js';
import { isFirstEntry } from '../artifact-read/writer-layout.js';
import { CacheTarget, type BlobCache } from '../cache/index.js';
import type { Catalog } from '../catalog/index.js';
import type { ContentSource, CopyEvent, ManifestContent } from '../content/index.js';
import { copyBlobs, type BlobCounts } from '../copy/index.js';
import { KkoError } from '../errors.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import { formatReference, type Digest, type Reference } from '../reference/index.js';
import { syncDir } from '../util/durable.js';
import { ANNOTATIONS, parseArtifactManifest, parsePublishedIndex, type ArchiveRecipe } from './format.js';

export type PullOptions = VerifyOptions & {
  readonly source: ContentSource;
  readonly ref: Reference; // HOST/repo:tag or @digest (parseOciRef)
  readonly output: string;
  readonly cache: BlobCache; // every blob lands here first (verified, resumable), the archive is written from it
  readonly catalog: Catalog;
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: CopyEvent) => void;
};

export type PullReport = {
  readonly ref: string;
  readonly digest: Digest;
  readonly files: readonly string[]; // what was written: the artifact, or its parts and their list
  readonly sha256: string; // of what was written
  readonly byteIdentical: boolean; // false: an equivalent kko artifact of one another tool wrote (same entries, bytes)
  readonly blobs: BlobCounts;
};

// `kko artifact pull oci://HOST/repo:tag -o ART`: what publish pushed, written again byte for byte.
//  1. the index under the tag (or digest), its artifact manifest and image manifests, each read by digest (checked);
//  2. every blob into the cache (copyBlobs → CacheTarget: hashed before it is kept, resumed after a cut);
//  3. the archive written from the cache by the archive writer with the recorded compression, mtime and split size,
//     in a staging directory beside the output;
//  4. the result verified as `kko artifact verify` does (against its inventory, SHA256SUMS, the layout) and its
//     bytes' sha256 compared with the one publish recorded; only then renamed into place.
export async function pullArtifact(opts: PullOptions): Promise<PullReport> {
  const so = opts.signal ? { signal: opts.signal } : {};
  const what = formatReference(opts.ref);
  const top = await opts.source.getManifest(opts.ref, so);
  if (opts.ref.digest !== undefined && top.digest !== opts.ref.digest)
    throw new KkoError('DIGEST_MISMATCH', `pulling ${what}: the index is ${top.digest}`);
  const { artifact, images } = parsePublishedIndex(top, `pulling ${what}`);
  const repo: Reference = { registry: opts.ref.registry, repository: opts.ref.repository };
  const byDigest = async (d: Descriptor): Promise<ManifestContent> => {
    const m = await opts.source.getManifest({ ...repo, digest: d.digest }, so);
    if (m.digest !== d.digest || m.bytes.length !== d.size)
      throw new KkoError(
        'DIGEST_MISMATCH',
        `pulling ${what}: manifest ${d.digest} is ${m.digest} (${m.bytes.length} bytes)`,
      );
    return m;
  };
  const { recipe, files } = parseArtifactManifest(await byDigest(artifact), `pulling ${what}`);
  const entries = new Map<string, TarEntry>();
  const blobs = new Map<string, Descriptor>();
  const add = (e: TarEntry): void => {
    const had = entries.get(e.name);
    if (had && !had.compressed && e.compressed) entries.set(e.name, e);
    else if (!had) entries.set(e.name, e);
  };
  for (const d of images) {
    const m = await byDigest(d);
    add({ name: blobPath(m.digest), data: m.bytes });
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    if (parsed.kind !== 'image')
      throw new KkoError('INVALID_INPUT', `pulling ${what}: child ${d.digest} is not an image manifest`);
    for (const b of [parsed.manifest.config, ...parsed.manifest.layers]) {
      blobs.set(b.digest, b);
      add(cached(opts.cache, blobPath(b.digest), b, COMPRESSED_MEDIA_TYPE.test(b.mediaType)));
    }
  }
  for (const f of files) {
    if (entries.has(f.name))
      throw new KkoError('INVALID_INPUT', `pulling ${what}: ${f.name} is both an image blob and a file layer`);
    const desc = { mediaType: 'application/octet-stream', digest: f.digest, size: f.size };
    blobs.set(f.digest, desc);
    add({ ...cached(opts.cache, f.name, desc, f.stored), ...(isFirstEntry(f.name) ? { first: true } : {}) });
  }
  assertPartsFit(recipe, [...entries.values()], what);
  const counts = await copyBlobs(opts.source, repo, new CacheTarget(opts.cache), repo, [...blobs.values()], {
    concurrency: opts.concurrency ?? 4,
    verifySource: false,
    ...so,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  const written = await writeStaged(opts, [...entries.values()], recipe, what);
  return {
    ref: what,
    digest: top.digest,
    files: written.files,
    sha256: written.sha256,
    byteIdentical: recipe.byteIdentical !== false,
    blobs: counts,
  };
}

// A split recipe must fit the archive in MAX_PARTS parts: the bytes written as they are (compressed layers, stored
// files) are a floor of its size, so a split size too small for them is refused before any blob is fetched.
function assertPartsFit(recipe: ArchiveRecipe, entries: readonly TarEntry[], what: string): void {
  if (recipe.splitSize === undefined) return;
  let floor = 0;
  for (const e of entries) if ('size' in e && e.compressed && e.size !== undefined) floor += e.size;
  if (floor > recipe.splitSize * MAX_PARTS)
    throw new KkoError(
      'INVALID_INPUT',
      `pulling ${what}: annotation ${ANNOTATIONS.splitSize} is ${recipe.splitSize}, but the archive holds at least ${floor} bytes, more than ${MAX_PARTS} parts of that size`,
      { hint: 'pull only what `kko artifact publish` pushed' },
    );
}

function cached(cache: BlobCache, name: string, d: Descriptor, stored: boolean): TarEntry {
  return {
    name,
    file: cache.blobPath(d.digest),
    size: d.size,
    sha256: d.digest.slice(7),
    ...(stored ? { compressed: true } : {}),
  };
}

// Write into `.ART.kko-pull-*/ART` beside the output (same file system, same base name, so a split artifact's list
// names its parts as they will be named), verify, then rename each file into place; the staging dir always goes.
async function writeStaged(
  opts: PullOptions,
  entries: TarEntry[],
  recipe: ReturnType<typeof parseArtifactManifest>['recipe'],
  what: string,
): Promise<{ files: string[]; sha256: string }> {
  const dir = dirname(opts.output);
  const base = basename(opts.output);
  const staging = await mkdtemp(join(dir, `.${base}.kko-pull-`));
  try {
    const staged = join(staging, base);
    const written = await writeArchive(
      entries,
      staged,
      recipe.compression,
      { SOURCE_DATE_EPOCH: String(recipe.mtime) },
      {
        ...(recipe.level !== undefined ? { level: recipe.level } : {}),
        ...(recipe.splitSize !== undefined ? { splitSize: recipe.splitSize } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
    const scan = await scanArtifact(written.files[0] as string, {
      archiveSha256: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const report = verifyScan(
      scan,
      trustOfScan(scan, {
        catalog: opts.catalog,
        ...(opts.verifyInventory ? { verifyInventory: opts.verifyInventory } : {}),
      }),
    );
    if (!report.ok)
      throw new ArtifactProblemsError(
        `pulling ${what}: the rebuilt artifact fails verification: ${summarizeProblems(report.problems)} (${report.problems.slice(0, 3).map(formatProblem).join('; ')}); nothing was written to ${opts.output}`,
        report.problems,
      );
    if (opts.verifyInventory && report.checked.signature !== 'verified')
      throw new KkoError(
        'SIGNATURE_INVALID',
        `pulling ${what}: the artifact is not signed (no kko/inventory.json.sig)`,
        {
          hint: 'sign it before publishing (`kko artifact sign`), or pull without --key',
        },
      );
    // Not byte-identical by recipe (another tool wrote the published artifact): verified, equivalent, not the same bytes.
    if (recipe.byteIdentical !== false && scan.sha256 !== recipe.sha256)
      throw new KkoError(
        'ARTIFACT_CORRUPT',
        `pulling ${what}: the rebuilt artifact has sha256 ${scan.sha256}, not the published ${recipe.sha256}; nothing was written to ${opts.output}`,
        {
          hint: 'the artifact was published by a kko whose archive writer differs from this one: pull with that release',
        },
      );
    const finals: string[] = [];
    if (written.partsList) await rename(partsListName(staged), partsListName(opts.output));
    for (const [i, f] of written.files.entries()) {
      const to = written.partsList ? partName(opts.output, i) : opts.output;
      await rename(f, to);
      finals.push(to);
    }
    // parts an earlier, longer split artifact left under this name (the CLI asked for --force) would join `cat`
    if (written.partsList)
      for (const [i, p] of await presentParts(opts.output)) if (i >= finals.length) await rm(p, { force: true });
    // writeArchive fsynced each file before it was renamed into the staging dir; these renames are durable once the
    // output's directory is synced too (a power loss must not take the artifact's name back).
    await syncDir(dir);
    return {
      files: written.partsList ? [...finals, partsListName(opts.output)] : finals,
      sha256: scan.sha256 as string,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
