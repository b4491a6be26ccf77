// Backoff and Retry-After arithmetic, kept pure so the policy can be tested without sockets.

export type BackoffOptions = {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly random: () => number;
};

// Exponential backoff with "equal jitter": half the window fixed, half random, so retries never bunch at 0 ms.
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const window = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt));
  return Math.round(window / 2 + opts.random() * (window / 2));
}

// RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date. Returns milliseconds from `nowMs`
// (never negative), or undefined when the header is absent or unparseable.
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Only something that looks like a date: Date.parse("5") would happily return the year 2005.
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

// Sleep that an AbortSignal can cut short (rejecting with the signal's reason).
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
