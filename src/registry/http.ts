import { finished, Readable } from 'node:stream';
import type { fetch as undiciFetch, Dispatcher, Headers } from 'undici';
import { isKkoError, type ErrorCode, type KkoError } from '../errors.js';
import type { HostTls } from '../host/index.js';
import { noopLogger, type Logger } from '../log.js';
import { rootCause, TRANSIENT_CODES } from '../util/net-errors.js';
import { redactText } from '../util/redact.js';
import { VERSION } from '../version.js';
import { isRetryableStatus, redactUrl, RegistryError, type RegistryErrorOptions } from './errors.js';
import { abortableSleep, backoffDelay, parseRetryAfter } from './retry.js';
import { Semaphore } from '../util/semaphore.js';
import { AgentPool } from './tls.js';
import { undici } from './undici.js';

export type FetchFn = typeof undiciFetch;
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

// The numbers of the transport; each user (registry session, file downloader) has its own defaults.
type Tuning = {
  retries: number; // per request (per redirect hop), before the body: connect errors, 5xx, 408, 429
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number; // a longer Retry-After fails the request instead of being shortened
  maxConcurrency: number; // requests in flight per origin (a slot is held until the body is read or discarded)
  // `small` requests (manifests, configs, HEADs) in flight per origin on slots of their own, beyond the free
  // maxConcurrency slots they also use: a manifest never waits for a slot that a long blob body holds (#10)
  maxSmallConcurrency: number;
  maxRedirects: number;
  connectTimeoutMs: number; // TCP + TLS handshake
  headersTimeoutMs: number; // request sent → response headers
  idleTimeoutMs: number; // no body byte for this long → the body fails (retryable: resume with Range)
};

export type HttpOptions = Partial<Tuning> & {
  fetch?: FetchFn; // tests inject a guard that only lets loopback through
  dispatcher?: Dispatcher; // one dispatcher for every request instead of the transport's own TLS pools
  tls?: HostTls; // for requests that name none: a registry session's host, on every hop (token realm, blob storage)
  userAgent?: string;
  sleep?: SleepFn;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
};

// Who the transport works for: its defaults, the error class it throws and the hints it gives.
export type TransportProfile = {
  readonly defaults: Readonly<Tuning>;
  readonly failCode: ErrorCode; // a refused redirect, a redirect loop, a Retry-After beyond the limit, a wrong Content-Range
  readonly error: (code: ErrorCode, message: string, opts: RegistryErrorOptions) => TransportFailure;
  readonly hints: { readonly tls: string; readonly plainHTTP?: string; readonly retryAfter: (maxMs: number) => string };
};

// What the transport throws: a KkoError that says whether another (Range) request may help.
export type TransportFailure = KkoError & { readonly retryable?: boolean };

export type HttpRequest = {
  readonly method: string;
  readonly url: URL;
  readonly what: string; // "getting blob …"; empty: messages start with "GET <url>"
  readonly headers?: Readonly<Record<string, string>>;
  // A Buffer can be re-sent (retries, redirects); a stream is sent once.
  readonly body?: Buffer | Readable;
  // Sent only while a hop's origin equals authOrigin: a redirect to blob storage or another host gets no credentials.
  readonly authorization?: string;
  readonly authOrigin?: string;
  // How to trust the server; with tlsOrigin, only on that origin (a redirect elsewhere gets the system roots).
  readonly tls?: HostTls;
  readonly tlsOrigin?: string;
  readonly signal?: AbortSignal;
  // A small response (a manifest, a config, a HEAD): it takes a free maxConcurrency slot of its origin, else one of
  // the origin's maxSmallConcurrency slots, so it never waits for bulk bodies, which hold theirs for seconds.
  readonly small?: boolean;
  // A bulk body (blob and file downloads): read through `HttpResponse.nodeBody`, a Node stream straight from the
  // socket, without fetch's web stream and its per-chunk copy.
  readonly bulk?: boolean;
};

