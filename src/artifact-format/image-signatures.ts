import { imageSignatureRowSchema, parseInventoryRows, type Inventory } from './inventory.js';

// #12 item 2: the inventory's one optional field for image signatures, `imageSignatures` (its zod shape is
// inventorySchema's): per image (one row per ref) the digest that is signed (what its tag resolved to), the cosign signature tag, and the signature manifest carried
// beside the layout with its config and layers (blobs no images/index.json entry reaches). A row without `manifest`
// is an image let through unsigned (--allow-unsigned). Rows with `arch` follow their image's row: the signatures of the
// index's per-arch children (sha256-<child hex>.sig) that were there and verified. Written by src/export/verify-images.ts.
export const IMAGE_SIGNATURES_FIELD = 'imageSignatures';

export type ImageSignatureRow = {
  ref: string;
  arch?: string; // a per-arch child's signature (cosign sign --recursive); `digest` is then that child's
  digest: string;
  tag: string;
  manifest?: { mediaType: string; digest: string; size: number };
  blobs?: Array<{ digest: string; size: number }>;
};

// The rows of an inventory ([] when it has none: an export without --verify-images), through the inventory schema's
// row shape; a bad row names its field ("kko/inventory.json: imageSignatures[0].digest: …").
export function parseImageSignatures(inventory: Buffer): ImageSignatureRow[] {
  return parseInventoryRows(inventory, IMAGE_SIGNATURES_FIELD, imageSignatureRowSchema).map(signatureRow);
}

// The rows of an inventory already parsed (parseInventory checked them).
export function imageSignaturesOf(inventory: Inventory): ImageSignatureRow[] {
  return (inventory.imageSignatures ?? []).map(signatureRow);
}

function signatureRow(row: NonNullable<Inventory['imageSignatures']>[number]): ImageSignatureRow {
  return {
    ref: row.ref,
    ...(row.arch !== undefined ? { arch: row.arch } : {}),
    digest: row.digest,
    tag: row.tag,
    ...(row.manifest
      ? {
          manifest: { mediaType: row.manifest.mediaType, digest: row.manifest.digest, size: row.manifest.size },
          blobs: (row.blobs ?? []).map((x) => ({ digest: x.digest, size: x.size })),
        }
      : {}),
  };
}

// Every blob digest the rows carry (signature manifests, their configs and layers).
export function imageSignatureDigests(rows: readonly ImageSignatureRow[]): string[] {
  return rows.flatMap((r) => (r.manifest ? [r.manifest.digest, ...(r.blobs ?? []).map((b) => b.digest)] : []));
}
