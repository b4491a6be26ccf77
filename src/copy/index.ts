export { copyImage, copyBlobs } from './copy-image.js';
export type { CopyResult, BlobCounts } from './copy-image.js';
