import { isKkoError } from '../errors.js';
import type { ImageSource } from '../mirror/index.js';
import { parseManifestJson, type Descriptor, type ImageManifest } from '../oci/index.js';
import { parseDigest, type Digest } from '../reference/index.js';
import type { ManifestResponse } from '../registry/index.js';
import { byteOrder } from '../util/byte-order.js';
import { mapLimit } from '../util/concurrency.js';
import { REFERRERS_FIELD, type ReferrerRow } from '../artifact-format/index.js';
import { carryBlobs, carryManifest, fetchTagged } from './carry.js';
import { resolveImage } from './fetch-image.js';
import type { PlannedImage } from './plan.js';
import type { PreflightContext, PreflightResult, PreflightStep } from './preflight.js';

// #12 item 2: `artifact export --with-referrers` carries every referrer of each image (signatures, attestations,
// SBOMs) beside the layout. The subject is the digest the image's tag resolves to (index, else manifest; as
// --verify-images). Found through the OCI referrers API (GET /v2/<repo>/referrers/<digest>, distribution 1.1); when the
// registry has none (404), through the referrers tag schema (an index at tag sha256-<hex>); and always through cosign's
// tags sha256-<hex>.sig / .att / .sbom (cosign ≤ v2 pushes no subject). Each referrer manifest and its blobs go into
// the cache (carry.ts: the path --verify-images uses) and are listed in the inventory's `referrers` rows.

export const COSIGN_SUFFIXES = ['.sig', '.att', '.sbom'] as const;

type Found = {
  manifest: ManifestResponse;
  source: ImageSource;
  found: ReferrerRow['found'];
  tag?: string;
  desc?: Descriptor;
};

// The referrers tag schema's tag for a digest (distribution-spec "Referrers Tag Schema": <alg>-<encoded>).
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

// The index the API (or, without one, the tag schema) lists for `subject`, or undefined when neither has one.
async function listed(
  p: PlannedImage,
  source: ImageSource,
  subject: Digest,
  ctx: PreflightContext,
): Promise<{ index: ManifestResponse; source: ImageSource; found: 'api' | 'tag-schema' } | undefined> {
  const api = await ctx.deps.pool.clientFor(source).getReferrers(source.ref.repository, subject, ctx.signal);
  if (api) return { index: api, source, found: 'api' };
  const t = await fetchTagged(p, source, referrersTag(subject), 'referrers index', ctx);
  return t ? { index: t.manifest, source: t.source, found: 'tag-schema' } : undefined;
}

// Every referrer manifest of one image: those the index lists (read by digest, checked), then cosign's tags.
async function findAll(p: PlannedImage, source: ImageSource, subject: Digest, ctx: PreflightContext): Promise<Found[]> {
  const out: Found[] = [];
  const l = await listed(p, source, subject, ctx);
  if (l) {
    const parsed = parseManifestJson(l.index.bytes, l.index.mediaType);
    const entries = parsed.kind === 'index' ? parsed.manifest.manifests : [];
    const client = ctx.deps.pool.clientFor(l.source);
    for (const desc of entries) {
      const manifest = await client.getManifest(l.source.ref.repository, parseDigest(desc.digest), ctx.signal);
      out.push({ manifest, source: l.source, found: l.found, desc });
    }
  }
  for (const suffix of COSIGN_SUFFIXES) {
    const tag = `${referrersTag(subject)}${suffix}`;
    const t = await fetchTagged(p, source, tag, 'cosign tag', ctx);
    if (t) out.push({ manifest: t.manifest, source: t.source, found: 'tag', tag });
  }
  return out;
}

// One referrer: must be an image manifest, and one the index listed must name this subject; its blobs are carried.
async function carry(
  p: PlannedImage,
  subject: Digest,
  f: Found,
  ctx: PreflightContext,
): Promise<ReferrerRow | undefined> {
  const what = `referrer ${f.manifest.digest} of ${p.ref} (${f.tag ?? f.found})`;
  let m: ImageManifest;
  try {
    const parsed = parseManifestJson(f.manifest.bytes, f.manifest.mediaType);
    if (parsed.kind !== 'image') {
      ctx.emit({ type: 'warning', message: `${what}: an index, not carried (only image manifests are)` });
      return undefined;
    }
    m = parsed.manifest;
  } catch (err) {
    if (!isKkoError(err)) throw err;
    ctx.emit({ type: 'warning', message: `${what}: not carried: ${err.message}` });
    return undefined;
  }
  if (f.found !== 'tag' && m.subject?.digest !== subject) {
    ctx.emit({ type: 'warning', message: `${what}: its subject is ${m.subject?.digest ?? 'missing'}, not carried` });
    return undefined;
  }
  await carryBlobs(f.source, [m.config, ...m.layers], ctx);
  await carryManifest(f.manifest, ctx);
  const artifactType = f.desc?.artifactType ?? m.artifactType ?? (f.found === 'tag' ? undefined : m.config.mediaType);
  const annotations = f.desc?.annotations ?? m.annotations;
  return {
    ref: p.ref,
    subject,
    digest: f.manifest.digest,
    mediaType: f.manifest.mediaType,
    size: f.manifest.bytes.length,
    ...(artifactType ? { artifactType } : {}),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
    found: f.found,
    ...(f.tag ? { tag: f.tag } : {}),
    blobs: [m.config, ...m.layers].map((d) => ({ digest: d.digest, size: d.size })),
  };
}

// One image: resolve (as the export will), find and carry its referrers; one row per referrer manifest.
async function referrersOf(p: PlannedImage, ctx: PreflightContext): Promise<ReferrerRow[]> {
  const r = await resolveImage(p, ctx.deps);
  const subject = (r.index ?? r.image).digest;
  const rows: ReferrerRow[] = [];
  for (const f of await findAll(p, r.source, subject, ctx)) {
    if (rows.some((x) => x.digest === f.manifest.digest)) continue; // listed and tagged: carried once
    const row = await carry(p, subject, f, ctx);
    if (row) rows.push(row);
  }
  return rows;
}

// The export step: each image ref once (not per arch); rows sorted by ref, then digest (deterministic).
export function referrersStep(): PreflightStep {
  return async (ctx: PreflightContext): Promise<PreflightResult> => {
    const firsts = ctx.plan.images.filter((p, i, all) => all.findIndex((q) => q.ref === p.ref) === i);
    const settled = await mapLimit(firsts, ctx.concurrency, (p) => referrersOf(p, ctx), { signal: ctx.signal });
    const failed = settled.find((s): s is PromiseRejectedResult => s?.status === 'rejected');
    if (failed) throw failed.reason;
    const rows = settled
      .flatMap((s) => (s as PromiseFulfilledResult<ReferrerRow[]>).value)
      .sort((a, b) => byteOrder(a.ref, b.ref) || byteOrder(a.digest, b.digest));
    const blobs = rows.flatMap((r) => [{ digest: r.digest, size: r.size }, ...r.blobs]);
    return { blobs, inventory: { [REFERRERS_FIELD]: rows } };
  };
}
