export { MANIFEST_API_VERSION, MANIFEST_KIND, manifestSchema } from './schema.js';
export type { KkManifest, KkComponents, KkoRecord, AuthEntry } from './schema.js';
export { parseManifestText, loadManifestFile } from './parse.js';
export type { ParsedManifest, SalvagedManifest, ParseResult } from './parse.js';
export { validateManifests } from './check.js';
export type { ValidateManifestsOptions, ValidateManifestsResult, ChoicesSource } from './check.js';
export { buildManifest, renderManifest, expectedComponents, LAYER_ORDER } from './generate.js';
export type { BuiltManifest } from './generate.js';
export { splitManifest, mergeManifests } from './layers.js';
export { kkRules, runRules } from './validate.js';
export { inferChoices } from './infer.js';
export { loadClusterConfig } from './cluster-config.js';
export type { ClusterFacts, RegistryFacts, RegistryAuthFacts } from './cluster-config.js';
export { diffManifests } from './diff.js';
export type { Change } from './diff.js';
export {
  kkNamespace,
  kkPushRepository,
  kkPullRepository,
  pushedRepository,
  kkNamingOf,
  rewriteNamespace,
  splitArchTag,
  parseRegistryLocation,
} from './push-name.js';
export type { KkNaming, NamespaceRewrite } from './push-name.js';
