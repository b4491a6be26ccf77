import { KkoError } from '../errors.js';
import { cutText } from '../util/safe-text.js';
import type { ArchiveCompression } from '../archive/reader.js';

// One regular file seen in the archive; sha256 (hex) when the scan hashed it; deferred when the scan left the hash to
// the reader (ScanOptions.hash 'kept'): a blob's bytes are then checked against its name when they are read.
export type FileRecord = {
  readonly name: string;
  readonly size: number;
  readonly sha256?: string;
  readonly deferred?: boolean;
};

// Everything one pass over an artifact keeps: a digest per file, the small metadata documents, and the blobs that
// parse as manifests (the only blobs needed whole to check the layout).
export type ScanResult = {
  readonly artifact: string;
  readonly compression: ArchiveCompression;
  readonly archiveBytes: number;
  readonly files: ReadonlyMap<string, FileRecord>;
  readonly docs: ReadonlyMap<string, Buffer>;
  readonly manifests: ReadonlyMap<string, Buffer>;
  readonly kept?: ReadonlyMap<string, Buffer>; // ScanOptions.keep's blobs by entry name (#12)
  readonly md5: string;
  readonly mtimes?: ReadonlySet<number>; // the files' header mtimes (kko writes one for all)
  readonly sha256?: string; // of the archive's bytes, with ScanOptions.archiveSha256
};

export type ProblemKind = 'missing' | 'extra' | 'corrupt';
export type Problem = { readonly kind: ProblemKind; readonly path: string; readonly detail?: string };

// "missing: path", "corrupt: path (sha256 want X got Y)", "extra: path": the one textual form of a problem. The
// path may come from the artifact's own SHA256SUMS: cut and escaped (cutText), so one hostile line stays one line.
export function formatProblem(p: Problem): string {
  return `${p.kind}: ${cutText(p.path, 512)}${p.detail ? ` (${p.detail})` : ''}`;
}

// Thrown by import when the artifact is readable but incomplete or tampered; carries every problem found.
export class ArtifactProblemsError extends KkoError {
  readonly problems: readonly Problem[];
  constructor(message: string, problems: readonly Problem[]) {
    super('ARTIFACT_CORRUPT', message, {
      hint: 'run `kko artifact verify` for the full report; re-export or re-copy the artifact',
    });
    this.problems = problems;
  }
}

// "3 problems (1 missing, 2 corrupt)".
export function summarizeProblems(problems: readonly Problem[]): string {
  const counts = (['missing', 'corrupt', 'extra'] as const)
    .map((k) => [k, problems.filter((p) => p.kind === k).length] as const)
    .filter(([, n]) => n > 0);
  return `${problems.length} problem${problems.length === 1 ? '' : 's'} (${counts.map(([k, n]) => `${n} ${k}`).join(', ')})`;
}
