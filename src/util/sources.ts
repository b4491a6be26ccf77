import { isKkoError, KkoError, type ErrorCode } from '../errors.js';

// One source tried for an image or a file, and why it failed; `source` is already redacted for display.
export type SourceFailure = { source: string; via: string; error: unknown };

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Strip userinfo from every URL in a text ("http://alice:s3cret@host/" → "http://***@host/"): error messages of
// libraries quote URLs as given, and no secret may reach a terminal or a log.
export function redactText(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}

// "<what>: every source failed" with one line per source. One shared code is kept (WRONG_PLATFORM everywhere
// stays WRONG_PLATFORM); mixed codes become MIRRORS_EXHAUSTED. The first source's hint wins, else `fallbackHint`.
// `redact` cleans each error text (URLs with credentials or signed query strings).
export function sourcesExhausted(what: string, failures: readonly SourceFailure[], fallbackHint?: string, redact: (text: string) => string = (t) => t): KkoError {
  const lines = failures.map((f, i) => `  ${i + 1}) ${redactText(f.source)} (${f.via}): ${redactText(redact(errorText(f.error)))}`);
  const codes = new Set(failures.map((f) => (isKkoError(f.error) ? f.error.code : 'NETWORK_ERROR')));
  const code: ErrorCode = codes.size === 1 ? ([...codes][0] as ErrorCode) : 'MIRRORS_EXHAUSTED';
  const hint = failures.map((f) => (isKkoError(f.error) ? f.error.hint : undefined)).find((h): h is string => h !== undefined) ?? fallbackHint;
  return new KkoError(code, `${what}: every source failed:\n${lines.join('\n')}`, { cause: failures[0]?.error, ...(hint ? { hint } : {}) });
}
