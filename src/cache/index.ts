export { BlobCache } from './blob-cache.js';
export type { BlobFetcher, BlobRef, EnsureResult, EnsureOptions, BlobCacheOptions, CorruptBlob } from './blob-cache.js';
export { hashFile } from './hash-file.js';
