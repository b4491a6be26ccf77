export { RegistryClient } from './client.js';
export type { RegistryClientOptions, ManifestResponse, BlobReadOptions } from './client.js';
export { RegistryError, redactUrl, isRetryableStatus } from './errors.js';
export type { OciErrorEntry } from './errors.js';
export { backoffDelay, parseRetryAfter } from './retry.js';
export { Semaphore } from '../util/semaphore.js';
export { HttpTransport, discardBody } from './http.js';
export type { FetchFn, SleepFn, HttpOptions, HttpResponse, TransportFailure, TransportProfile } from './http.js';
export { rangedBody } from './blob-stream.js';
export { loadCertsDir } from './tls.js';
export { parseChallenges } from './auth/challenge.js';
export type { Challenge } from './auth/challenge.js';
export {
  anonymousCredentials,
  StaticCredentials,
  ChainCredentials,
  kkAuthsCredentials,
  resolveRegistryHostOptions,
  normalizeRegistryHost,
} from './auth/credentials.js';
export type { Credential, CredentialProvider, KkAuthEntry } from './auth/credentials.js';
export { DockerConfigCredentials, ContainersAuthCredentials, runCredentialHelper } from './auth/config-files.js';
export type { ConfigFileOptions, HelperRunner } from './auth/config-files.js';
export { defaultCredentials } from './auth/default.js';
export { RegistryStore, manifestKey } from './store.js';
export type { RegistryStoreOptions } from './store.js';
