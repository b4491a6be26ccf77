export { parseReference, formatReference, repositoryName, kkImageNameProblem, DOCKER_HUB } from './reference.js';
export type { Reference } from './reference.js';
export { parseDigest, referrersTag, sha256ChecksumOf, sha256Digest } from './digest.js';
export type { Digest } from './digest.js';
