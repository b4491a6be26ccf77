// `kko artifact serve` (issue #11 item 3): the read-only distribution API straight from an artifact.
export { startServer, parseListen } from './server.js';
export type { ServeOptions, RunningServer } from './server.js';
export { ServedNames } from './names.js';
