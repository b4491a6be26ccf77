// A kko or kk artifact served in place as a read-only image store (issue #8 item 1; serve and push build on it).
export { ArtifactStore } from './store.js';
export type { ArtifactStoreOptions, ArchiveFacts } from './store.js';
export { repoKey, synthesizeIndex } from './names.js';
