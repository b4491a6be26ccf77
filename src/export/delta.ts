import { basename } from 'node:path';
import { heldBlobs, type Delta, type HaveList } from '../artifact-format/index.js';
import { byteOrder } from '../util/byte-order.js';
import type { FetchedImage } from './fetch-image.js';
import type { FetchedFile } from './files.js';

// #12 item 3: what a delta export leaves out. The have-list (`kko artifact inventory OLD_ART`, or that of --base)
// says what the far side holds; a config or layer blob it lists, and a binary or ISO it holds at the same path with
// the same sha256, stay out of the archive. A registry's list is per repository: a blob stays out only when every
// image that needs it has it in its own repository (push HEADs it there), so one held elsewhere only is carried. Manifests, indexes and signatures always go in (they are small, and the
// layout must be complete in the delta's own index.json), and the inventory keeps every row.
export type DeltaCut = {
  readonly delta: Delta; // the inventory's `delta` field
  readonly omitBlobs: ReadonlySet<string>; // digests
  readonly omitFiles: ReadonlySet<string>; // artifact paths
};

export function deltaCut(have: HaveList, images: readonly FetchedImage[], files: readonly FetchedFile[]): DeltaCut {
  const held = heldBlobs(have);
  const blobs = new Map<string, number>();
  const needed = new Set<string>(); // blobs some image needs where the far side does not hold them
  const manifests = new Set(images.flatMap((i) => [i.manifest.digest as string, ...i.extraBlobs]));
  for (const img of images)
    for (const b of img.blobs) {
      if (manifests.has(b.digest)) continue;
      if (held.has(img.planned.ref, b.digest)) blobs.set(b.digest, b.size);
      else needed.add(b.digest);
    }
  for (const d of needed) blobs.delete(d);
  const heldFiles = new Map(have.files.map((f) => [f.path, f.sha256]));
  const omittedFiles = files
    .filter((f) => heldFiles.get(f.result.item.path) === f.result.sha256)
    .map((f) => ({ path: f.result.item.path, sha256: f.result.sha256, size: f.size }))
    .sort((a, b) => byteOrder(a.path, b.path));
  const delta: Delta = {
    base: { inventorySha256: have.base.inventorySha256 as string, artifact: basename(have.base.artifact) },
    omitted: {
      blobs: [...blobs].map(([digest, size]) => ({ digest, size })).sort((a, b) => byteOrder(a.digest, b.digest)),
      files: omittedFiles,
    },
  };
  return { delta, omitBlobs: new Set(blobs.keys()), omitFiles: new Set(omittedFiles.map((f) => f.path)) };
}
