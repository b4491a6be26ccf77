import type { KkoError } from '../errors.js';
import { sourcesExhausted } from '../util/sources.js';
import { redactUrl } from '../registry/index.js';
import type { DownloadSource } from '../mirror/index.js';

// One source tried for a file, with how it is read: a raw file, or an archive holding the file (helm).
export type Candidate = DownloadSource & { archive: boolean };

export type Attempt = { candidate: Candidate; error: unknown };

// Try the candidates in order; the first success wins, and every failure is kept for the final error.
// After `signal` aborts, no further candidate is tried and its reason is thrown.
export async function firstSuccessful<T>(
  candidates: readonly Candidate[],
  what: string,
  op: (c: Candidate) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const attempts: Attempt[] = [];
  for (const candidate of candidates) {
    try {
      return await op(candidate);
    } catch (error) {
      signal?.throwIfAborted();
      attempts.push({ candidate, error });
    }
  }
  throw exhausted(what, attempts);
}

// "every source failed" with one line per source (see util/sources.ts), with a downloads-specific default hint.
export function exhausted(what: string, attempts: readonly Attempt[]): KkoError {
  const failures = attempts.map((a) => ({ source: redactUrl(a.candidate.url), via: a.candidate.via, error: a.error }));
  return sourcesExhausted(
    what,
    failures,
    'add a downloads mirror with --mirror-config; `kko mirror resolve <url>` shows what is tried',
    'file',
  );
}
