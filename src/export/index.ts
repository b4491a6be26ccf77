export { exportArtifact, writeArchive, blobTotals } from './run.js';
export type { ExportOptions, ExportReport, ImageFailure, Compression } from './run.js';
export { planExport, layoutRefName } from './plan.js';
export type { ExportPlan, PlannedImage } from './plan.js';
export type { ExportEvent, EventSink } from './events.js';
export type { FetchedImage, ResolvedImage } from './fetch-image.js';
export { resolveImage, fetchImage } from './fetch-image.js';
export { ClientPool } from './clients.js';
export { toOciManifest } from './convert.js';
