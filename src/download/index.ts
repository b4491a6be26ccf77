// The download module's only public door: kk binaries and OS ISOs over HTTP, through the mirror policy, into the blob cache.
export { HttpDownloader, parseHttpUrl } from './http-fetch.js';
export type { HttpDownloaderOptions, HttpSource, FetchFn, SleepFn } from './http-fetch.js';
export { DownloadError } from './errors.js';
export { fetchBinary, binaryCandidates, binaryDigest, assertBinaryChecksums, helmCnUrl } from './binaries.js';
export type { DownloadDeps, DownloadPolicy, FetchedBinary, SourceInfo } from './binaries.js';
export { fetchIso, isoCandidates, planIso, isoPath, parseIsoChecksum } from './iso.js';
export type { IsoItem, FetchedIso, IsoDeps, OsEntry } from './iso.js';
export { planDownloads, planManifestDownloads, needsKkProfile, plannedFiles } from './plan.js';
export type { DownloadPlan, ManifestInput, PlannedFile } from './plan.js';
export { gzipTarMember } from './tar-member.js';
export type { Candidate } from './fallback.js';
export { firstSuccessful } from './fallback.js';
export { withoutUserinfo } from './userinfo.js';
