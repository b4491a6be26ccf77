// Public library API of kko. Anything not exported here is internal.
export { KkoError, ValidationError, isKkoError, formatIssue } from './errors.js';
export type { ErrorCode, Issue, Severity } from './errors.js';
export type { Logger } from './log.js';
export * from './reference/index.js';
export * from './catalog/index.js';
export * from './manifest/index.js';
export {
  loadMirrorPolicy,
  resolveImageSources,
  resolveDownloadSources,
  imageRefForZone,
  ZONES,
} from './mirror/index.js';
export type { EffectivePolicy, ImageSource, DownloadSource } from './mirror/index.js';
export { renderNodeConfig, planMirrors, NODE_CONFIG_FORMATS } from './node-config/index.js';
export type {
  NodeConfigFormat,
  NodeConfigInput,
  LocalRegistry,
  RenderedConfig,
  RenderedFile,
} from './node-config/index.js';
export { BlobCache } from './cache/index.js';
export { RegistryClient, RegistryStore, defaultCredentials, kkAuthsCredentials } from './registry/index.js';
export type { RegistryClientOptions, RegistryStoreOptions, CredentialProvider } from './registry/index.js';
export type {
  ContentSource,
  ContentTarget,
  ContentStore,
  ManifestContent,
  CopyEvent,
  CopyOptions,
} from './content/index.js';
export { OciLayout } from './layout/index.js';
export type { OciLayoutOptions, RefNameForm } from './layout/index.js';
export { copyImage } from './copy/index.js';
export { parsePlatform, formatPlatform } from './oci/index.js';
export type { Descriptor, Platform } from './oci/index.js';
export type { CopyResult } from './copy/index.js';
export type { Host, HostTls } from './host/index.js';
export { exportArtifact, precheck, planExport, writeArchive } from './export/index.js';
export type { ExportOptions, ExportReport, ExportEvent, PrecheckReport, Compression } from './export/index.js';
export { planDownloads, fetchBinary, fetchIso, HttpDownloader } from './download/index.js';
export type { DownloadPlan } from './download/index.js';
export { inspectArtifact, verifyArtifact, importArtifact } from './artifact-read/index.js';
export type { InspectReport, VerifyReport, ImportReport } from './artifact-read/index.js';
export { ArtifactStore } from './artifact-store/index.js';
export type { ArtifactStoreOptions } from './artifact-store/index.js';
export {
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  inventoryVerifier,
  KeySigner,
  signArtifact,
} from './signing/index.js';
export type { Signer, SignOptions, SignReport } from './signing/index.js';
export { main } from './cli/main.js';
export { VERSION } from './version.js';
