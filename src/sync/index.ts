// #12 item 5, registry sync: a manifest's images from their sources straight to one or more registries.
export { syncRegistries, planSync } from './sync.js';
export type { SyncOptions, SyncEvent, SyncReport, TargetReport, SyncFailure, SyncPlanEntry } from './sync.js';
export { parseTarget, parseTargets, targetNames } from './targets.js';
export type { TargetNaming, SyncTarget, TargetNames } from './targets.js';
