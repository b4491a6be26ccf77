// The far side of the air gap (#11): push an artifact's images under the names nodes pull, and check they are there.
export { planPush } from './plan.js';
export type { LayoutEntry, NamingMode, PushPlan, PushPlanInput, PlannedImage, PlannedChild } from './plan.js';
export { checkPushed } from './check.js';
export type { CheckReport, CheckedImage, CheckStatus, CheckOptions, CarriedCheck, CarriedStatus } from './check.js';
export { pushImages } from './push.js';
export type { PushEvent, PushOptions, PushReport, PushedImage, PushFailure } from './push.js';
export { targetRegistry, registryTarget } from './target.js';
export type { TargetFlags, TargetStoreOptions } from './target.js';
export { openArtifactSource, openLayoutSource, manifestEntries, preservedIndexes } from './source.js';
export type { PushSource } from './source.js';
export { MountingTarget } from './mount.js';
export { assertBaseInTarget } from './delta.js';
export { pushCarried, carriedTotals } from './signatures.js';
export type { CarriedKind, CarriedResult, CarriedOptions } from './signatures.js';
export { registryHave } from './have.js';
export type { RegistryHave } from './have.js';
export { StreamedSource, streamMissingBlobs } from './stream.js';
export type { StreamPassOptions } from './stream.js';
