import type { Command } from 'commander';
import { isKkoError, KkoError } from '../../errors.js';
import {
  ArtifactProblemsError,
  formatProblem,
  importArtifact,
  inspectArtifact,
  summarizeProblems,
  verifyArtifact,
  type ImageKeyOptions,
  type InspectReport,
  type VerifyReport,
  type DeltaSummary,
} from '../../artifact-read/index.js';
import type { Catalog } from '../../catalog/index.js';
import { safeText } from '../../util/safe-text.js';
import { BaseMissingError } from '../../artifact-format/index.js';
import { inventoryVerifier, loadPublicKey, verifyCosignSignature } from '../../signing/index.js';
import { absPath, catalogFor } from '../common.js';
import { registerArtifactSign } from './artifact-sign.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_INVALID } from '../io.js';
import { formatBytes } from '../progress.js';

export type InspectOptions = { artifact: string; json?: boolean };
// `catalog`: the catalog binaries are checked against (default: the shipped one plus KKO_CATALOG_DIR).
// `key` (#12): a public key; the artifact must then be signed with it and its signed inventory account for every file.
// `imageKey` / `allowUnsigned` (#12): re-verify each image's cosign signature carried in the artifact.
export type VerifyOptions = {
  artifact: string;
  json?: boolean;
  catalog?: Catalog;
  key?: string;
  imageKey?: string;
  allowUnsigned?: string[];
};
export type ImportOptions = {
  artifact: string;
  dir?: string;
  json?: boolean;
  catalog?: Catalog;
  key?: string;
  requireSignature?: boolean;
  base?: string;
};
export type ArtifactReadDeps = { catalog?: () => Promise<Catalog> };

// A hostile or unreadable archive is bad input (exit 2), not an operational failure; everything else goes to main().
async function refusingHostile(ctx: CommandContext, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!isKkoError(err) || err.code !== 'UNSAFE_ARCHIVE') throw err;
    ctx.io.stderr(`error: ${err.message}\n`);
    if (err.hint) ctx.io.stderr(`hint: ${err.hint}\n`);
    ctx.setExit(EXIT_INVALID);
  }
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: readonly string[]): string =>
    r
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return rows.map(line).join('\n');
}

function renderInspect(r: InspectReport): string {
  // Names come from the archive: each cell is escaped (a newline in one would forge a row).
  const rows = [
    ['CLASS', 'COMPONENT', 'VERSION', 'ARCH', 'COUNT', 'SIZE'],
    ...r.groups.map((g) =>
      [g.class, g.component, g.version ?? '-', g.arch ?? '-', String(g.count), formatBytes(g.size)].map(safeText),
    ),
  ];
  const source = r.inventory ? 'kko/inventory.json' : 'images/index.json (no kko inventory: classes unknown)';
  return [
    `${r.artifact}: ${r.compression}, ${formatBytes(r.archiveBytes)} on disk, ${r.files} files, ${formatBytes(r.contentBytes)} unpacked`,
    ...(r.delta ? [deltaText(r.delta)] : []),
    '',
    table(rows, new Set([4, 5])),
    '',
    `total: ${r.images.length} images from ${source} (${r.blobs.count} blobs, ${formatBytes(r.blobs.size)}); ${r.files - r.blobs.count} other files`,
    `checksums: ${r.checksums ? 'kko/SHA256SUMS present (run `kko artifact verify`)' : 'none in the artifact'}`,
    ...(r.manifest.present ? [`manifest: kko/manifest.json, ${manifestNote(r.manifest.redacted)}`] : []),
    ...(r.referrers
      ? [
          `referrers: ${r.referrers.length} carried (export --with-referrers; pushed along by artifact images push)`,
          ...r.referrers.map((x) =>
            safeText(
              `  ${x.ref}: referrer ${x.digest} ${x.tag ? `tag ${x.tag}` : (x.artifactType ?? '-')} (${formatBytes(x.size)}) of ${x.subject}`,
            ),
          ),
        ]
      : []),
  ].join('\n');
}

// #12 item 3: how a delta is named to the user, by inspect and verify: never as a complete artifact.
export function deltaText(d: DeltaSummary): string {
  const base = d.base.artifact
    ? `${safeText(d.base.artifact)} (inventory sha256 ${d.base.inventorySha256})`
    : `the artifact whose inventory has sha256 ${d.base.inventorySha256}`;
  return `delta of ${base}: not complete on its own; ${d.omittedBlobs} blob(s) and ${d.omittedFiles} file(s) (${formatBytes(d.omittedBytes)}) are in the base, which import and push require`;
}

