import { KkoError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { parseManifestJson, type ImageIndex } from './manifest.js';
import { MediaType } from './media-types.js';

// image-spec annotations.md: the name of a manifest in an image layout's index.json. kk writes the full image name
// ("docker.io/calico/cni:v3.27.3-amd64"), skopeo's oci:DIR:tag only the tag.
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

// The oci-layout file (image-spec image-layout.md), byte for byte as kk and skopeo write it.
export const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

// The ref name of an index.json entry, when it has one.
export function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

// Byte order (not locale): entries with a ref name first, by name; then the rest by digest.
function byRefNameThenDigest(a: Descriptor, b: Descriptor): number {
  const [x, y] = [refNameOf(a), refNameOf(b)];
  if (x !== y) return x === undefined ? 1 : y === undefined ? -1 : x < y ? -1 : 1;
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

// index.json of an image layout, deterministic: the entries sorted (see above), two-space JSON, one final newline —
// the exact bytes kk v3.1.2+ writes for its images/ layout. Entries keep their own field order.
export function formatLayoutIndex(manifests: readonly Descriptor[]): Buffer {
  const sorted = [...manifests].sort(byRefNameThenDigest);
  return Buffer.from(
    `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: sorted }, null, 2)}\n`,
  );
}

// Parse an image layout's index.json (`where` names it in messages): it must be an image index (INVALID_IMAGE_MANIFEST).
export function parseLayoutIndex(bytes: Uint8Array, where = 'index.json'): ImageIndex {
  const parsed = parseManifestJson(bytes);
  if (parsed.kind !== 'index') throw new KkoError('INVALID_IMAGE_MANIFEST', `${where}: not an image index`);
  return parsed.manifest;
}
