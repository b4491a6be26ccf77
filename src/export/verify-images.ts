import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isKkoError, KkoError } from '../errors.js';
import type { ImageSource } from '../mirror/index.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import { formatReference, parseReference } from '../reference/index.js';
import { MAX_PAYLOAD_BYTES, signatureTag, verifyCosignSignature } from '../signing/index.js';
import { byteOrder } from '../util/byte-order.js';
import { mapLimit } from '../util/concurrency.js';
import { IMAGE_SIGNATURES_FIELD, type ImageSignatureRow } from '../artifact-format/index.js';
import { carryBlobs, carryManifest, fetchTagged } from './carry.js';
import { resolveImage } from './fetch-image.js';
import type { PlannedImage } from './plan.js';
import type { PreflightContext, PreflightResult, PreflightStep } from './preflight.js';

// #12 item 2: `artifact export --verify-images --key cosign.pub`. Before any layer is fetched, each image's cosign
// signature (tag sha256-<hex>.sig of the digest its tag resolves to, in the same repository; see src/signing/cosign.ts)
// is fetched and verified against the key; an unsigned image is refused unless --allow-unsigned names it, a bad
// signature always is. The signature manifests, their configs and payloads go into the artifact as blobs beside the
// layout, listed in the inventory's one field `imageSignatures`, so `artifact verify --image-key` re-checks them offline.

export type VerifyImagesOptions = {
  readonly key: KeyObject;
  readonly keyName: string;
  readonly allowUnsigned?: readonly string[];
};

export { IMAGE_SIGNATURES_FIELD, type ImageSignatureRow };

type Outcome = { row: ImageSignatureRow; unsigned?: string; problem?: string };

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

// One image: resolve its tag (as the export will), fetch and verify the signature of the digest it resolves to.
async function checkImage(p: PlannedImage, ctx: PreflightContext, opts: VerifyImagesOptions): Promise<Outcome> {
  const r = await resolveImage(p, ctx.deps);
  const digest = (r.index ?? r.image).digest;
  const tag = signatureTag(digest);
  const row: ImageSignatureRow = { ref: p.ref, digest, tag };
  const found = await fetchTagged(p, r.source, tag, 'image signature', ctx);
  if (!found)
    return {
      row,
      unsigned: `${p.ref} (${digest}): no signature (tag ${tag} not found at ${p.sources.map((s) => `${s.registry}/${s.ref.repository}`).join(', ')})`,
    };
  try {
    const sig = found.manifest;
    const parsed = parseManifestJson(sig.bytes, sig.mediaType);
    if (parsed.kind !== 'image')
      throw new KkoError('SIGNATURE_INVALID', `${tag} is an index, not a cosign signature manifest`);
    const m = parsed.manifest;
    const bytes = await fetchSignatureBlobs(found.source, [m.config, ...m.layers], ctx);
    verifyCosignSignature(m, (d) => bytes.get(d.digest), digest, opts.key, opts.keyName);
    await carryManifest(sig, ctx);
    row.manifest = { mediaType: sig.mediaType, digest: sig.digest, size: sig.bytes.length };
    row.blobs = [m.config, ...m.layers].map((d) => ({ digest: d.digest, size: d.size }));
    return { row };
  } catch (err) {
    if (!isKkoError(err) || (err.code !== 'SIGNATURE_INVALID' && err.code !== 'INVALID_IMAGE_MANIFEST')) throw err;
    return { row, problem: `${p.ref} (${digest}): signature ${tag}: ${err.message}` };
  }
}

// The export step: every image checked (one per ref, not per arch), then one refusal naming every image that failed.
export function verifyImagesStep(opts: VerifyImagesOptions): PreflightStep {
  return async (ctx: PreflightContext): Promise<PreflightResult> => {
    const firsts = ctx.plan.images.filter((p, i, all) => all.findIndex((q) => q.ref === p.ref) === i);
    const settled = await mapLimit(firsts, ctx.concurrency, (p) => checkImage(p, ctx, opts), { signal: ctx.signal });
    const failed = settled.find((s): s is PromiseRejectedResult => s?.status === 'rejected');
    if (failed) throw failed.reason;
    const outcomes = settled.map((s) => (s as PromiseFulfilledResult<Outcome>).value);
    const refused = outcomes.flatMap((o) =>
      o.problem ? [o.problem] : o.unsigned && !allowed(o.row.ref, opts.allowUnsigned) ? [o.unsigned] : [],
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
    const rows = outcomes.map((o) => o.row).sort((a, b) => byteOrder(a.ref, b.ref));
    const blobs = rows.flatMap((r) =>
      r.manifest ? [{ digest: r.manifest.digest, size: r.manifest.size }, ...(r.blobs ?? [])] : [],
    );
    return { blobs, inventory: { [IMAGE_SIGNATURES_FIELD]: rows } };
  };
}
