export type {
  ContentSource,
  ContentTarget,
  ContentStore,
  ManifestContent,
  StoreOptions,
  BlobReadOptions,
  BlobOpener,
  CopyEvent,
  CopyOptions,
} from './store.js';
export { VerifyStream, through } from './verify.js';
