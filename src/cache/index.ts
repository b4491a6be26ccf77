export { BlobCache } from './blob-cache.js';
export type {
  BlobFetcher,
  BlobRef,
  EnsureResult,
  EnsureOptions,
  BlobCacheOptions,
  CorruptBlob,
  PartPlan,
} from './blob-cache.js';
export { holdOwnerFile, isStale } from './lock.js';
export { hashFile } from './hash-file.js';
export { resumeInto } from './resume.js';
export type { ResumeOptions, ResumeState } from './resume.js';
export { defaultCacheDir } from './dir.js';
export { CacheTarget } from './cache-target.js';
export { CachedSource } from './cache-source.js';