// A response whose body holds a per-origin slot until it is read to the end or discarded.
export type HttpResponse = {
  readonly status: number;
  readonly headers: Headers;
  readonly url: URL;
  readonly body: ReadableStream<Uint8Array> | null;
  // The body as a Node stream (a request sent with the dispatcher's request API: a streamed upload or a `bulk` read);
  // use either this or `body`, not both. Undefined when fetch sent the request (`body` is its only form then).
  readonly nodeBody?: Readable;
};

export const REGISTRY_PROFILE: TransportProfile = {
  defaults: {
    retries: 4,
    baseDelayMs: 250,
    maxDelayMs: 8_000,
    maxRetryAfterMs: 60_000,
    maxConcurrency: 6,
    maxSmallConcurrency: 4,
    maxRedirects: 5,
    connectTimeoutMs: 30_000,
    headersTimeoutMs: 30_000,
    idleTimeoutMs: 30_000,
  },
  failCode: 'REGISTRY_ERROR',
  error: (code, message, opts) => new RegistryError(code, message, opts),
  hints: {
    tls: 'set certsPath to a directory with the registry CA (*.crt), or skipTLSVerify: true for a test registry',
    plainHTTP: 'if the registry speaks plain HTTP, set plainHTTP: true for it',
    retryAfter: (ms) => `the wait exceeds maxRetryAfterMs (${ms} ms); raise it or try later`,
  },
};

// "what: METHOD url", how every transport message starts ("METHOD url" when the caller names no operation).
export function requestLabel(what: string, method: string, url: URL | string): string {
  return what ? `${what}: ${method} ${redactUrl(url)}` : `${method} ${redactUrl(url)}`;
}

// Wrap a transport failure as NETWORK_ERROR; TLS and protocol mismatches are not retryable and get a hint.
// `midBody`: the headers had arrived, so whatever broke the body is transient (resume with Range). kko's own
// errors (a certsPath that cannot be read, a size limit) pass through as they are.
export function transportFailure(
  profile: TransportProfile,
  what: string,
  method: string,
  url: URL,
  err: unknown,
  midBody = false,
): TransportFailure {
  if (isKkoError(err)) return err;
  const { code, message } = rootCause(err);
  const tls = code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code);
  const hint = tls ? profile.hints.tls : code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? profile.hints.plainHTTP : undefined;
  const why = redactText(code ? `${code}: ${message}` : message);
  return profile.error('NETWORK_ERROR', `${requestLabel(what, method, url)}: ${why}`, {
    method,
    url,
    cause: err,
    retryable: !tls && (midBody || (code !== undefined && TRANSIENT_CODES.has(code))),
    ...(hint ? { hint } : {}),
  });
}

