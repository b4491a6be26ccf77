// Socket and undici error codes after which the same request may well succeed (retry, or resume with Range).
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
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
