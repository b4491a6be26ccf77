import type { Readable } from 'node:stream';
import { fetch as undiciFetch, type Dispatcher, type Headers } from 'undici';
import { noopLogger, type Logger } from '../log.js';
import { VERSION } from '../version.js';
import { isRetryableStatus, redactUrl, RegistryError } from './errors.js';
import { abortableSleep, backoffDelay, parseRetryAfter } from './retry.js';
import { Semaphore } from './semaphore.js';
import { rootCause, TRANSIENT_CODES } from '../util/net-errors.js';

export type FetchFn = typeof undiciFetch;
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

export type HttpOptions = {
  fetch?: FetchFn;
  dispatcher?: Dispatcher;
  userAgent?: string;
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRetryAfterMs?: number;
  maxConcurrency?: number;
  maxRedirects?: number;
  sleep?: SleepFn;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
};

export type HttpRequest = {
  readonly method: string;
  readonly url: URL;
  readonly what: string;
  readonly headers?: Readonly<Record<string, string>>;
  // A Buffer can be re-sent (retries, redirects); a stream is sent once.
  readonly body?: Buffer | Readable;
  // Sent only while a hop's origin equals authOrigin: a redirect to blob storage gets no credentials.
  readonly authorization?: string;
  readonly authOrigin?: string;
  readonly signal?: AbortSignal;
};

// A response whose body holds a per-host slot until it is read to the end or discarded.
export type HttpResponse = {
  readonly status: number;
  readonly headers: Headers;
  readonly url: URL;
  readonly body: ReadableStream<Uint8Array> | null;
};

const TLS_HINT = 'set certsPath to a directory with the registry CA (*.crt), or skipTLSVerify: true for a test registry';
const PLAIN_HINT = 'if the registry speaks plain HTTP, set plainHTTP: true for it';


// Wrap a transport failure as NETWORK_ERROR; TLS and protocol mismatches are not retryable and get a hint.
// `midBody`: the headers had arrived, so whatever broke the body is transient (resume with Range).
export function networkError(what: string, method: string, url: URL, err: unknown, midBody = false): RegistryError {
  if (err instanceof RegistryError) return err;
  const { code, message } = rootCause(err);
  const tls = code !== undefined && (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code));
  const hint = tls ? TLS_HINT : code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? PLAIN_HINT : undefined;
  const why = code ? `${code}: ${message}` : message;
  return new RegistryError('NETWORK_ERROR', `${what}: ${method} ${redactUrl(url)}: ${why}`, {
    method,
    url,
    cause: err,
    retryable: midBody || (code !== undefined && TRANSIENT_CODES.has(code)),
    ...(hint ? { hint } : {}),
  });
}

