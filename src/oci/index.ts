export {
  MediaType,
  MANIFEST_MEDIA_TYPES,
  MANIFEST_ACCEPT,
  isIndexMediaType,
  isImageManifestMediaType,
  normalizeMediaType,
} from './media-types.js';
export type { KnownMediaType } from './media-types.js';
export { normalizePlatform, platformMatches, parsePlatform, formatPlatform } from './descriptor.js';
export type { Descriptor, Platform } from './descriptor.js';
export { parseManifestJson, selectManifests, referencedBlobs } from './manifest.js';
export type { ImageManifest, ImageIndex, ParsedManifest } from './manifest.js';
export { parseConfigPlatform } from './config.js';
export { REF_NAME_ANNOTATION, OCI_LAYOUT, refNameOf, formatLayoutIndex, parseLayoutIndex } from './layout.js';
