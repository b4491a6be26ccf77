import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isKkoError, KkoError } from '../errors.js';
import type { ImageSource } from '../mirror/index.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import { formatReference, parseReference } from '../reference/index.js';
import { MAX_PAYLOAD_BYTES, signatureTag, verifyCosignSignature } from '../signing/index.js';
import { byteOrder } from '../util/byte-order.js';
import { IMAGE_SIGNATURES_FIELD, type ImageSignatureRow } from '../artifact-format/index.js';
import { carryBlobs, carryManifest, fetchTagged, perImageRef, resolveArches } from './carry.js';
import type { ResolvedImage } from './fetch-image.js';
import type { PlannedImage } from './plan.js';
import type { PreflightContext, PreflightResult, PreflightStep } from './preflight.js';

// #12 item 2: `artifact export --verify-images --key cosign.pub`. Before any layer is fetched, each image's cosign
// signature (tag sha256-<hex>.sig of the digest its tag resolves to, in the same repository; see src/signing/cosign.ts)
// is fetched and verified against the key; an unsigned image is refused unless --allow-unsigned names it, a bad
// signature always is. For an index, the signatures of the per-arch children the export carries (cosign sign
// --recursive) are checked too: one that is there must verify (else refused, even with --allow-unsigned), one that
// is absent is no problem (they are never required; --allow-unsigned is about the image's own signature). The
// signature manifests, their configs and payloads go into the artifact as blobs beside the layout, listed in the
// inventory's one field `imageSignatures`, so `artifact verify --image-key` re-checks them offline.

export type VerifyImagesOptions = {
  readonly key: KeyObject;
  readonly keyName: string;
  readonly allowUnsigned?: readonly string[];
};

export { IMAGE_SIGNATURES_FIELD, type ImageSignatureRow };

type Checked = { rows: ImageSignatureRow[]; unsigned?: string; problem?: string };
type Outcome = Checked & { ref: string };

function allowed(ref: string, allow: readonly string[] | undefined): boolean {
  const norm = (r: string): string => {
    try {
      return formatReference(parseReference(r));
    } catch {
      return r;
    }
  };
  return (allow ?? []).some((a) => a === ref || norm(a) === norm(ref));
}

// Fetch the signature's config and layers (small, capped) into the cache; returns the layers' bytes by digest.
async function fetchSignatureBlobs(
  source: ImageSource,
  blobs: readonly Descriptor[],
  ctx: PreflightContext,
): Promise<Map<string, Buffer>> {
  for (const d of blobs)
    if (d.size > MAX_PAYLOAD_BYTES)
      throw new KkoError(
        'SIGNATURE_INVALID',
        `blob ${d.digest} of the signature is ${d.size} bytes (a cosign payload is at most ${MAX_PAYLOAD_BYTES})`,
      );
  const paths = await carryBlobs(source, blobs, ctx);
  const out = new Map<string, Buffer>();
  for (const [digest, path] of paths) out.set(digest, await readFile(path));
  return out;
}

// The signature at `tag` of `digest` (fetched first from `source`), verified and carried: the row, or undefined when
// every source answers "not found". A signature that is there but does not verify throws SIGNATURE_INVALID.
async function signatureOf(
  p: PlannedImage,
  source: ImageSource,
  digest: string,
  ctx: PreflightContext,
  opts: VerifyImagesOptions,
): Promise<Pick<ImageSignatureRow, 'manifest' | 'blobs'> | undefined> {
  const tag = signatureTag(digest);
  const found = await fetchTagged(p, source, tag, 'image signature', ctx);
  if (!found) return undefined;
  const sig = found.manifest;
  const parsed = parseManifestJson(sig.bytes, sig.mediaType);
  if (parsed.kind !== 'image')
    throw new KkoError('SIGNATURE_INVALID', `${tag} is an index, not a cosign signature manifest`);
  const m = parsed.manifest;
  const bytes = await fetchSignatureBlobs(found.source, [m.config, ...m.layers], ctx);
  verifyCosignSignature(m, (d) => bytes.get(d.digest), digest, opts.key, opts.keyName);
  await carryManifest(sig, ctx);
  return {
    manifest: { mediaType: sig.mediaType, digest: sig.digest, size: sig.bytes.length },
    blobs: [m.config, ...m.layers].map((d) => ({ digest: d.digest, size: d.size })),
  };
}