function manifestNote(redacted: boolean | undefined): string {
  if (redacted === true)
    return 'credentials removed at export (spec.registry.auths passwords are not in it; give them again to kk)';
  if (redacted === false) return 'stored as given (the inventory says no credentials were removed)';
  return 'the inventory does not say whether credentials were removed';
}

// `kko artifact inspect`: what is inside, by class and component, read in one pass without unpacking.
export async function runInspect(o: InspectOptions, ctx: CommandContext): Promise<void> {
  await refusingHostile(ctx, async () => {
    const report = await inspectArtifact(absPath(ctx, o.artifact));
    if (o.json) printJson(ctx, report);
    else ctx.io.stdout(`${renderInspect(report)}\n`);
  });
}

const ANCHOR_TEXT: Record<string, string> = {
  catalog: 'the kko catalog',
  manifest: 'iso.checksum in kko/manifest.json',
  inventory: 'kko/inventory.json only (unsigned: it travels with the artifact)',
  checksums: 'kko/SHA256SUMS only (it travels with the artifact)',
};

// Which anchor vouched for the binaries and ISOs, and which nothing vouched for.
function renderAnchors(r: VerifyReport): string[] {
  const signed = r.checked.signature === 'verified';
  const parts = Object.entries(r.anchors).map(
    ([a, n]) => `${n} against ${a === 'inventory' && signed ? 'kko/inventory.json (signed)' : (ANCHOR_TEXT[a] ?? a)}`,
  );
  const lines = parts.length > 0 ? [`binaries and ISOs: ${parts.join('; ')}`] : [];
  if (r.kind === 'kk')
    lines.push(
      'no kko/ metadata (a kk artifact): blobs were checked by name and the layout walked; binaries could only be checked against the kko catalog',
    );
  if (r.unanchored.length > 0)
    lines.push(`not checked against anything (${r.unanchored.length}): ${r.unanchored.join(', ')}`);
  return lines;
}

function renderVerify(r: VerifyReport): string {
  const lines = r.problems.map((p) => safeText(formatProblem(p))); // one line per problem, whatever the entry name holds;
  const unchecked = r.checked.checksums
    ? ''
    : ' (no kko/SHA256SUMS: files outside images/ were read but could not be checked against a list)';
  if (r.ok)
    lines.push(
      `ok: ${r.files} files (${r.blobs} blobs, ${formatBytes(r.bytes)}) verified${unchecked}${r.delta ? '; an intact delta, not a complete artifact' : ''}`,
      ...(r.delta ? [deltaText(r.delta)] : []),
      ...renderAnchors(r),
      ...SIGNATURE_TEXT[r.checked.signature],
      ...imageSignatureText(r),
    );
  return lines.join('\n'); // when not ok, the summary is the error main() prints on stderr
}

function imageSignatureText(r: VerifyReport): string[] {
  const s = r.imageSignatures;
  if (!s) return [];
  const allowed =
    s.allowedUnsigned.length > 0
      ? `; accepted unsigned (--allow-unsigned): ${s.allowedUnsigned.map(safeText).join(', ')}`
      : '';
  return [
    `image signatures: ${s.verified} image(s) verified with the key given, each the content of the artifact${s.perArch > 0 ? `, and ${s.perArch} per-arch signature(s) (cosign sign --recursive)` : ''}${allowed}`,
  ];
}

const SIGNATURE_TEXT: Record<VerifyReport['checked']['signature'], string[]> = {
  verified: [
    'signature: kko/inventory.json.sig verified with the key given; the signed inventory accounts for every file',
  ],
  unchecked: ['signature: kko/inventory.json.sig present but not checked (pass --key PUB)'],
  none: [],
};

// The signature check of --key PUB (a bad key file is invalid input, exit 2, before the artifact is read).
export async function keyVerifier(
  ctx: CommandContext,
  key: string | undefined,
): Promise<{ verifyInventory?: (inventory: Buffer, signature: Buffer) => void }> {
  if (key === undefined) return {};
  return { verifyInventory: inventoryVerifier(await loadPublicKey(absPath(ctx, key)), key) };
}

// --image-key PUB [--allow-unsigned REF…]: the cosign check bound to the key (a bad key file: exit 2, before reading).
export async function imageKeyOf(
  ctx: CommandContext,
  o: { imageKey?: string; allowUnsigned?: string[] },
): Promise<{ imageKey?: ImageKeyOptions }> {
  if (o.imageKey === undefined) {
    if (o.allowUnsigned !== undefined)
      throw new KkoError('INVALID_INPUT', '--allow-unsigned: only with --image-key', {
        hint: 'add --image-key cosign.pub',
      });
    return {};
  }
  const key = await loadPublicKey(absPath(ctx, o.imageKey));
  const name = o.imageKey;
  return {
    imageKey: {
      check: (m, payload, digest) => verifyCosignSignature(m, payload, digest, key, name),
      ...(o.allowUnsigned ? { allowUnsigned: o.allowUnsigned } : {}),
    },
  };
}

