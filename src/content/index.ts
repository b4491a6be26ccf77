export type {
  ContentSource,
  ContentTarget,
  ContentStore,
  ManifestContent,
  StoreOptions,
  PutBlobOptions,
  BlobReadOptions,
  BlobOpener,
  CopyEvent,
  CopyOptions,
} from './store.js';
export { VerifyStream, through } from './verify.js';
