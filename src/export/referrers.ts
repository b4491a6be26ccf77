import { METADATA_MAX_BYTES } from '../archive/reader.js';
import { isKkoError, KkoError } from '../errors.js';
import type { ImageSource } from '../mirror/index.js';
import { parseManifestJson, type Descriptor, type ImageManifest } from '../oci/index.js';
import { parseDigest, referrersTag, type Digest } from '../reference/index.js';
import type { ManifestResponse } from '../registry/index.js';
import { byteOrder } from '../util/byte-order.js';
import { quoteValue } from '../util/safe-text.js';
import { REFERRERS_FIELD, type ReferrerRow } from '../artifact-format/index.js';
import { carryBlobs, carryManifest, fetchTagged, perImageRef, resolveArches } from './carry.js';
import type { ResolvedImage } from './fetch-image.js';
import type { PlannedImage } from './plan.js';
import type { PreflightContext, PreflightResult, PreflightStep } from './preflight.js';

// #12 item 2: `artifact export --with-referrers` carries every referrer of each image (signatures, attestations,
// SBOMs) beside the layout. The subjects are the digest the image's tag resolves to (index, else manifest; as
// --verify-images) and, for an index, each per-arch manifest the export carries (cosign sign --recursive signs
// those too, and attestations are often attached to them). Found through the OCI referrers API (GET
// /v2/<repo>/referrers/<digest>, distribution 1.1); when the registry has none (404), through the referrers tag schema
// (an index at tag sha256-<hex>); and always through cosign's tags sha256-<hex>.sig / .att / .sbom (cosign ≤ v2 pushes
// no subject). Each referrer manifest and its blobs go into the cache (carry.ts: the path --verify-images uses) and
// are listed in the inventory's `referrers` rows.
//
// The listing (API answer or tag-schema index) is untrusted: no digest the user trusts covers it. So it only names
// digests to fetch: at most MAX_REFERRERS per subject (the first in digest order), each read by digest (the client
// checks the body hashes to it), one at a time, its bytes dropped once carried; the row's artifactType and
// annotations come from that manifest, never from the listing.

export const COSIGN_SUFFIXES = ['.sig', '.att', '.sbom'] as const;

// Listed referrers taken per subject; above it the first MAX_REFERRERS in digest order (a warning says so).
export const MAX_REFERRERS = 256;
// A referrer manifest with more blobs (config + layers) than this is not carried: its row would be unbounded.
export const MAX_REFERRER_BLOBS = 128;
// Annotations longer than this (keys and values, in characters) stay in the carried manifest but out of the inventory row.
export const MAX_ROW_ANNOTATIONS = 16 * 1024;
// What the rows may take of kko/inventory.json (bytes as written there), all images together: the reader takes
// metadata up to METADATA_MAX_BYTES, and the image and file rows need room too. Rows past it fail the export (in
// whatever order they come), rather than an artifact being written that kko itself refuses to read.
export const MAX_REFERRER_ROWS_BYTES = METADATA_MAX_BYTES / 2;

type RowBudget = { bytes: number };

function spend(budget: RowBudget, row: ReferrerRow): void {
  const text = JSON.stringify(row, null, 2);
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  budget.bytes += Buffer.byteLength(text) + 4 * lines + 2; // in the inventory each line is indented 4 more, and a comma
  if (budget.bytes > MAX_REFERRER_ROWS_BYTES)
    throw new KkoError(
      'SIZE_LIMIT_EXCEEDED',
      `--with-referrers: the referrers found come to more than ${MAX_REFERRER_ROWS_BYTES} bytes of kko/inventory.json rows (the inventory is read up to ${METADATA_MAX_BYTES} bytes)`,
      {
        hint: 'a registry lists more (or larger) referrers than one artifact can carry: export without --with-referrers, or the images with the most referrers on their own',
      },
    );
}

type Found = {
  manifest: ManifestResponse;
  source: ImageSource;
  found: ReferrerRow['found'];
  tag?: string;
  desc?: Descriptor;
};

type Listing = { source: ImageSource; found: 'api' | 'tag-schema'; entries: Descriptor[] };

const warn = (ctx: PreflightContext, message: string): void => ctx.emit({ type: 'warning', message });

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

