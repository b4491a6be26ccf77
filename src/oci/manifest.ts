import { KkoError } from '../errors.js';
import type { Digest } from '../reference/index.js';
import { quoteValue, safeText } from '../util/safe-text.js';
import { platformMatches, type Descriptor, type Platform } from './descriptor.js';
import { isImageManifestMediaType, isIndexMediaType, MediaType } from './media-types.js';

// image-spec manifest.md (and Docker v2s2, the same shape with Docker media types).
export type ImageManifest = {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
};

// image-spec image-index.md (and the Docker manifest list).
export type ImageIndex = {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
};

// A parsed manifest and the media type it was resolved to (body field, else Content-Type, else shape).
export type ParsedManifest =
  | { readonly kind: 'image'; readonly mediaType: string; readonly manifest: ImageManifest }
  | { readonly kind: 'index'; readonly mediaType: string; readonly manifest: ImageIndex };

type Json = Record<string, unknown>;

function bad(why: string, hint?: string): KkoError {
  return new KkoError('INVALID_IMAGE_MANIFEST', `parsing image manifest: ${why}`, hint ? { hint } : undefined);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStringRecord(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw bad(`${where}: must map strings to strings`);
}

function checkPlatform(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v) || typeof v.architecture !== 'string' || typeof v.os !== 'string') {
    throw bad(`${where}.platform: needs string "architecture" and "os"`);
  }
  if (v.variant !== undefined && typeof v.variant !== 'string')
    throw bad(`${where}.platform.variant: must be a string`);
}

// Shape-check one descriptor; `where` is a dot path used in the message.
function checkDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw bad(`${where}: not an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw bad(`${where}.mediaType: missing`);
  if (typeof v.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(v.digest)) {
    throw bad(`${where}.digest: expected sha256:<64 hex>, got ${quoteValue(v.digest)}`);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0)
    throw bad(`${where}.size: not a non-negative integer`);
  if (v.urls !== undefined && (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string')))
    throw bad(`${where}.urls: not a string list`);
  checkStringRecord(v.annotations, `${where}.annotations`);
  checkPlatform(v.platform, where);
  return v as unknown as Descriptor & { digest: Digest };
}

function checkDescriptorList(v: unknown, where: string): void {
  if (!Array.isArray(v)) throw bad(`${where}: not a list`);
  v.forEach((d, i) => checkDescriptor(d, `${where}[${i}]`));
}

// The kind the document claims to be: its own mediaType field wins, then the transport's, then its shape.
function resolveKind(doc: Json, contentType: string | undefined): { kind: 'image' | 'index'; mediaType: string } {
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  for (const mt of [field, contentType]) {
    if (isIndexMediaType(mt)) return { kind: 'index', mediaType: mt as string };
    if (isImageManifestMediaType(mt)) return { kind: 'image', mediaType: mt as string };
  }
  if (field !== undefined) throw bad(`unsupported mediaType ${quoteValue(field)}`);
  if (Array.isArray(doc.manifests)) return { kind: 'index', mediaType: MediaType.OCI_INDEX };
  if (isObject(doc.config)) return { kind: 'image', mediaType: MediaType.OCI_MANIFEST };
  throw bad('neither an image manifest (config, layers) nor an index (manifests)');
}

function decodeJson(bytes: Uint8Array): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new KkoError(
      'INVALID_IMAGE_MANIFEST',
      `parsing image manifest: not JSON: ${safeText((err as Error).message)}`,
      {
        cause: err,
      },
    );
  }
  if (!isObject(doc)) throw bad('top level is not a JSON object');
  return doc;
}

// Parse and shape-check manifest bytes. `contentType` (from HTTP or a descriptor) is used only when the
// body has no mediaType field. Throws INVALID_IMAGE_MANIFEST; never re-serialises (digests stay valid).
export function parseManifestJson(bytes: Uint8Array, contentType?: string): ParsedManifest {
  const doc = decodeJson(bytes);
  if (doc.schemaVersion !== 2) {
    throw bad(
      `schemaVersion ${quoteValue(doc.schemaVersion)} is not supported`,
      'Docker schema1 manifests are deprecated; re-push the image with a current client',
    );
  }
  const { kind, mediaType } = resolveKind(doc, contentType);
  checkStringRecord(doc.annotations, 'annotations');
  if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject');
  if (kind === 'index') {
    checkDescriptorList(doc.manifests, 'manifests');
    return { kind, mediaType, manifest: doc as unknown as ImageIndex };
  }
  checkDescriptor(doc.config, 'config');
  checkDescriptorList(doc.layers, 'layers');
  return { kind, mediaType, manifest: doc as unknown as ImageManifest };
}

// The index entries whose platform satisfies `want` (entries without a platform never match).
export function selectManifests(index: ImageIndex, want: Platform): Descriptor[] {
  return index.manifests.filter((d) => d.platform !== undefined && platformMatches(want, d.platform));
}

// Every blob and child manifest an image manifest points at, config first.
export function referencedBlobs(manifest: ImageManifest): Descriptor[] {
  return [manifest.config, ...manifest.layers];
}
