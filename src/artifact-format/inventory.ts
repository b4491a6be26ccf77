import { z } from 'zod';
import { KkoError } from '../errors.js';
import { safeText } from '../util/safe-text.js';
import { describeZodIssue, formatPath } from '../util/yaml-doc.js';
import { INVENTORY_NAME } from './paths.js';

// kko/inventory.json: the artifact's own account of itself, written by export and read by inspect / verify /
// import (and signed, #12). One schema for both sides: export builds an `Inventory` and writes it through
// inventoryBytes; readers parse through parseInventory. Fields a reader needs are required; the rest are
// optional so inventories of older kko versions (and hand-made test fixtures) still read. Unknown fields are
// kept (loose objects): a newer writer may add some, and a signature is over the bytes anyway.

export const INVENTORY_API_VERSION = 'kko.io/v1alpha1';
export const INVENTORY_KIND = 'ArtifactInventory';

const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'expected a sha256 of 64 hex');
const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>');
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const platformSchema = z.looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional() });

// One image × arch. `digest` is the manifest stored in images/ (converted to OCI when upstream served Docker v2s2);
// `upstream` keeps the digests upstream served (signatures and referrers are over those): together they are the
// upstream → converted digest map (upstreamDigestMap).
const imageRowSchema = z.looseObject({
  ref: z.string().optional(), // the manifest's ref (default: refName)
  arch: z.string().optional(),
  refName: z.string(),
  class: z.string().optional(),
  digest: z.string(),
  size: size.optional(),
  platform: platformSchema.optional(),
  source: z.looseObject({ ref: z.string(), via: z.string(), registry: z.string() }).optional(),
  upstream: z
    .looseObject({
      manifestDigest: z.string().optional(),
      mediaType: z.string().optional(),
      indexDigest: z.string().optional(),
      indexMediaType: z.string().optional(),
    })
    .optional(),
});

const fileRowFields = { path: z.string(), sha256: sha256Hex, size: size.optional() };
const binaryRowSchema = z.looseObject({
  id: z.string().optional(),
  component: z.string().optional(),
  version: z.string().optional(),
  arch: z.string().optional(),
  ...fileRowFields,
  url: z.string().optional(),
});
const isoRowSchema = z.looseObject({
  id: z.string().optional(),
  version: z.string().optional(),
  arch: z.string().optional(),
  ...fileRowFields,
  verified: z.boolean().optional(),
  url: z.string().optional(),
});
// kko/manifest.json, images/index.json, images/oci-layout (#12): so a signature over the inventory covers them.
const documentRowSchema = z.looseObject(fileRowFields);

// #12 item 3: a delta artifact names the base it was made against (the sha256 of the base's kko/inventory.json, and
// the base's file name for messages) and lists exactly what it leaves out because the base holds it: config and layer
// blobs (digest, size) and binary / ISO files (path, sha256, size). Every manifest and index is always in a delta, and
// its image, binary and ISO rows are complete (they describe the artifact the delta and its base make together).
const omittedBlobSchema = z.looseObject({ digest, size });
const omittedFileSchema = z.looseObject({ path: z.string(), sha256: sha256Hex, size });
export const deltaSchema = z.looseObject({
  base: z.looseObject({ inventorySha256: sha256Hex, artifact: z.string().optional() }),
  omitted: z.looseObject({ blobs: z.array(omittedBlobSchema), files: z.array(omittedFileSchema) }),
});
export type Delta = z.infer<typeof deltaSchema>;

// Room for what the supply-chain work adds; no writer fills these yet, readers ignore them until one does.
// Signatures beyond kko/inventory.json.sig (e.g. cosign signatures of images, kept as files of the artifact).
const signatureRowSchema = z.looseObject({ path: z.string(), format: z.string(), subject: z.string().optional() });
// #12 item 2 (--with-referrers): every referrer of an image (signatures, attestations, SBOMs) carried beside the
// layout: per image ref (sorted by ref, then digest) the upstream digest it refers to (`subject`: what the image's tag
// resolved to), the referrer manifest (digest, media type, size; artifactType and annotations as the referrers index
// describes it) and its config and layers (`blobs`). `found` says how it was found: the referrers API (`api`), the
// referrers tag schema index at tag sha256-<hex> (`tag-schema`), or a cosign tag (`tag`, then `tag` holds it:
// sha256-<hex>.sig / .att / .sbom). Written by src/export/referrers.ts, pushed by src/push/signatures.ts.
const referrerRowSchema = z.looseObject({
  ref: z.string(),
  subject: digest,
  digest,
  mediaType: z.string(),
  size,
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  found: z.enum(['api', 'tag-schema', 'tag']),
  tag: z.string().optional(),
  blobs: z.array(z.looseObject({ digest, size })),
});
export type ReferrerRow = z.infer<typeof referrerRowSchema>;
export { referrerRowSchema };