// The registry's wording of transportFailure.
export function networkError(what: string, method: string, url: URL, err: unknown, midBody = false): TransportFailure {
  return transportFailure(REGISTRY_PROFILE, what, method, url, err, midBody);
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

// Drop a response body we will not read (frees the connection and the per-origin slot).
export async function discardBody(res: HttpResponse): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

type Hop = { url: URL; method: string; body: HttpRequest['body'] };

// Requests sent with the dispatcher's request API on the same dispatcher fetch would use, where fetch would copy
// every chunk between web streams (cloneAsUint8Array on both sides): streamed request bodies (blob uploads: PUT,
// PATCH; ~1/4 of push's CPU besides hashing) and `bulk` response bodies (blob downloads: #10, the loopback export's
// CPU). Redirects, retries, credentials and TLS stay in HttpTransport; only this one send differs. The response body
// is handed on as a Node stream (`nodeBody`), and as a web stream (`body`) made from it only if a caller asks.
async function sendWithRequest(
  dispatcher: Dispatcher,
  req: HttpRequest,
  headers: Record<string, string>,
  release: () => void,
): Promise<HttpResponse> {
  const res = await dispatcher.request({
    origin: req.url.origin,
    path: `${req.url.pathname}${req.url.search}`,
    method: req.method as Dispatcher.HttpMethod,
    headers,
    ...(req.body !== undefined ? { body: req.body } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  const h = new (await undici()).Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const one of v) h.append(k, one);
    else if (v !== undefined) h.set(k, v);
  }
  const noBody = res.statusCode === 204 || res.statusCode === 304 || req.method === 'HEAD';
  if (noBody) {
    res.body.resume();
    release();
    return { status: res.statusCode, headers: h, url: req.url, body: null };
  }
  // The slot is held until the body ends, fails or is destroyed (what releaseOnSettle does for a web stream).
  const node: Readable = res.body;
  finished(node, () => release());
  let web: ReadableStream<Uint8Array> | undefined;
  return {
    status: res.statusCode,
    headers: h,
    url: req.url,
    get body(): ReadableStream<Uint8Array> {
      web ??= Readable.toWeb(node) as ReadableStream<Uint8Array>;
      return web;
    },
    nodeBody: node,
  };
}

// The one HTTP transport of kko (registries and file downloads), in layers as ggcr's transport: redirects by
// hand (credentials stay on their origin, no https → http), retries with backoff and Retry-After, a per-origin
// slot, and a TLS pool per host setting. Every URL in a message or log line is redacted.
export class HttpTransport {
  readonly #profile: TransportProfile;
  readonly #tuning: Tuning;
  readonly #fetch: FetchFn | undefined; // undefined: undici's, loaded with the first request
  readonly #useRequest: boolean; // streamed and bulk bodies through dispatcher.request (no injected fetch to honour)
  readonly #dispatcher: Dispatcher | undefined;
  readonly #tls: HostTls | undefined;
  readonly #agents: AgentPool;
  readonly #userAgent: string;
  readonly #sleep: SleepFn;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #slots = new Map<string, Semaphore>();

  constructor(opts: HttpOptions = {}, profile: TransportProfile = REGISTRY_PROFILE) {
    this.#profile = profile;
    const d = profile.defaults;
    this.#tuning = { ...d };
    for (const k of Object.keys(d) as Array<keyof Tuning>) this.#tuning[k] = opts[k] ?? d[k];
    this.#fetch = opts.fetch;
    this.#useRequest = opts.fetch === undefined;
    this.#dispatcher = opts.dispatcher;
    this.#tls = opts.tls;
    this.#agents = new AgentPool(this.#tuning);
    this.#userAgent = opts.userAgent ?? `kko/${VERSION}`;
    this.#sleep = opts.sleep ?? abortableSleep;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#logger = opts.logger ?? noopLogger;
  }

  // Send a request, following redirects by hand. Authorization never leaves `authOrigin`.
  async send(req: HttpRequest): Promise<HttpResponse> {
    let hop: Hop = { url: req.url, method: req.method, body: req.body };
    for (let n = 0; n <= this.#tuning.maxRedirects; n++) {
      const res = await this.#sendWithRetries({ ...req, ...hop });
      const location = res.headers.get('location');
      if (!isRedirect(res.status) || location === null) return res;
      await discardBody(res);
      hop = this.#redirect(req, hop, res.status, location);
      this.#logger.debug(`${requestLabel(req.what, req.method, req.url)}: redirected to ${redactUrl(hop.url)}`);
    }
    throw this.#fail(
      `${requestLabel(req.what, req.method, req.url)}: more than ${this.#tuning.maxRedirects} redirects`,
      { method: req.method, url: req.url },
    );
  }

  // Close the connection pools this transport opened (an injected dispatcher is the caller's).
  async close(): Promise<void> {
    await this.#agents.close();
  }

  // The next hop: http(s) only, never https → http; 303 (and 301/302 after a POST) becomes a GET.
  #redirect(req: HttpRequest, from: Hop, status: number, location: string): Hop {
    const next = new URL(location, from.url);
    const downgrade = from.url.protocol === 'https:' && next.protocol !== 'https:';
    if ((next.protocol !== 'http:' && next.protocol !== 'https:') || downgrade) {
      throw this.#fail(`${requestLabel(req.what, from.method, from.url)}: refusing redirect to ${redactUrl(next)}`, {
        method: from.method,
        url: from.url,
      });
    }
    if (status === 303 || ((status === 301 || status === 302) && from.method === 'POST'))
      return { url: next, method: 'GET', body: undefined };
    if (!isReplayable(from.body)) {
      throw this.#fail(`${requestLabel(req.what, from.method, from.url)}: redirect cannot replay a streamed body`, {
        method: from.method,
        url: from.url,
      });
    }
    return { ...from, url: next };
  }

  #fail(message: string, opts: RegistryErrorOptions): TransportFailure {
    return this.#profile.error(this.#profile.failCode, message, opts);
  }

  async #sendWithRetries(req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.#tuning.retries && isReplayable(req.body);
      let res: HttpResponse;
      try {
        res = await this.#sendOnce(req);
      } catch (err) {
        if (req.signal?.aborted) throw req.signal.reason;
        const e = transportFailure(this.#profile, req.what, req.method, req.url, err);
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
    return backoffDelay(attempt, {
      baseDelayMs: this.#tuning.baseDelayMs,
      maxDelayMs: this.#tuning.maxDelayMs,
      random: this.#random,
    });
  }

  // Retry-After is honoured in full; a wait beyond maxRetryAfterMs is not shortened, the request fails instead.
  #retryDelay(req: HttpRequest, res: HttpResponse, attempt: number): number {
    const asked = parseRetryAfter(res.headers.get('retry-after'), this.#now());
    if (asked === undefined) return this.#backoff(attempt);
    if (asked <= this.#tuning.maxRetryAfterMs) return asked;
    void discardBody(res);
    throw this.#fail(
      `${requestLabel(req.what, req.method, req.url)}: HTTP ${res.status}, server asks to retry after ${Math.ceil(asked / 1000)} s`,
      {
        status: res.status,
        method: req.method,
        url: req.url,
        hint: this.#profile.hints.retryAfter(this.#tuning.maxRetryAfterMs),
      },
    );
  }

  async #wait(req: HttpRequest, ms: number, why: string): Promise<void> {
    this.#logger.debug(`${requestLabel(req.what, req.method, req.url)}: ${why}; retrying in ${ms} ms`);
    await this.#sleep(ms, req.signal).catch((err: unknown) => {
      req.signal?.throwIfAborted();
      throw err;
    });
  }

  #slot(origin: string, small: boolean): Semaphore {
    const key = small ? `small ${origin}` : origin;
    let s = this.#slots.get(key);
    if (!s) {
      s = new Semaphore(small ? this.#tuning.maxSmallConcurrency : this.#tuning.maxConcurrency);
      this.#slots.set(key, s);
    }
    return s;
  }

  // The request's TLS settings on its own origin (on every hop when it names no tlsOrigin), else the transport's.
  #dispatcherFor(req: HttpRequest): Promise<Dispatcher> {
    if (this.#dispatcher) return Promise.resolve(this.#dispatcher);
    if (req.tls === undefined) return this.#agents.get(this.#tls);
    const own = req.tlsOrigin === undefined || req.url.origin === req.tlsOrigin;
    return this.#agents.get(own ? req.tls : undefined);
  }

  async #sendOnce(req: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    if (req.authorization !== undefined && req.url.origin === req.authOrigin) headers.authorization = req.authorization;
    const dispatcher = await this.#dispatcherFor(req);
    // A small request takes a free bulk slot when there is one (at the start, before any layer), else its own.
    const bulk = this.#slot(req.url.origin, false);
    const release =
      (req.small === true ? bulk.tryAcquire() : undefined) ??
      (await (req.small === true ? this.#slot(req.url.origin, true) : bulk).acquire());
    try {
      const streamed = req.body !== undefined && !Buffer.isBuffer(req.body);
      if (this.#useRequest && (streamed || req.bulk === true))
        return await sendWithRequest(dispatcher, req, headers, release);
      const res = await (this.#fetch ?? (await undici()).fetch)(req.url, {
        method: req.method,
        headers,
        body: req.body ?? null,
        redirect: 'manual',
        dispatcher,
        ...(req.body !== undefined && !Buffer.isBuffer(req.body) ? { duplex: 'half' as const } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      if (res.body === null) release();
      return {
        status: res.status,
        headers: res.headers,
        url: req.url,
        body: res.body ? releaseOnSettle(res.body, release) : null,
      };
    } catch (err) {
      release();
      throw err;
    }
  }
}