async function catalogOf(ctx: CommandContext, o: { catalog?: Catalog }): Promise<Catalog> {
  return o.catalog ?? catalogFor(ctx, undefined);
}

// `kko artifact verify`: re-hash every file while streaming; exit 0 clean, 1 missing/extra/corrupt, 2 unreadable.
export async function runVerify(o: VerifyOptions, ctx: CommandContext): Promise<void> {
  await refusingHostile(ctx, async () => {
    const report = await verifyArtifact(absPath(ctx, o.artifact), {
      catalog: await catalogOf(ctx, o),
      ...(await keyVerifier(ctx, o.key)),
      ...(await imageKeyOf(ctx, o)),
    });
    if (o.json) printJson(ctx, report);
    else ctx.io.stdout(`${renderVerify(report)}\n`);
    if (!report.ok)
      throw new KkoError('ARTIFACT_CORRUPT', `verifying ${report.artifact}: ${summarizeProblems(report.problems)}`);
  });
}

// `kko artifact import`: unpack into kk's work dir (default ./kubekey), verified before anything is moved into place.
export async function runImport(o: ImportOptions, ctx: CommandContext): Promise<void> {
  await refusingHostile(ctx, async () => {
    try {
      if (o.requireSignature && o.key === undefined)
        throw new KkoError(
          'INVALID_INPUT',
          '--require-signature: needs --key PUB, the public key the artifact must be signed with',
        );
      const catalog = await catalogOf(ctx, o);
      const signed = await keyVerifier(ctx, o.key);
      const signal = ctx.io.interrupts?.();
      const report = await importArtifact({
        artifact: absPath(ctx, o.artifact),
        dir: absPath(ctx, o.dir ?? 'kubekey'),
        catalog,
        ...(signal ? { signal } : {}),
        ...(o.base !== undefined ? { base: absPath(ctx, o.base) } : {}),
        ...signed,
      });
      if (o.json) printJson(ctx, report);
      else {
        ctx.io.stdout(
          `imported ${report.files} files (${formatBytes(report.bytes)}) into ${report.dir}; artifact.md5 ${report.md5}\n`,
        );
        const d = report.delta;
        if (d)
          ctx.io.stdout(
            `a delta of ${safeText(d.base.artifact ?? d.base.inventorySha256)}: ${d.fromDir} left-out entries were already in ${report.dir}${d.fromBase > 0 ? `, ${d.fromBase} taken from --base` : ''}\n`,
          );
      }
    } catch (err) {
      printMissing(ctx, err);
      throw err;
    }
  });
}

// Every problem of a refused artifact, every missing entry of a delta's base: one line each on stderr.
export function printMissing(ctx: CommandContext, err: unknown): void {
  if (err instanceof ArtifactProblemsError)
    for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
  if (err instanceof BaseMissingError) for (const m of err.missing) ctx.io.stderr(`missing: ${safeText(m)}\n`);
}

const INSPECT_HELP = `
Examples:
  $ kko artifact inspect kubekey-artifact.tar.gz
  $ kko artifact inspect kubekey-artifact.tar.gz --json | jq '.images[].refName'

Works on artifacts made by kk too (images are then listed from images/index.json with class "unknown").
Exit codes: 0 ok, 2 unreadable or unsafe archive.
`;

const VERIFY_HELP = `
Examples:
  $ kko artifact verify kubekey-artifact.tar.gz
  $ kko artifact verify kubekey-artifact.tar.gz --json > verify.json
  $ kko artifact verify kubekey-artifact.tar.gz --key release.pub
  $ kko artifact verify kubekey-artifact.tar.gz --image-key cosign.pub --allow-unsigned docker.io/library/busybox:1.36

With --image-key PUB every image must carry its cosign signature (export --verify-images), verified offline with
that key for the digest the image was exported at, and that digest must be the artifact's content of the image
(the signed index lists each arch's manifest, whose config and layers are the layout's). A problem names the image.

With --key PUB the artifact must carry kko/inventory.json.sig, signed with that key (kko, cosign sign-blob or
openssl), and the signed inventory becomes the anchor: every file must be accounted for by it (binaries, ISOs and
documents by sha256 and size, blobs reached from images/index.json or named by it); anything else is extra.

Checks, in one streaming pass, against the strongest anchor first: kk binaries against the kko catalog's sha256,
ISOs against iso.checksum in kko/manifest.json, then kko/inventory.json and kko/SHA256SUMS (both travel with the
artifact); every images/blobs/sha256/<hex> against its name; the OCI layout is complete (no foreign layers left
to fetch); every inventory image is in images/index.json. A kk artifact (no kko/) gets blob, layout and catalog checks.
Prints one line per problem: "missing: PATH", "extra: PATH", "corrupt: PATH (sha256 want X got Y (ANCHOR))".
Exit codes: 0 intact, 1 something missing, extra or corrupt, 2 unreadable, unsafe or not an artifact.
`;