// The entries the listing names, distinct by digest, in digest order, at most MAX_REFERRERS (the client bounds the
// listing's body like a manifest's). A listing that is not an index is skipped with a warning.
async function listing(
  p: PlannedImage,
  source: ImageSource,
  subject: Digest,
  ctx: PreflightContext,
): Promise<Listing | undefined> {
  const l = await listed(p, source, subject, ctx);
  if (!l) return undefined;
  const what = `the referrers listing of ${p.ref} (${l.found}) for ${subject}`;
  let entries: readonly Descriptor[];
  try {
    const parsed = parseManifestJson(l.index.bytes, l.index.mediaType);
    if (parsed.kind !== 'index') {
      warn(ctx, `${what} is not an index: none of it carried`);
      return undefined;
    }
    entries = parsed.manifest.manifests;
  } catch (err) {
    if (!isKkoError(err)) throw err;
    warn(ctx, `${what} is not read: ${err.message}`);
    return undefined;
  }
  const byDigest = new Map<string, Descriptor>();
  for (const d of entries) if (!byDigest.has(d.digest)) byDigest.set(d.digest, d);
  const sorted = [...byDigest.values()].sort((a, b) => byteOrder(a.digest, b.digest));
  if (sorted.length > MAX_REFERRERS)
    warn(
      ctx,
      `${what} lists ${sorted.length} referrers, more than ${MAX_REFERRERS}: only the first ${MAX_REFERRERS} in digest order are carried`,
    );
  return { source: l.source, found: l.found, entries: sorted.slice(0, MAX_REFERRERS) };
}

// A listed manifest read by digest (the client refuses a body that does not hash to it); one that is absent, too
// large or corrupt is not carried (a warning names it), any other failure is operational.
async function fetchListed(
  p: PlannedImage,
  l: Listing,
  subject: Digest,
  desc: Descriptor,
  ctx: PreflightContext,
): Promise<ManifestResponse | undefined> {
  try {
    const digest = parseDigest(desc.digest);
    return await ctx.deps.pool.clientFor(l.source).getManifest(l.source.ref.repository, digest, ctx.signal);
  } catch (err) {
    ctx.signal?.throwIfAborted();
    const skipped = ['DIGEST_MISMATCH', 'MANIFEST_UNKNOWN', 'SIZE_LIMIT_EXCEEDED', 'INVALID_DIGEST'];
    if (!isKkoError(err) || !skipped.includes(err.code)) throw err;
    warn(ctx, `referrer ${desc.digest} of ${p.ref} (${l.found}, for ${subject}): not carried: ${err.message}`);
    return undefined;
  }
}

// Where the listing's descriptor disagrees with the manifest it names (size, mediaType, artifactType): a warning
// each; the row takes the manifest's.
function checkListed(what: string, f: Found, m: ImageManifest, ctx: PreflightContext): void {
  const d = f.desc;
  if (!d) return;
  const have = {
    size: f.manifest.bytes.length,
    mediaType: f.manifest.mediaType,
    artifactType: m.artifactType ?? m.config.mediaType,
  };
  const lies = (['size', 'mediaType', 'artifactType'] as const).filter((k) => d[k] !== undefined && d[k] !== have[k]);
  for (const k of lies)
    warn(
      ctx,
      `${what}: the listing says ${k} ${quoteValue(d[k])}, the manifest has ${quoteValue(have[k])} (the manifest's is kept)`,
    );
}

// One referrer: must be an image manifest, and one the index listed must name this subject; its blobs are carried.
async function carry(
  p: PlannedImage,
  subject: Digest,
  f: Found,
  ctx: PreflightContext,
): Promise<ReferrerRow | undefined> {
  const what = `referrer ${f.manifest.digest} of ${p.ref} (${f.tag ?? f.found}, for ${subject})`;
  let m: ImageManifest;
  try {
    const parsed = parseManifestJson(f.manifest.bytes, f.manifest.mediaType);
    if (parsed.kind !== 'image') {
      warn(ctx, `${what}: an index, not carried (only image manifests are)`);
      return undefined;
    }
    m = parsed.manifest;
  } catch (err) {
    if (!isKkoError(err)) throw err;
    warn(ctx, `${what}: not carried: ${err.message}`);
    return undefined;
  }
  if (f.found !== 'tag' && m.subject?.digest !== subject) {
    warn(ctx, `${what}: its subject is ${quoteValue(m.subject?.digest)}, not carried`);
    return undefined;
  }
  const blobs = [m.config, ...m.layers];
  if (blobs.length > MAX_REFERRER_BLOBS) {
    warn(ctx, `${what}: ${blobs.length} blobs, more than ${MAX_REFERRER_BLOBS}: not carried`);
    return undefined;
  }
  checkListed(what, f, m, ctx);
  await carryBlobs(f.source, blobs, ctx);
  await carryManifest(f.manifest, ctx);
  const artifactType = m.artifactType ?? (f.found === 'tag' ? undefined : m.config.mediaType);
  let annotations = m.annotations && Object.keys(m.annotations).length > 0 ? m.annotations : undefined;
  if (
    annotations &&
    Object.entries(annotations).reduce((n, [k, v]) => n + k.length + v.length, 0) > MAX_ROW_ANNOTATIONS
  ) {
    warn(
      ctx,
      `${what}: annotations over ${MAX_ROW_ANNOTATIONS} characters, left out of the inventory row (the carried manifest keeps them)`,
    );
    annotations = undefined;
  }
  return {
    ref: p.ref,
    subject,
    digest: f.manifest.digest,
    mediaType: f.manifest.mediaType,
    size: f.manifest.bytes.length,
    ...(artifactType ? { artifactType } : {}),
    ...(annotations ? { annotations: { ...annotations } } : {}),
    found: f.found,
    ...(f.tag ? { tag: f.tag } : {}),
    blobs: blobs.map((d) => ({ digest: d.digest, size: d.size })),
  };
}

