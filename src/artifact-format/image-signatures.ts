import { KkoError } from '../errors.js';
import { INVENTORY_NAME } from './paths.js';

// #12 item 2: the inventory's one optional field for image signatures (read here; not yet part of inventorySchema's zod shape), `imageSignatures`: per image (one row per ref)
// the digest that is signed (what its tag resolved to), the cosign signature tag, and the signature manifest carried
// beside the layout with its config and layers (blobs no images/index.json entry reaches). A row without `manifest`
// is an image let through unsigned (--allow-unsigned). Written by src/export/verify-images.ts.
export const IMAGE_SIGNATURES_FIELD = 'imageSignatures';

export type ImageSignatureRow = {
  ref: string;
  digest: string;
  tag: string;
  manifest?: { mediaType: string; digest: string; size: number };
  blobs?: Array<{ digest: string; size: number }>;
};

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isBlob = (v: unknown): v is { digest: string; size: number } =>
  isRecord(v) &&
  typeof v.digest === 'string' &&
  DIGEST.test(v.digest) &&
  typeof v.size === 'number' &&
  Number.isSafeInteger(v.size) &&
  v.size >= 0;

function row(r: unknown, i: number): ImageSignatureRow {
  const where = `${INVENTORY_NAME}: ${IMAGE_SIGNATURES_FIELD}[${i}]`;
  if (
    !isRecord(r) ||
    typeof r.ref !== 'string' ||
    typeof r.digest !== 'string' ||
    !DIGEST.test(r.digest) ||
    typeof r.tag !== 'string'
  )
    throw new KkoError('INVALID_INPUT', `${where} needs a string ref, tag and a sha256 digest`);
  const out: ImageSignatureRow = { ref: r.ref, digest: r.digest, tag: r.tag };
  if (r.manifest === undefined) return out;
  const m = r.manifest as { mediaType?: unknown };
  if (!isBlob(m) || typeof m.mediaType !== 'string')
    throw new KkoError('INVALID_INPUT', `${where}: manifest needs mediaType, a sha256 digest and a size`);
  if (!Array.isArray(r.blobs) || !r.blobs.every(isBlob))
    throw new KkoError('INVALID_INPUT', `${where}: blobs must list {digest, size}`);
  return {
    ...out,
    manifest: { mediaType: m.mediaType, digest: m.digest, size: m.size },
    blobs: r.blobs.map((b) => ({ digest: b.digest, size: b.size })),
  };
}

// The rows of an inventory ([] when it has none: an export without --verify-images).
export function parseImageSignatures(inventory: Buffer): ImageSignatureRow[] {
  let doc: unknown;
  try {
    doc = JSON.parse(inventory.toString('utf8'));
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const rows = isRecord(doc) ? doc[IMAGE_SIGNATURES_FIELD] : undefined;
  if (rows === undefined) return [];
  if (!Array.isArray(rows))
    throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: "${IMAGE_SIGNATURES_FIELD}" is not a list`);
  return rows.map(row);
}

// Every blob digest the rows carry (signature manifests, their configs and layers).
export function imageSignatureDigests(rows: readonly ImageSignatureRow[]): string[] {
  return rows.flatMap((r) => (r.manifest ? [r.manifest.digest, ...(r.blobs ?? []).map((b) => b.digest)] : []));
}