// A refusal of the signature a check found (bad signature, not a manifest) as a problem line; anything else throws.
async function checked(what: string, tag: string, f: () => Promise<Checked>): Promise<Checked> {
  try {
    return await f();
  } catch (err) {
    if (!isKkoError(err) || (err.code !== 'SIGNATURE_INVALID' && err.code !== 'INVALID_IMAGE_MANIFEST')) throw err;
    return { rows: [], problem: `${what}: signature ${tag}: ${err.message}` };
  }
}

// One image ref (every arch the plan exports): resolve each arch as the export will, verify the signature of the
// digest the tag resolves to (required: unsigned is refused unless allowed), then, for an index, the signature of each
// exported arch's child (cosign sign --recursive): carried when there and valid, refused when there and invalid,
// nothing when absent (the top signature vouches for the index, which names the children by digest).
async function checkImage(
  arches: readonly PlannedImage[],
  ctx: PreflightContext,
  opts: VerifyImagesOptions,
): Promise<Outcome> {
  // an arch that does not resolve is left to the export to report (as --with-referrers does); none resolving throws
  const resolved = await resolveArches(arches, ctx);
  const first = resolved[0] as ResolvedImage;
  const p = first.planned;
  const digest = (first.index ?? first.image).digest;
  const tag = signatureTag(digest);
  const top = await checked(`${p.ref} (${digest})`, tag, async () => {
    const sig = await signatureOf(p, first.source, digest, ctx, opts);
    const row: ImageSignatureRow = { ref: p.ref, digest, tag, ...sig };
    if (sig) return { rows: [row] };
    const where = p.sources.map((s) => `${s.registry}/${s.ref.repository}`).join(', ');
    return { rows: [row], unsigned: `${p.ref} (${digest}): no signature (tag ${tag} not found at ${where})` };
  });
  if (top.problem) return { ref: p.ref, ...top };
  const children = resolved
    .filter((r) => r.index && r.index.digest === digest)
    .sort((a, b) => byteOrder(a.planned.arch, b.planned.arch));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of children) {
    const child = r.image.digest;
    if (seen.has(child)) continue;
    seen.add(child);
    const childTag = signatureTag(child);
    const o = await checked(`${p.ref} ${r.planned.arch} (${child})`, childTag, async () => {
      const sig = await signatureOf(r.planned, r.source, child, ctx, opts);
      return { rows: sig ? [{ ref: p.ref, arch: r.planned.arch, digest: child, tag: childTag, ...sig }] : [] };
    });
    if (o.problem) problems.push(o.problem);
    top.rows.push(...o.rows);
  }
  return problems.length > 0 ? { ref: p.ref, rows: top.rows, problem: problems.join('; ') } : { ref: p.ref, ...top };
}

// The export step: every image checked (one per ref, not per arch), then one refusal naming every image that failed.
export function verifyImagesStep(opts: VerifyImagesOptions): PreflightStep {
  return async (ctx: PreflightContext): Promise<PreflightResult> => {
    const outcomes = await perImageRef(ctx, (g) => checkImage(g, ctx, opts));
    const refused = outcomes.flatMap((o) =>
      o.problem ? [o.problem] : o.unsigned && !allowed(o.ref, opts.allowUnsigned) ? [o.unsigned] : [],
    );
    if (refused.length > 0) {
      throw new KkoError(
        'SIGNATURE_INVALID',
        `verifying image signatures with ${opts.keyName}: ${refused.length} image(s) refused: ${refused.join('; ')}`,
        {
          hint: 'nothing was downloaded; sign the images with this key (cosign sign --key), or let a known-unsigned image through with --allow-unsigned REF',
        },
      );
    }
    for (const o of outcomes)
      if (o.unsigned) ctx.emit({ type: 'warning', message: `image ${o.unsigned}; allowed by --allow-unsigned` });
    // by ref; an image's own row first, then its per-arch rows in arch order (as checkImage made them)
    const rows = outcomes.sort((a, b) => byteOrder(a.ref, b.ref)).flatMap((o) => o.rows);
    const blobs = rows.flatMap((r) =>
      r.manifest ? [{ digest: r.manifest.digest, size: r.manifest.size }, ...(r.blobs ?? [])] : [],
    );
    return { blobs, inventory: { [IMAGE_SIGNATURES_FIELD]: rows } };
  };
}
