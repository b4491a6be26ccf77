import { isKkoError, KkoError, type ErrorCode } from '../errors.js';
import { redactUrl } from '../registry/index.js';
import { errorText } from './file-download.js';

// One URL tried for a file, with how it is read: a raw file, or an archive holding the file (helm).
export type Candidate = { url: string; via: 'mirror' | 'upstream'; skipTLSVerify: boolean; certsPath?: string; archive: boolean };

export type Attempt = { candidate: Candidate; error: unknown };

// Try the candidates in order; the first success wins, and every failure is kept for the final error.
export async function firstSuccessful<T>(candidates: readonly Candidate[], what: string, op: (c: Candidate) => Promise<T>): Promise<T> {
  const attempts: Attempt[] = [];
  for (const candidate of candidates) {
    try {
      return await op(candidate);
    } catch (error) {
      attempts.push({ candidate, error });
    }
  }
  throw exhausted(what, attempts);
}

// "every source failed" with one line per source; one shared code is kept, mixed codes become MIRRORS_EXHAUSTED.
export function exhausted(what: string, attempts: readonly Attempt[]): KkoError {
  const lines = attempts.map((a, i) => `  ${i + 1}) ${redactUrl(a.candidate.url)} (${a.candidate.via}): ${errorText(a.error)}`);
  const codes = new Set(attempts.map((a) => (isKkoError(a.error) ? a.error.code : 'NETWORK_ERROR')));
  const code: ErrorCode = codes.size === 1 ? ([...codes][0] as ErrorCode) : 'MIRRORS_EXHAUSTED';
  const hints = attempts.map((a) => (isKkoError(a.error) ? a.error.hint : undefined)).filter((h): h is string => h !== undefined);
  const hint = hints[0] ?? 'add a downloads mirror with --mirror-config; `kko mirror resolve <url>` shows what is tried';
  return new KkoError(code, `${what}: every source failed:\n${lines.join('\n')}`, { cause: attempts[0]?.error, hint });
}
