export { BlobCache } from './blob-cache.js';
export type { BlobFetcher, BlobRef, EnsureResult, BlobCacheOptions } from './blob-cache.js';
export { holdOwnerFile, isStale } from './lock.js';
