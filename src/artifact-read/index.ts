// Reading kko and kk artifacts without trusting them: inspect, verify, import (issue #4 items 5–7).
export { inspectArtifact, inspectScan } from './inspect.js';
export type { InspectReport, InspectImage, InspectGroup } from './inspect.js';
export { verifyArtifact, verifyScan } from './verify.js';
export type { VerifyReport, VerifyOptions, ArtifactKind } from './verify.js';
export type { Anchor } from './trust.js';
export { removeStaleStaging } from './staging.js';
export { importArtifact, MD5_FILE } from './import.js';
export type { ImportOptions, ImportReport } from './import.js';
export { scanArtifact } from './scan.js';
export type { ScanOptions, FileSink } from './scan.js';
export { classifyPath } from './paths.js';
export type { PathClass, PathGroup } from './paths.js';
export { ArtifactProblemsError, formatProblem, summarizeProblems } from './types.js';
export type { Problem, ProblemKind, ScanResult, FileRecord } from './types.js';
export type { ImageKeyOptions, ImageSignatureCheck, ImageSignatureSummary } from './image-signatures.js';
export { IMAGE_SIGNATURES_FIELD, parseImageSignatures } from './image-signature-rows.js';
export type { ImageSignatureRow } from './image-signature-rows.js';
