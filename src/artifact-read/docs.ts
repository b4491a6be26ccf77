import { KkoError } from '../errors.js';
import { parseLayoutIndex as parseIndexJson, type ImageIndex } from '../oci/index.js';

// Paths of a KubeKey artifact (kubekey.md §3.7) and kko's own metadata, and parsers for the small documents.
export const INDEX_NAME = 'images/index.json';
export const OCI_LAYOUT_NAME = 'images/oci-layout';
export const INVENTORY_NAME = 'kko/inventory.json';
export const MANIFEST_NAME = 'kko/manifest.json';
// #12: the cosign sign-blob signature of kko/inventory.json (see src/signing).
export const SIGNATURE_NAME = 'kko/inventory.json.sig';
export const BLOBS_PREFIX = 'images/blobs/';
export { REF_NAME_ANNOTATION, refNameOf } from '../oci/index.js';

// images/blobs/sha256/<hex> for a sha256 digest.
export function blobPath(digest: string): string {
  return `${BLOBS_PREFIX}${digest.replace(':', '/')}`;
}

// The hex of a well-formed blob path, else undefined.
export function blobHex(name: string): string | undefined {
  return /^images\/blobs\/sha256\/([a-f0-9]{64})$/.exec(name)?.[1];
}

// Parse images/index.json: it must be an OCI image index (throws INVALID_IMAGE_MANIFEST otherwise).
export function parseLayoutIndex(bytes: Buffer): ImageIndex {
  return parseIndexJson(bytes, INDEX_NAME);
}

// `upstream`: the digests of the upstream manifest and index the exporter keeps beside the layout (unreferenced blobs).
export type InventoryImage = { readonly ref: string; readonly arch: string; readonly refName: string; readonly class: string; readonly digest: string; readonly size?: number; readonly upstream?: readonly string[] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The images of kko/inventory.json; rows without a string refName and digest are a shape error.
export function parseInventoryImages(bytes: Buffer): InventoryImage[] {
  const doc = parseJsonDoc(bytes, INVENTORY_NAME);
  const rows = isRecord(doc) ? doc.images : undefined;
  if (rows === undefined) return [];
  if (!Array.isArray(rows)) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: "images" is not a list`);
  return rows.map((r: unknown, i) => {
    if (!isRecord(r) || typeof r.refName !== 'string' || typeof r.digest !== 'string') throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: images[${i}] needs string refName and digest`);
    const text = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);
    const up = isRecord(r.upstream) ? [r.upstream.manifestDigest, r.upstream.indexDigest].filter((d): d is string => typeof d === 'string') : [];
    return { ref: text(r.ref, r.refName), arch: text(r.arch, ''), refName: r.refName, class: text(r.class, 'unknown'), digest: r.digest, ...(typeof r.size === 'number' ? { size: r.size } : {}), ...(up.length > 0 ? { upstream: up } : {}) };
  });
}

// One binary, ISO or document row of kko/inventory.json: where it is and what it must hash to (size when the exporter
// wrote it). Documents (#12) are kko/manifest.json, images/index.json and images/oci-layout.
export type InventoryFile = { readonly kind: 'binary' | 'iso' | 'document'; readonly path: string; readonly sha256: string; readonly size?: number };

const ROW_KEYS = { binary: 'binaries', iso: 'isos', document: 'documents' } as const;

function parseJsonDoc(bytes: Buffer, name: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `${name}: not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function fileRow(kind: InventoryFile['kind'], r: unknown, i: number): InventoryFile {
  const where = `${INVENTORY_NAME}: ${ROW_KEYS[kind]}[${i}]`;
  if (!isRecord(r) || typeof r.path !== 'string' || typeof r.sha256 !== 'string' || !/^[a-f0-9]{64}$/.test(r.sha256)) throw new KkoError('INVALID_INPUT', `${where} needs a string path and a sha256 of 64 hex`);
  if (r.size !== undefined && (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0)) throw new KkoError('INVALID_INPUT', `${where}: size is not a whole number`);
  return { kind, path: r.path, sha256: r.sha256, ...(typeof r.size === 'number' ? { size: r.size } : {}) };
}

// The binaries and ISOs of kko/inventory.json, and whether the exporter removed credentials from kko/manifest.json
// (export writes `credentialsRemoved`: the field paths it removed, empty when there were none).
export function parseInventoryFiles(bytes: Buffer): { files: InventoryFile[]; manifestRedacted?: boolean; credentialsRemoved?: string[] } {
  const doc = parseJsonDoc(bytes, INVENTORY_NAME);
  if (!isRecord(doc)) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: not a JSON object`);
  const rows = (key: 'binaries' | 'isos' | 'documents'): unknown[] => {
    const v = doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: "${key}" is not a list`);
    return v;
  };
  const files = (['binary', 'iso', 'document'] as const).flatMap((kind) => rows(ROW_KEYS[kind]).map((r, i) => fileRow(kind, r, i)));
  const removed = doc.credentialsRemoved;
  if (removed !== undefined && !(Array.isArray(removed) && removed.every((r) => typeof r === 'string'))) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: "credentialsRemoved" is not a list of field paths`);
  return { files, ...(removed ? { manifestRedacted: removed.length > 0, credentialsRemoved: removed } : {}) };
}

// The manifests kko/manifest.json records (the export's input), as loose objects: only their ISO checksums are read.
export function parseStoredManifests(bytes: Buffer): unknown[] {
  const doc = parseJsonDoc(bytes, MANIFEST_NAME);
  if (!Array.isArray(doc)) throw new KkoError('INVALID_INPUT', `${MANIFEST_NAME}: not a list of manifests`);
  return doc;
}
