import { isKkoError, KkoError } from '../errors.js';
import { errnoOf, fsError } from './fs-errors.js';

// Socket and undici error codes after which the same request may well succeed (retry, or resume with Range).
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// The innermost errno / undici code and message of a fetch failure ("fetch failed" and "terminated" hide it in `cause`).
export function rootCause(err: unknown): { code?: string; message: string } {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur instanceof Error; i++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return { code, message: cur.message };
    if (!(cur.cause instanceof Error)) return { message: cur.message };
    cur = cur.cause;
  }
  return { message: String(err) };
}

// Worth another (Range) request: an error that says so, or any failure that is not a decided KkoError
// (resets, truncated bodies). A full disk, a refusal or a digest mismatch is not.
export function retryable(err: unknown): boolean {
  const r = (err as { retryable?: unknown } | null)?.retryable;
  if (typeof r === 'boolean') return r;
  return !isKkoError(err) || err.code === 'NETWORK_ERROR';
}

// A failed write to `file`: IO_ERROR whatever the errno (a write that failed is never retried, and never the user's
// input), worded by the one errno mapping (fs-errors.ts); a full disk gets the cache's own hint.
export function writeError(file: string, err: unknown): KkoError {
  const mapped = fsError('writing', file, err);
  const hint = errnoOf(err) === 'ENOSPC' ? 'the disk is full: free space or use --cache on a larger disk' : mapped.hint;
  return new KkoError('IO_ERROR', mapped.message, { cause: err, ...(hint ? { hint } : {}) });
}
