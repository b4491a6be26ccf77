export type { ContentSource, ContentTarget, ContentStore, ManifestContent, StoreOptions, BlobReadOptions, BlobOpener, CopyEvent, CopyOptions } from './store.js';