const IMPORT_HELP = `
Examples:
  $ kko artifact import kubekey-artifact.tar.gz                 # into ./kubekey, as kk artifact import does
  $ kko artifact import kubekey-artifact.tar.gz --dir /data/kubekey
  $ kko artifact import kubekey-artifact.tar.gz --require-signature --key release.pub
  $ kk create cluster -f config.yaml -a kubekey-artifact.tar.gz # kk then skips its own untar (artifact.md5 matches)

Files are unpacked into DIR/.kko-import-<pid>-*/ and hashed on the way; an entry the lists do not name (or with
another size) is refused from its header. Only when everything verifies are files moved into place and
DIR/artifact.md5 written. On any failure, SIGINT or SIGTERM DIR is left as it was; staging dirs of killed
imports are removed by the next import. With --require-signature --key PUB an artifact that is unsigned or signed
by another key is refused before any content is staged (the signature comes first, beside the inventory).
A delta (export --base / --have) is imported only where its base is: DIR must already hold every blob and file it
leaves out (each is hashed), or --base OLD_ART gives them (OLD_ART is verified, must be the delta's base, and what
the delta leaves out is taken from it). Otherwise nothing is written and each missing entry is listed.
  $ kko artifact import kubekey-artifact-delta.tar.gz --dir /data/kubekey   # /data/kubekey holds the base
  $ kko artifact import kubekey-artifact-delta.tar.gz --base kubekey-artifact-v1.28.8.tar.gz
Exit codes: 0 imported, 1 artifact incomplete or corrupt, or a delta's base absent (nothing imported), 2 unreadable
or unsafe archive, or --base not the delta's base.
`;

// Registers inspect, verify and import under `kko artifact`.
export function registerArtifactReadCommands(
  artifact: Command,
  ctx: CommandContext,
  deps: ArtifactReadDeps = {},
): void {
  const withCatalog = async <T extends object>(o: T): Promise<T & { catalog?: Catalog }> =>
    deps.catalog ? { ...o, catalog: await deps.catalog() } : o;
  artifact
    .command('inspect')
    .description('list what an artifact holds, by class and component, with sizes (reads it once, unpacks nothing)')
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', INSPECT_HELP)
    .action(async (artifactPath: string, o: { json?: boolean }) => runInspect({ artifact: artifactPath, ...o }, ctx));
  artifact
    .command('verify')
    .description(
      're-hash every file of an artifact and check it is complete: report missing, extra and corrupt entries',
    )
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--key <pub>',
      'require kko/inventory.json.sig signed with this public key (PEM); the signed inventory must account for every file',
    )
    .option(
      '--image-key <pub>',
      "re-verify each image's cosign signature carried in the artifact (export --verify-images) with this public key",
    )
    .option(
      '--allow-unsigned <ref>',
      'with --image-key: accept this image without a signature (repeatable)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .addHelpText('after', VERIFY_HELP)
    .action(
      async (artifactPath: string, o: { json?: boolean; key?: string; imageKey?: string; allowUnsigned?: string[] }) =>
        runVerify(await withCatalog({ artifact: artifactPath, ...o }), ctx),
    );
  artifact
    .command('import')
    .description("unpack an artifact into kk's work dir, verifying everything before anything is moved into place")
    .argument(
      '<artifact>',
      "artifact file (.tar.gz, .tar.zst or .tar), or a split one: its first part ART.part-000, the name ART, or 'ART.part-*' (quoted)",
    )
    .option('--dir <dir>', "kk's work dir", 'kubekey')
    .option('--json', 'print the result as JSON')
    .option('--require-signature', 'refuse an artifact that is not signed with --key')
    .option('--key <pub>', 'the public key (PEM) the artifact must be signed with (implies --require-signature)')
    .option('--base <old-artifact>', 'for a delta: take what it leaves out from this artifact (its base)')
    .addHelpText('after', IMPORT_HELP)
    .action(
      async (
        artifactPath: string,
        o: { dir?: string; json?: boolean; key?: string; requireSignature?: boolean; base?: string },
      ) => runImport(await withCatalog({ artifact: artifactPath, ...o }), ctx),
    );
  registerArtifactSign(artifact, ctx, withCatalog);
}
