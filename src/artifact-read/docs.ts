import { KkoError } from '../errors.js';
import {
  parseInventory,
  parseJsonDocument,
  INDEX_NAME,
  MANIFEST_NAME,
  type Inventory,
} from '../artifact-format/index.js';
import { parseLayoutIndex as parseIndexJson, type ImageIndex } from '../oci/index.js';

// Parsers for the small documents of an artifact; its paths and the inventory schema are src/artifact-format's.
export {
  INDEX_NAME,
  OCI_LAYOUT_NAME,
  INVENTORY_NAME,
  MANIFEST_NAME,
  SIGNATURE_NAME,
  BLOBS_PREFIX,
  blobPath,
  blobHex,
} from '../artifact-format/index.js';
export { REF_NAME_ANNOTATION, refNameOf } from '../oci/index.js';

// Parse images/index.json: it must be an OCI image index (throws INVALID_IMAGE_MANIFEST otherwise).
export function parseLayoutIndex(bytes: Buffer): ImageIndex {
  return parseIndexJson(bytes, INDEX_NAME);
}

// `upstream`: the digests of the upstream manifest and index the exporter keeps beside the layout (unreferenced
// blobs); `upstreamManifest` / `upstreamIndex` name which is which (the signed digest is the index's, else the manifest's).
export type InventoryImage = {
  readonly ref: string;
  readonly arch: string;
  readonly refName: string;
  readonly class: string;
  readonly digest: string;
  readonly size?: number;
  readonly upstream?: readonly string[];
  readonly upstreamManifest?: string;
  readonly upstreamIndex?: string;
};

// The images of kko/inventory.json (parseInventory: a shape error names the field); see inventoryImages.
export function parseInventoryImages(bytes: Buffer): InventoryImage[] {
  return inventoryImages(parseInventory(bytes));
}

// The image rows of a parsed inventory (the one row reader), with the defaults of a row that leaves them out:
// ref = refName, class unknown.
export function inventoryImages(inv: Inventory): InventoryImage[] {
  return (inv.images ?? []).map((r) => {
    const manifest = r.upstream?.manifestDigest;
    const index = r.upstream?.indexDigest;
    const up = [manifest, index].filter((d): d is string => typeof d === 'string');
    return {
      ref: r.ref ?? r.refName,
      arch: r.arch ?? '',
      refName: r.refName,
      class: r.class ?? 'unknown',
      digest: r.digest,
      ...(r.size !== undefined ? { size: r.size } : {}),
      ...(up.length > 0 ? { upstream: up } : {}),
      ...(manifest !== undefined ? { upstreamManifest: manifest } : {}),
      ...(index !== undefined ? { upstreamIndex: index } : {}),
    };
  });
}

// One binary, ISO or document row of kko/inventory.json: where it is and what it must hash to (size when the exporter
// wrote it). Documents (#12) are kko/manifest.json, images/index.json and images/oci-layout.
export type InventoryFile = {
  readonly kind: 'binary' | 'iso' | 'document';
  readonly path: string;
  readonly sha256: string;
  readonly size?: number;
};

// The binaries and ISOs of kko/inventory.json, and whether the exporter removed credentials from kko/manifest.json
// (export writes `credentialsRemoved`: the field paths it removed, empty when there were none).
export function parseInventoryFiles(bytes: Buffer): ReturnType<typeof inventoryFiles> {
  return inventoryFiles(parseInventory(bytes));
}

// The same of a parsed inventory.
export function inventoryFiles(inv: Inventory): {
  files: InventoryFile[];
  manifestRedacted?: boolean;
  credentialsRemoved?: string[];
} {
  const rows = (
    kind: InventoryFile['kind'],
    list: ReadonlyArray<{ path: string; sha256: string; size?: number | undefined }> | undefined,
  ): InventoryFile[] =>
    (list ?? []).map((r) => ({
      kind,
      path: r.path,
      sha256: r.sha256,
      ...(r.size !== undefined ? { size: r.size } : {}),
    }));
  const files = [...rows('binary', inv.binaries), ...rows('iso', inv.isos), ...rows('document', inv.documents)];
  const removed = inv.credentialsRemoved;
  return { files, ...(removed ? { manifestRedacted: removed.length > 0, credentialsRemoved: removed } : {}) };
}

// The manifests kko/manifest.json records (the export's input), as loose objects: only their ISO checksums are read.
export function parseStoredManifests(bytes: Buffer): unknown[] {
  const doc = parseJsonDocument(bytes, MANIFEST_NAME);
  if (!Array.isArray(doc)) throw new KkoError('INVALID_INPUT', `${MANIFEST_NAME}: not a list of manifests`);
  return doc;
}
