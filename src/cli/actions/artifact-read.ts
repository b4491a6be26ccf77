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
import { printJson, type CommandContext } from '../context.js';
import { EXIT_INVALID } from '../io.js';
import { formatBytes } from '../progress.js';
import type { ImportOptions, InspectOptions, VerifyOptions } from '../commands/artifact-read.js';

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