// Re-wrap a body so `release` runs exactly once, when it ends, errors, or is cancelled.
function releaseOnSettle(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await reader.read();
        if (r.done) {
          release();
          ctrl.close();
        } else ctrl.enqueue(r.value);
      } catch (err) {
        release();
        ctrl.error(err);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

function isReplayable(body: HttpRequest['body']): boolean {
  return body === undefined || Buffer.isBuffer(body);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

// Drop a response body we will not read (frees the connection and the per-host slot).
export async function discardBody(res: HttpResponse): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

// The fetch pipeline every registry request goes through: redirects by hand, retries, per-host slots.
export class HttpTransport {
  readonly #fetch: FetchFn;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #userAgent: string;
  readonly #retries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #maxConcurrency: number;
  readonly #maxRedirects: number;
  readonly #sleep: SleepFn;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #slots = new Map<string, Semaphore>();

  constructor(opts: HttpOptions = {}) {
    this.#fetch = opts.fetch ?? undiciFetch;
    this.#dispatcher = opts.dispatcher;
    this.#userAgent = opts.userAgent ?? `kko/${VERSION}`;
    this.#retries = opts.retries ?? 4;
    this.#baseDelayMs = opts.baseDelayMs ?? 250;
    this.#maxDelayMs = opts.maxDelayMs ?? 8_000;
    this.#maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.#maxConcurrency = opts.maxConcurrency ?? 6;
    this.#maxRedirects = opts.maxRedirects ?? 5;
    this.#sleep = opts.sleep ?? abortableSleep;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#logger = opts.logger ?? noopLogger;
  }

  // Send a request, following redirects by hand. Authorization never leaves `authOrigin`.
  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let method = req.method;
    let body = req.body;
    for (let hop = 0; hop <= this.#maxRedirects; hop++) {
      const res = await this.#sendWithRetries({ ...req, url, method, body });
      const location = res.headers.get('location');
      if (!isRedirect(res.status) || location === null) return res;
      await discardBody(res);
      const next = this.#redirectTarget(req, method, url, location);
      this.#logger.debug(`${req.what}: redirected to ${redactUrl(next)}`);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      } else if (!isReplayable(body)) {
        throw new RegistryError('REGISTRY_ERROR', `${req.what}: ${method} ${redactUrl(url)}: redirect cannot replay a streamed body`, { method, url });
      }
      url = next;
    }
    throw new RegistryError('REGISTRY_ERROR', `${req.what}: ${req.method} ${redactUrl(req.url)}: more than ${this.#maxRedirects} redirects`, {
      method: req.method,
      url: req.url,
    });
  }

  #redirectTarget(req: HttpRequest, method: string, from: URL, location: string): URL {
    const next = new URL(location, from);
    const downgrade = from.protocol === 'https:' && next.protocol !== 'https:';
    if ((next.protocol !== 'http:' && next.protocol !== 'https:') || downgrade) {
      throw new RegistryError('REGISTRY_ERROR', `${req.what}: ${method} ${redactUrl(from)}: refusing redirect to ${redactUrl(next)}`, { method, url: from });
    }
    return next;
  }

  async #sendWithRetries(req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.#retries && isReplayable(req.body);
      let res: HttpResponse;
      try {
        res = await this.#sendOnce(req);
      } catch (err) {
        if (req.signal?.aborted) throw req.signal.reason;
        const e = networkError(req.what, req.method, req.url, err);
        if (!e.retryable || !canRetry) throw e;
        await this.#wait(req, this.#backoff(attempt), e.message);
        continue;
      }
      if (!isRetryableStatus(res.status) || !canRetry) return res;
      const delay = this.#retryDelay(req, res, attempt);
      await discardBody(res);
      await this.#wait(req, delay, `HTTP ${res.status}`);
    }
  }

  #backoff(attempt: number): number {
    return backoffDelay(attempt, { baseDelayMs: this.#baseDelayMs, maxDelayMs: this.#maxDelayMs, random: this.#random });
  }

  // Retry-After is honoured in full; a wait beyond maxRetryAfterMs is not shortened, the request fails instead.
  #retryDelay(req: HttpRequest, res: HttpResponse, attempt: number): number {
    const asked = parseRetryAfter(res.headers.get('retry-after'), this.#now());
    if (asked === undefined) return this.#backoff(attempt);
    if (asked > this.#maxRetryAfterMs) {
      void discardBody(res);
      throw new RegistryError(
        'REGISTRY_ERROR',
        `${req.what}: ${req.method} ${redactUrl(req.url)}: HTTP ${res.status}, server asks to retry after ${Math.ceil(asked / 1000)} s`,
        { status: res.status, method: req.method, url: req.url, hint: `the wait exceeds maxRetryAfterMs (${this.#maxRetryAfterMs} ms); raise it or try later` },
      );
    }
    return asked;
  }

  async #wait(req: HttpRequest, ms: number, why: string): Promise<void> {
    this.#logger.debug(`${req.what}: ${why}; retrying in ${ms} ms`);
    await this.#sleep(ms, req.signal);
  }

  #slot(origin: string): Semaphore {
    let s = this.#slots.get(origin);
    if (!s) this.#slots.set(origin, (s = new Semaphore(this.#maxConcurrency)));
    return s;
  }

  async #sendOnce(req: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    if (req.authorization !== undefined && req.url.origin === req.authOrigin) headers.authorization = req.authorization;
    const release = await this.#slot(req.url.origin).acquire();
    try {
      const res = await this.#fetch(req.url, {
        method: req.method,
        headers,
        body: req.body ?? null,
        redirect: 'manual',
        ...(req.body !== undefined && !Buffer.isBuffer(req.body) ? { duplex: 'half' as const } : {}),
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      if (res.body === null) release();
      return { status: res.status, headers: res.headers, url: req.url, body: res.body ? releaseOnSettle(res.body, release) : null };
    } catch (err) {
      release();
      throw err;
    }
  }
}
