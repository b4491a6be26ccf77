import type { Issue } from '../errors.js';
import type { ParsedManifest } from '../manifest/index.js';
import { formatBytes } from '../util/bytes.js';
import { positionOf } from '../util/yaml-doc.js';
import type { PrecheckReport } from './precheck.js';

// Error codes an online check reports (the rest of validate's codes are about the files themselves): an error with
// one of these only is an operational failure (exit 1), not invalid input (exit 2).
export const ONLINE_CODES: ReadonlySet<string> = new Set([
  'ONLINE',
  'DISK_SPACE',
  'NETWORK_ERROR',
  'MIRRORS_EXHAUSTED',
  'WRONG_PLATFORM',
  'PLATFORM_NOT_FOUND',
  'MANIFEST_UNKNOWN',
  'UNAUTHORIZED',
  'REGISTRY_ERROR',
  'DIGEST_MISMATCH',
  'INVALID_IMAGE_MANIFEST',
]);

// `manifest validate --online`: each image × arch that does not resolve becomes an issue at its spec.images line,
// each file that cannot be fetched one at spec.components; the size estimate as info, short disk as errors.
export function precheckIssues(report: PrecheckReport, parsed: readonly ParsedManifest[]): Issue[] {
  const where = (ref: string): Partial<Issue> => {
    for (const f of parsed) {
      const i = (f.manifest.spec.images ?? []).indexOf(ref);
      if (i >= 0)
        return { file: f.file, path: `spec.images[${i}]`, ...positionOf(f.doc, f.source.lines, ['spec', 'images', i]) };
    }
    return {};
  };
  const code = (c: string | undefined): string => (c && ONLINE_CODES.has(c) ? c : 'ONLINE');
  const out: Issue[] = report.images
    .filter((i) => !i.ok)
    .map((i) => ({
      severity: 'error',
      code: code(i.code),
      message: `${i.ref} (${i.arch}): ${i.message}`,
      ...where(i.ref),
    }));
  for (const f of report.files.filter((x) => !x.ok)) {
    out.push({
      severity: 'error',
      code: code(f.code),
      message: `${f.path}: ${f.message}`,
      file: parsed[0]?.file,
      path: 'spec.components',
    });
  }
  // sizes come from resolved images only: none resolved, no estimate (not "images need 0 B")
  if (report.images.some((i) => i.ok))
    out.push({
      severity: 'info',
      code: 'SIZE_ESTIMATE',
      message: `images need ${formatBytes(report.totalBytes)} (layers shared across images counted once), ${formatBytes(report.totalBytes - report.cachedBytes)} not yet cached`,
    });
  for (const d of report.disks.filter((x) => !x.ok)) {
    out.push({
      severity: 'error',
      code: 'DISK_SPACE',
      message: `${d.path}: ${formatBytes(d.freeBytes)} free, ${formatBytes(d.neededBytes)} needed`,
    });
  }
  return out;
}