// Every referrer of one subject not carried yet (`seen`: digests of this ref's rows): those the listing names, one
// at a time, then cosign's tags. A manifest both listed and tagged is carried once, as listed.
async function referrersOfSubject(
  p: PlannedImage,
  source: ImageSource,
  subject: Digest,
  seen: Set<string>,
  ctx: PreflightContext,
  budget: RowBudget,
): Promise<ReferrerRow[]> {
  const rows: ReferrerRow[] = [];
  const take = async (f: Found): Promise<void> => {
    if (seen.has(f.manifest.digest)) return;
    const row = await carry(p, subject, f, ctx);
    if (!row) return;
    spend(budget, row);
    rows.push(row);
    seen.add(row.digest);
  };
  const l = await listing(p, source, subject, ctx);
  if (l)
    for (const desc of l.entries) {
      if (seen.has(desc.digest)) continue;
      const manifest = await fetchListed(p, l, subject, desc, ctx);
      if (manifest) await take({ manifest, source: l.source, found: l.found, desc });
    }
  for (const suffix of COSIGN_SUFFIXES) {
    const tag = `${referrersTag(subject)}${suffix}`;
    const t = await fetchTagged(p, source, tag, 'cosign tag', ctx);
    if (t) await take({ manifest: t.manifest, source: t.source, found: 'tag', tag });
  }
  return rows;
}

// The subjects of one image ref: the digest its tag resolves to, then (for an index) the per-arch manifests the
// export carries, distinct, in digest order. Each arch is resolved as the export will; one that does not resolve is
// left to the export to report (the first error is thrown only when none does).
async function subjectsOf(
  arches: readonly PlannedImage[],
  ctx: PreflightContext,
): Promise<Array<{ digest: Digest; r: ResolvedImage }>> {
  const resolved = await resolveArches(arches, ctx);
  const tops = new Map<string, ResolvedImage>();
  const children = new Map<string, ResolvedImage>();
  for (const r of resolved) {
    const top = (r.index ?? r.image).digest;
    if (!tops.has(top)) tops.set(top, r);
    if (r.index && !children.has(r.image.digest)) children.set(r.image.digest, r);
  }
  const inOrder = (m: Map<string, ResolvedImage>) =>
    [...m.entries()].sort(([a], [b]) => byteOrder(a, b)).map(([d, r]) => ({ digest: d as Digest, r }));
  return [...inOrder(tops), ...inOrder(children).filter((c) => !tops.has(c.digest))];
}

// One image ref (all its arches): find and carry the referrers of each subject; one row per referrer manifest.
async function referrersOf(
  arches: readonly PlannedImage[],
  ctx: PreflightContext,
  budget: RowBudget,
): Promise<ReferrerRow[]> {
  const seen = new Set<string>();
  const rows: ReferrerRow[] = [];
  for (const s of await subjectsOf(arches, ctx))
    rows.push(...(await referrersOfSubject(s.r.planned, s.r.source, s.digest, seen, ctx, budget)));
  return rows;
}

// The export step: each image ref once with the arches the plan exports; rows sorted by ref, then digest
// (deterministic).
export function referrersStep(): PreflightStep {
  return async (ctx: PreflightContext): Promise<PreflightResult> => {
    const budget: RowBudget = { bytes: 0 };
    const perRef = await perImageRef(ctx, (g) => referrersOf(g, ctx, budget));
    const rows = perRef.flat().sort((a, b) => byteOrder(a.ref, b.ref) || byteOrder(a.digest, b.digest));
    const blobs = rows.flatMap((r) => [{ digest: r.digest, size: r.size }, ...r.blobs]);
    return { blobs, inventory: { [REFERRERS_FIELD]: rows } };
  };
}
