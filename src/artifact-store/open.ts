import { stat } from 'node:fs/promises';
import type { ContentSource } from '../content/store.js';
import type { Descriptor } from '../oci/index.js';
import type { Digest, Reference } from '../reference/index.js';
import { LayoutImageStore } from './layout-store.js';
import { ArtifactStore, type ArtifactStoreOptions } from './store.js';

// What push, check and serve read images from: an artifact file (ArtifactStore) or an imported directory
// (LayoutImageStore), with the same names (<ref>:<tag> a multi-arch index, <ref>:<tag>-<arch> one manifest).
export interface ImageStore extends ContentSource {
  readonly kkVersion: string | undefined; // the kk release kko/inventory.json names
  entries(): Descriptor[]; // images/index.json's entries
  repositories(): string[]; // "registry/repository", sorted
  upstreamIndex(ref: Reference): Digest | undefined; // the upstream index ref's tag answers with, when held whole
  // kko/inventory.json's bytes (undefined for kk's): the signatures and referrers carried beside the layout (#12), whose
  // manifests getManifest serves by digest
  inventory(): Buffer | undefined;
  close(): Promise<void>;
}

// A directory is an imported artifact (or its images/ layout); anything else is an artifact file (or its parts).
export async function openImageStore(path: string, opts: ArtifactStoreOptions = {}): Promise<ImageStore> {
  return (await isImportedDir(path)) ? LayoutImageStore.open(path) : ArtifactStore.open(path, opts);
}

// Whether `path` is a directory (an imported artifact), for callers that treat one differently (signatures).
export async function isImportedDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
