import type { ArchiveCompression } from '../archive/reader.js';
import { SUMS_NAME } from '../archive/checksums.js';
import { BLOBS_PREFIX, INDEX_NAME, INVENTORY_NAME } from './docs.js';
import { checkArtifact } from './checks.js';
import { scanArtifact } from './scan.js';
import type { Problem, ScanResult } from './types.js';

export type VerifyReport = {
  readonly artifact: string;
  readonly compression: ArchiveCompression;
  readonly ok: boolean;
  readonly files: number;
  readonly blobs: number;
  readonly bytes: number;
  // Which references the artifact carried: without SHA256SUMS only blobs (by name) and the layout can be checked.
  readonly checked: { readonly checksums: boolean; readonly layout: boolean; readonly inventory: boolean };
  readonly problems: readonly Problem[];
};

// The report for a finished scan (also what import decides on).
export function verifyScan(scan: ScanResult): VerifyReport {
  const problems = checkArtifact(scan);
  const files = [...scan.files.values()];
  return {
    artifact: scan.artifact,
    compression: scan.compression,
    ok: problems.length === 0,
    files: files.length,
    blobs: files.filter((f) => f.name.startsWith(BLOBS_PREFIX)).length,
    bytes: files.reduce((n, f) => n + f.size, 0),
    checked: { checksums: scan.docs.has(SUMS_NAME), layout: scan.docs.has(INDEX_NAME), inventory: scan.docs.has(INVENTORY_NAME) },
    problems,
  };
}

// Re-hash every file of the artifact in one streaming pass (no unpacking) and check it against its own references.
// Problems are returned, not thrown; unreadable or hostile input throws (UNSAFE_ARCHIVE, FILE_NOT_FOUND, IO_ERROR).
export async function verifyArtifact(path: string): Promise<VerifyReport> {
  return verifyScan(await scanArtifact(path));
}
