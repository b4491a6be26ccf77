// A kko or kk artifact served in place as a read-only image store (issue #8 item 1; serve and push build on it), and
// an imported artifact directory as the same store (#11).
export { ArtifactStore } from './store.js';
export type { ArtifactStoreOptions, ArtifactStoreStats, ArchiveFacts, InOrderBlob } from './store.js';
export { LayoutImageStore, locateImportedLayout } from './layout-store.js';
export { openImageStore, isImportedDir } from './open.js';
export type { ImageStore } from './open.js';
export { repoKey, synthesizeIndex } from './names.js';
export { DeltaSource, assertBaseOf } from './delta.js';
