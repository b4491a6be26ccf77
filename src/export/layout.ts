import type { BlobCache } from '../cache/index.js';
import type { TarEntry } from '../archive/tar.js';
import { COMPRESSED_MEDIA_TYPE } from '../artifact-format/index.js';
import { formatLayoutIndex, MediaType, OCI_LAYOUT, REF_NAME_ANNOTATION } from '../oci/index.js';
import type { FetchedImage } from './fetch-image.js';
import { byRefName } from './plan.js';

// index.json of the shared layout, entries sorted by ref name (deterministic), as kk v3.1.2+ writes it.
export function layoutIndex(images: readonly FetchedImage[]): Buffer {
  const manifests = [...images].sort(byRefName).map((img) => ({
    mediaType: MediaType.OCI_MANIFEST,
    digest: img.manifest.digest,
    size: img.manifest.size,
    annotations: { [REF_NAME_ANNOTATION]: img.planned.refName },
    platform: {
      architecture: img.platform.architecture,
      os: img.platform.os,
      ...(img.platform.variant ? { variant: img.platform.variant } : {}),
    },
  }));
  return formatLayoutIndex(manifests);
}

// The archive entries of images/: oci-layout, index.json and every blob once, read straight from the cache
// (no second copy of the layout on disk); index.json names every manifest even in a delta. `extra`: blobs no index.json entry reaches (#12: image signatures).
export function layoutEntries(
  images: readonly FetchedImage[],
  cache: BlobCache,
  prefix = 'images/',
  extra: ReadonlyArray<{ digest: string; size: number }> = [],
  omit: ReadonlySet<string> = new Set(), // #12 item 3: blobs a delta leaves out (its base holds them)
): TarEntry[] {
  const blobs = new Map<string, number | undefined>();
  const compressed = new Set<string>();
  for (const img of images) {
    blobs.set(img.manifest.digest, img.manifest.size);
    for (const b of img.blobs) {
      blobs.set(b.digest, b.size);
      if (COMPRESSED_MEDIA_TYPE.test(b.mediaType)) compressed.add(b.digest);
    }
    // Upstream manifests and indexes (unreferenced by index.json, allowed by image-spec) keep original digests at hand.
    for (const d of img.extraBlobs) if (!blobs.has(d)) blobs.set(d, undefined);
  }
  for (const d of extra) if (!blobs.has(d.digest)) blobs.set(d.digest, d.size);
  const entries: TarEntry[] = [
    { name: `${prefix}oci-layout`, data: OCI_LAYOUT },
    { name: `${prefix}index.json`, data: layoutIndex(images) },
  ];
  for (const [digest, size] of blobs) {
    if (omit.has(digest)) continue;
    const name = `${prefix}blobs/sha256/${digest.slice(7)}`;
    const sha256 = digest.slice(7);
    const flag = compressed.has(digest) ? { compressed: true } : {};
    entries.push(
      size === undefined
        ? { name, file: cache.blobPath(digest), sha256, ...flag }
        : { name, file: cache.blobPath(digest), size, sha256, ...flag },
    );
  }
  return entries;
}
