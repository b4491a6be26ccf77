// The mirror module's only public door: zone-aware mirror policy (load, precedence) and pure source resolution.
export { loadMirrorPolicy, pickZone, pickConfigFile, mergeRules, ZONE_ENV, CONFIG_ENV } from './policy.js';
export type { EffectivePolicy, LoadMirrorPolicyOptions, SettingSource } from './policy.js';
export { loadPolicyFile, loadZonePolicy, BUILTIN_ZONES_DIR } from './load.js';
export type { LoadedPolicyFile } from './load.js';
export { resolveImageSources, resolveDownloadSources, rewriteReference } from './resolve.js';
export type { ImageSource, DownloadSource, ResolveOptions } from './resolve.js';
export { imageRefForZone, CN_IMAGE_REGISTRY, CN_IMAGE_NAMESPACE } from './zone-ref.js';
export { ZONES, isZone, REWRITES, PULL_FROM } from './schema.js';
export type {
  Zone,
  Rewrite,
  PullFrom,
  RegistryRule,
  DownloadRule,
  RegistryMirror,
  DownloadMirror,
  RuleOrigin,
  ResolvePolicy,
} from './schema.js';
