// The artifact format: its paths and the kko/inventory.json schema, shared by every writer and reader.
export {
  INDEX_NAME,
  OCI_LAYOUT_NAME,
  BLOBS_PREFIX,
  INVENTORY_NAME,
  MANIFEST_NAME,
  SIGNATURE_NAME,
  SUMS_NAME,
  REF_NAME_ANNOTATION,
  OCI_LAYOUT,
  ALREADY_COMPRESSED,
  COMPRESSED_MEDIA_TYPE,
  blobPath,
  blobHex,
  layoutRefName,
} from './paths.js';
export {
  inventorySchema,
  inventoryBytes,
  parseInventory,
  parseJsonDocument,
  upstreamDigestMap,
  INVENTORY_API_VERSION,
  INVENTORY_KIND,
  deltaSchema,
} from './inventory.js';
export type { Inventory, InventoryImageRow, Delta } from './inventory.js';
export {
  haveListSchema,
  parseHaveList,
  haveRepository,
  heldBlobs,
  HAVE_API_VERSION,
  HAVE_KIND,
  MAX_HAVE_BYTES,
} from './have.js';
export type { HaveList, HeldBlobs } from './have.js';
export {
  IMAGE_SIGNATURES_FIELD,
  parseImageSignatures,
  imageSignaturesOf,
  imageSignatureDigests,
} from './image-signatures.js';
export type { ImageSignatureRow } from './image-signatures.js';
export { BaseMissingError, assertDeltaBase, missingCount } from './delta.js';
export { REFERRERS_FIELD, parseReferrers, referrerDigests } from './referrers.js';
export type { ReferrerRow } from './referrers.js';