// #12 item 2: one row per image ref checked at export with --verify-images: the digest signed (what its tag resolved
// to), the cosign signature tag, and the signature manifest carried beside the layout with its config and layers
// (blobs no images/index.json entry reaches). A row without `manifest` is an image let through unsigned. A row with
// `arch` is the signature of that arch's child of the index (cosign sign --recursive): `digest` is the child's
// upstream digest (its subject); such a row is written only when that signature is there and verified.
const blobRefSchema = z.looseObject({ digest, size });
export const imageSignatureRowSchema = z
  .looseObject({
    ref: z.string(),
    arch: z.string().optional(),
    digest,
    tag: z.string(),
    manifest: z.looseObject({ mediaType: z.string(), digest, size }).optional(),
    blobs: z.array(blobRefSchema).optional(),
  })
  .refine((r) => r.manifest === undefined || r.blobs !== undefined, {
    message: 'a row with a signature manifest lists its blobs',
    path: ['blobs'],
  });

export const inventorySchema = z.looseObject({
  apiVersion: z.literal(INVENTORY_API_VERSION),
  kind: z.literal(INVENTORY_KIND),
  generator: z.string().optional(),
  // The kk release the artifact was made for: the component versions and image tags it installs.
  kk: z
    .looseObject({
      version: z.string(),
      defaults: z.record(z.string(), z.string()),
      imageTags: z.record(z.string(), z.string()),
    })
    .optional(),
  zone: z.string().optional(),
  arches: z.array(z.string()).optional(),
  images: z.array(imageRowSchema).optional(),
  binaries: z.array(binaryRowSchema).optional(),
  isos: z.array(isoRowSchema).optional(),
  documents: z.array(documentRowSchema).optional(),
  // Field paths export removed from kko/manifest.json (empty: there were none; absent: the writer did not say).
  credentialsRemoved: z.array(z.string()).optional(),
  delta: deltaSchema.optional(),
  signatures: z.array(signatureRowSchema).optional(),
  referrers: z.array(referrerRowSchema).optional(),
  imageSignatures: z.array(imageSignatureRowSchema).optional(),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type InventoryImageRow = z.infer<typeof imageRowSchema>;

// The bytes of kko/inventory.json: 2-space JSON and a newline, in the writer's key order (deterministic; a
// signature is over exactly these bytes). The value is checked against the schema first: export cannot write an
// inventory its own readers would refuse.
export function inventoryBytes(inventory: Inventory): Buffer {
  const checked = inventorySchema.safeParse(inventory);
  if (!checked.success) throw new KkoError('INTERNAL', `writing ${INVENTORY_NAME}: ${zodProblem(checked.error)}`);
  return Buffer.from(`${JSON.stringify(inventory, null, 2)}\n`);
}

// Parse kko/inventory.json; a shape error names the field ("kko/inventory.json: images[2].refName: …").
export function parseInventory(bytes: Buffer): Inventory {
  const doc = parseJsonDocument(bytes, INVENTORY_NAME);
  const r = inventorySchema.safeParse(doc, { reportInput: true });
  if (!r.success)
    throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: ${zodProblem(r.error)}`, {
      hint: 'the inventory was changed or written by another tool: re-export the artifact',
    });
  return r.data;
}

// One small JSON document of the artifact; not JSON is INVALID_INPUT naming the document.
export function parseJsonDocument(bytes: Buffer, name: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `${name}: not JSON: ${safeText((err as Error).message)}`, { cause: err });
  }
}

// One optional array field of the inventory read alone through its row schema (imageSignatures, referrers):
// [] when the inventory has no such field; a bad row names its field ("kko/inventory.json: referrers[0].digest: …").
export function parseInventoryRows<T extends z.ZodTypeAny>(inventory: Buffer, field: string, row: T): z.infer<T>[] {
  const doc = parseJsonDocument(inventory, INVENTORY_NAME);
  const rows =
    typeof doc === 'object' && doc !== null && !Array.isArray(doc)
      ? (doc as Record<string, unknown>)[field]
      : undefined;
  if (rows === undefined) return [];
  const r = z.object({ [field]: z.array(row) }).safeParse({ [field]: rows });
  if (!r.success) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: ${zodProblem(r.error)}`);
  return (r.data as Record<string, z.infer<T>[]>)[field] as z.infer<T>[];
}

export function zodProblem(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  const path = formatPath(first.path as PropertyKey[]);
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${path ? `${path}: ` : ''}${first.code === 'invalid_type' && first.input === undefined && path === '' ? 'not a JSON object' : describeZodIssue(first)}${more}`;
}

// upstream manifest (and index) digest → the digest stored in images/, for the images whose bytes changed on
// conversion (Docker v2s2 → OCI) or that were picked from an index.
export function upstreamDigestMap(inventory: Inventory): Map<string, string> {
  const map = new Map<string, string>();
  for (const row of inventory.images ?? []) {
    for (const up of [row.upstream?.manifestDigest, row.upstream?.indexDigest])
      if (up && up !== row.digest) map.set(up, row.digest);
  }
  return map;
}
