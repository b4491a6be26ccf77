import { isKkoError, KkoError, type ErrorCode } from '../errors.js';
import { redactText } from './redact.js';
import { safeText } from './safe-text.js';

// Every message and source URL printed goes through redactText (no userinfo, no query strings).
export { redactText };

// One source tried for an image or a file, and why it failed; `source` is already redacted for display.
export type SourceFailure = { source: string; via: string; error: unknown };

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// "<what>: every source failed" with one line per source. One shared code is kept (WRONG_PLATFORM everywhere
// stays WRONG_PLATFORM); mixed codes become MIRRORS_EXHAUSTED. The first source's hint wins, else `fallbackHint`.
// Each source and error text has its URLs redacted (credentials, signed query strings); the rest is kept as is.
export function sourcesExhausted(what: string, failures: readonly SourceFailure[], fallbackHint?: string): KkoError {
  const lines = failures.map((f, i) => `  ${i + 1}) ${redactText(f.source)} (${f.via}): ${safeText(redactText(errorText(f.error)))}`);
  const codes = new Set(failures.map((f) => (isKkoError(f.error) ? f.error.code : 'NETWORK_ERROR')));
  const code: ErrorCode = codes.size === 1 ? ([...codes][0] as ErrorCode) : 'MIRRORS_EXHAUSTED';
  const hint = failures.map((f) => (isKkoError(f.error) ? f.error.hint : undefined)).find((h): h is string => h !== undefined) ?? fallbackHint;
  return new KkoError(code, `${what}: every source failed:\n${lines.join('\n')}`, { cause: failures[0]?.error, ...(hint ? { hint } : {}) });
}
