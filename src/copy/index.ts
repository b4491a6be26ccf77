export { copyImage } from './copy-image.js';
export type { CopyResult } from './copy-image.js';
