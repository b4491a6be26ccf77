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

const codeOf = (e: unknown): ErrorCode => (isKkoError(e) ? e.code : 'NETWORK_ERROR');
const MISMATCH = new Set<string>(['DIGEST_MISMATCH', 'CHECKSUM_MISMATCH']);

// "<what>: every source failed", keeping what failed (`what`) apart from why (`detail`, one line per source), so
// a report can group the items one broken mirror took down and print the cause once.
export class SourcesExhaustedError extends KkoError {
  readonly what: string;
  readonly detail: string;
  // Per source: where, how, and the error with this item's own names taken out (see causeKey).
  readonly causes: ReadonlyArray<{ source: string; via: string; code: ErrorCode; text: string }>;

  constructor(code: ErrorCode, what: string, failures: readonly SourceFailure[], hint: string | undefined) {
    const lines = failures.map(
      (f, i) => `  ${i + 1}) ${redactText(f.source)} (${f.via}): ${safeText(redactText(errorText(f.error)))}`,
    );
    const detail = `every source failed:\n${lines.join('\n')}`;
    super(code, `${what}: ${detail}`, { cause: failures[0]?.error, ...(hint ? { hint } : {}) });
    this.what = what;
    this.detail = detail;
    this.causes = failures.map((f) => ({
      source: hostOf(redactText(f.source)),
      via: f.via,
      code: codeOf(f.error),
      text: withoutPaths(safeText(redactText(errorText(f.error)))),
    }));
  }
}

// "127.0.0.1:5000/kubesphere/pause:3.9" or "http://h/dl/x" → the host part; what is left once the item's name goes.
function hostOf(source: string): string {
  const m = /^(?:[a-z]+:\/\/)?(?:[^@/]*@)?([^/]+)/i.exec(source);
  return m?.[1] ?? source;
}

// A URL or reference in an error text keeps its host and loses its path (the part naming this one item), so that
// one refused connection reads the same for every image behind that mirror.
function withoutPaths(text: string): string {
  return text.replace(/((?:[a-z]+:\/\/)?[\w.-]+(?::\d+)?)\/\S*?(?=:\s|[\s,)]|$)/gi, '$1/…');
}

// The hint for an item every source failed for. A source's own hint (TLS, 404, auth) wins, except that bytes that
// did not match are about the source's copy, not about missing mirrors; "add a mirror" only when none was tried.
function hintFor(
  failures: readonly SourceFailure[],
  kind: 'image' | 'file',
  fallbackHint: string | undefined,
): string | undefined {
  const mirrored = failures.some((f) => f.via === 'mirror');
  if (failures.length > 0 && failures.every((f) => MISMATCH.has(codeOf(f.error)))) {
    return kind === 'file'
      ? `the bytes served do not match the catalog's sha256: ${mirrored ? 'the mirror holds a different or damaged copy; replace it there' : 'the upstream file changed or was damaged in transit; re-run, or report it if it persists'}`
      : `the bytes served do not match their digest: ${mirrored ? 'the mirror holds a damaged copy of the image; re-push it there' : 're-run; report it if it persists'}`;
  }
  const own = failures
    .map((f) => (isKkoError(f.error) ? f.error.hint : undefined))
    .find((h): h is string => h !== undefined);
  if (own) return own;
  if (mirrored && kind === 'file')
    return 'every configured source failed: check the mirrors of the mirror config; `kko mirror resolve <url>` shows what is tried';
  return fallbackHint;
}

// One shared code is kept (WRONG_PLATFORM everywhere stays WRONG_PLATFORM); mixed codes become MIRRORS_EXHAUSTED.
// Each source and error text has its URLs redacted (credentials, signed query strings); the rest is kept as is.
export function sourcesExhausted(
  what: string,
  failures: readonly SourceFailure[],
  fallbackHint?: string,
  kind: 'image' | 'file' = 'image',
): SourcesExhaustedError {
  const codes = new Set(failures.map((f) => codeOf(f.error)));
  const code: ErrorCode = codes.size === 1 ? ([...codes][0] as ErrorCode) : 'MIRRORS_EXHAUSTED';
  return new SourcesExhaustedError(code, what, failures, hintFor(failures, kind, fallbackHint));
}

// Failed items grouped by cause: items whose sources failed the same way (same hosts, same errors once the item's
// own names are taken out) form one group, reported once with the list of items.
export type FailureGroup = { code: string; message: string; hint?: string; items: string[] };

export function groupFailures(failures: ReadonlyArray<{ item: string; error: unknown }>): FailureGroup[] {
  const groups = new Map<string, FailureGroup & { first: unknown }>();
  for (const f of failures) {
    const e = f.error;
    const key =
      e instanceof SourcesExhaustedError
        ? JSON.stringify([e.code, e.causes])
        : `${codeOf(e)}\0${withoutPaths(errorText(e)).replaceAll(f.item, '…')}`;
    const g = groups.get(key);
    if (g) g.items.push(f.item);
    else
      groups.set(key, {
        code: codeOf(e),
        message: errorText(e),
        ...(isKkoError(e) && e.hint ? { hint: e.hint } : {}),
        items: [f.item],
        first: e,
      });
  }
  return [...groups.values()].map(({ first, ...g }) => {
    if (g.items.length === 1) return g;
    // several items: the cause once, by host; the items listed after it
    const why =
      first instanceof SourcesExhaustedError
        ? `every source failed:\n${first.causes.map((c, i) => `  ${i + 1}) ${c.source} (${c.via}): ${c.text}`).join('\n')}`
        : withoutPaths(g.message);
    return { ...g, message: `${g.items.length} items failed the same way: ${why}` };
  });
}
