// Public library API of kko. Anything not exported here is internal.
export { KkoError, ValidationError, isKkoError, formatIssue } from './errors.js';
export type { ErrorCode, Issue, Severity } from './errors.js';
export type { Logger } from './log.js';
export * from './reference/index.js';
export * from './catalog/index.js';
export * from './manifest/index.js';
export { imageRefForZone } from './mirror/zone-ref.js';
export { main } from './cli/main.js';
export { VERSION } from './version.js';
