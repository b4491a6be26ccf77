// The artifact as an OCI artifact (#12 item 6): publish to any OCI registry as one index, pull it back byte for byte.
export { publishArtifact } from './publish.js';
export type { PublishOptions, PublishReport } from './publish.js';
export { pullArtifact } from './pull.js';
export type { PullOptions, PullReport } from './pull.js';
export { parseOciRef } from './ref.js';
export { ARTIFACT_TYPE, ANNOTATIONS, TITLE_ANNOTATION } from './format.js';
