import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { noopLogger, type Logger } from '../log.js';
import { backoffDelay, isRetryableStatus, loadCertsDir, parseRetryAfter, redactUrl } from '../registry/index.js';
import { VERSION } from '../version.js';
import { DownloadError, statusError, transportError } from './errors.js';
import { splitUserinfo } from './userinfo.js';

export type FetchFn = typeof undiciFetch;
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

// Where to GET and how to trust it; a DownloadSource from the mirror policy fits.
export type HttpSource = { readonly url: string; readonly skipTLSVerify?: boolean; readonly certsPath?: string | undefined };

export type HttpDownloaderOptions = {
  fetch?: FetchFn; // tests inject a guard that only lets loopback through
  userAgent?: string;
  connectTimeoutMs?: number; // TCP + TLS handshake
  headersTimeoutMs?: number; // request sent → response headers
  idleTimeoutMs?: number; // no body byte for this long → the body fails and is resumed with Range (kk's curl has none: #2356)
  retries?: number; // per request, before the body: connect errors, 5xx, 429
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRetryAfterMs?: number;
  maxRedirects?: number;
  maxBytes?: number; // refuse bodies beyond this (a mirror streaming garbage forever)
  sleep?: SleepFn;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
};

type Response = Awaited<ReturnType<FetchFn>>;
type Hop = { res: Response; url: URL };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// Only http(s) URLs are fetched: a mirror location of file:// or ftp:// is a configuration error.
export function parseHttpUrl(raw: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new DownloadError('INVALID_INPUT', `downloading "${redactUrl(raw)}": only http:// and https:// URLs are supported`);
  }
  return url;
}

// GET with resume for downloads (binaries, ISOs): redirects by hand, retries with backoff + jitter. The only
// credentials are a URL's own user:password@, sent as Basic auth to that origin only (never after a redirect
// elsewhere). skipTLSVerify / certsPath apply on the source's own origin only; a redirect elsewhere uses the system roots.
export class HttpDownloader {
  readonly #fetch: FetchFn;
  readonly #userAgent: string;
  readonly #timeouts: { connect: number; headers: number; idle: number };
  readonly #retries: number;
  readonly #delay: { baseDelayMs: number; maxDelayMs: number; random: () => number };
  readonly #maxRetryAfterMs: number;
  readonly #maxRedirects: number;
  readonly #maxBytes: number;
  readonly #sleep: SleepFn;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #agents = new Map<string, Promise<Agent>>();

  constructor(opts: HttpDownloaderOptions = {}) {
    this.#fetch = opts.fetch ?? undiciFetch;
    this.#userAgent = opts.userAgent ?? `kko/${VERSION}`;
    this.#timeouts = { connect: opts.connectTimeoutMs ?? 30_000, headers: opts.headersTimeoutMs ?? 60_000, idle: opts.idleTimeoutMs ?? 60_000 };
    this.#retries = opts.retries ?? 4;
    this.#delay = { baseDelayMs: opts.baseDelayMs ?? 500, maxDelayMs: opts.maxDelayMs ?? 15_000, random: opts.random ?? Math.random };
    this.#maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.#maxRedirects = opts.maxRedirects ?? 10;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 ** 3;
    this.#sleep = opts.sleep ?? ((ms, signal) => sleep(ms, undefined, signal ? { signal } : {}));
    this.#now = opts.now ?? Date.now;
    this.#logger = opts.logger ?? noopLogger;
  }

  // The bytes of `source.url` from `offset` on (Range: bytes=N-; a 200 answer has its first N bytes dropped).
  // `signal` cancels the request, the retry waits and the body; its reason is thrown. `onSize` learns the whole
  // file's size from the headers (Content-Length of a 200, the total of a 206's Content-Range), when they give it.
  async open(source: HttpSource, offset = 0, signal?: AbortSignal, onSize?: (bytes: number) => void): Promise<Readable> {
    return this.#body(await this.#respond(source, offset, signal), offset, onSize);
  }

  // Whether the source serves the file (2xx), for prechecks: the body is cancelled once the headers are in.
  async probe(source: HttpSource, signal?: AbortSignal): Promise<void> {
    const hop = await this.#respond(source, 0, signal);
    await discard(hop.res);
    if (hop.res.status !== 200 && hop.res.status !== 206) throw statusError(hop.url, hop.res.status, false);
  }

  // The response for `source` after redirects and retries (5xx, 429, transport errors) are done with.
  async #respond(source: HttpSource, offset: number, signal: AbortSignal | undefined): Promise<Hop> {
    const { url, authorization } = splitUserinfo(parseHttpUrl(source.url));
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.#retries;
      let hop: Hop;
      try {
        hop = await this.#follow(source, url, offset, authorization, signal);
      } catch (err) {
        signal?.throwIfAborted();
        const e = transportError(url, err, false);
        if (!e.retryable || last) throw settled(e);
        await this.#wait(url, backoffDelay(attempt, this.#delay), e.message, signal);
        continue;
      }
      if (!isRetryableStatus(hop.res.status) || last) return hop;
      const delay = this.#retryDelay(hop, attempt);
      await discard(hop.res);
      await this.#wait(url, delay, `HTTP ${hop.res.status}`, signal);
    }
  }

  // Close the connection pools.
  async close(): Promise<void> {
    const agents = await Promise.allSettled(this.#agents.values());
    this.#agents.clear();
    await Promise.all(agents.map((a) => (a.status === 'fulfilled' ? a.value.close() : undefined)));
  }

  async #follow(source: HttpSource, start: URL, offset: number, authorization: string | undefined, signal: AbortSignal | undefined): Promise<Hop> {
    const base: Record<string, string> = { 'user-agent': this.#userAgent, 'accept-encoding': 'identity' };
    if (offset > 0) base.range = `bytes=${offset}-`;
    let url = start;
    for (let hop = 0; hop <= this.#maxRedirects; hop++) {
      const dispatcher: Dispatcher = await this.#agentFor(source, start, url);
      const headers = authorization !== undefined && url.origin === start.origin ? { ...base, authorization } : base;
      const res = await this.#fetch(url, { method: 'GET', headers, redirect: 'manual', dispatcher, ...(signal ? { signal } : {}) });
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || location === null) return { res, url };
      await discard(res);
      const next = redirectTarget(url, location);
      this.#logger.debug(`GET ${redactUrl(url)}: redirected to ${redactUrl(next)}`);
      url = next;
    }
    throw new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(start)}: more than ${this.#maxRedirects} redirects`, { url: start });
  }

  #body(hop: Hop, offset: number, onSize?: (bytes: number) => void): Readable {
    const { res, url } = hop;
    if (res.status === 416 && offset > 0 && rangeTotal(res.headers.get('content-range')) === offset) {
      void discard(res); // the partial already holds the whole file
      return Readable.from([]);
    }
    if (res.status !== 200 && res.status !== 206) {
      void discard(res);
      throw statusError(url, res.status, false);
    }
    const skip = res.status === 200 ? offset : 0; // a server that ignores Range sends everything again
    if (res.status === 206) {
      const start = rangeStart(res.headers.get('content-range'));
      if (start !== offset) {
        void discard(res);
        throw new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(url)}: asked for bytes from ${offset}, got Content-Range "${res.headers.get('content-range') ?? ''}"`, { url });
      }
    }
    const size = res.status === 206 ? rangeSize(res.headers.get('content-range')) : Number(res.headers.get('content-length') ?? NaN);
    if (onSize && Number.isSafeInteger(size) && size >= 0) onSize(size);
    if (res.body === null) return Readable.from([]);
    return Readable.from(bodyBytes(res.body, url, skip, this.#maxBytes - offset), { objectMode: false });
  }

  // Retry-After is honoured in full; a wait beyond maxRetryAfterMs fails this source instead (the next one is tried).
  #retryDelay(hop: Hop, attempt: number): number {
    const asked = parseRetryAfter(hop.res.headers.get('retry-after'), this.#now());
    if (asked === undefined) return backoffDelay(attempt, this.#delay);
    if (asked > this.#maxRetryAfterMs) {
      void discard(hop.res);
      throw new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(hop.url)}: HTTP ${hop.res.status}, server asks to retry after ${Math.ceil(asked / 1000)} s`, {
        url: hop.url,
        status: hop.res.status,
        hint: `the wait exceeds ${this.#maxRetryAfterMs} ms; try later or add a downloads mirror`,
      });
    }
    return asked;
  }

  async #wait(url: URL, ms: number, why: string, signal: AbortSignal | undefined): Promise<void> {
    this.#logger.debug(`GET ${redactUrl(url)}: ${why}; retrying in ${ms} ms`);
    await this.#sleep(ms, signal).catch((err: unknown) => {
      signal?.throwIfAborted();
      throw err;
    });
  }

  // One pool per TLS setting; the source's TLS settings never follow a redirect to another origin.
  #agentFor(source: HttpSource, start: URL, url: URL): Promise<Agent> {
    const own = url.origin === start.origin && (source.skipTLSVerify === true || source.certsPath !== undefined);
    const key = own ? `${source.skipTLSVerify === true}|${source.certsPath ?? ''}` : 'default';
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = this.#createAgent(own ? source : {});
      this.#agents.set(key, agent);
    }
    return agent;
  }

  async #createAgent(tls: { skipTLSVerify?: boolean; certsPath?: string | undefined }): Promise<Agent> {
    const connect: Record<string, unknown> = { timeout: this.#timeouts.connect };
    if (tls.certsPath !== undefined) {
      const certs = await loadCertsDir(tls.certsPath);
      if (certs.ca.length > 0) connect.ca = [...rootCertificates, ...certs.ca];
      if (certs.cert.length > 0) Object.assign(connect, { cert: certs.cert, key: certs.key });
    }
    if (tls.skipTLSVerify === true) connect.rejectUnauthorized = false;
    return new Agent({ connect, headersTimeout: this.#timeouts.headers, bodyTimeout: this.#timeouts.idle, keepAliveTimeout: 4_000 });
  }
}

// The last failure before the body is final: the cache must not spend its resume attempts on it.
function settled(e: DownloadError): DownloadError {
  if (!e.retryable) return e;
  return new DownloadError(e.code, e.message, { cause: e.cause, retryable: false, ...(e.url ? { url: e.url } : {}), ...(e.hint ? { hint: e.hint } : {}) });
}

async function* bodyBytes(body: AsyncIterable<Uint8Array>, url: URL, skip: number, limit: number): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let seen = 0;
  try {
    for await (const chunk of body) {
      let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (toSkip > 0) {
        const n = Math.min(toSkip, buf.length);
        toSkip -= n;
        buf = buf.subarray(n);
        if (buf.length === 0) continue;
      }
      seen += buf.length;
      if (seen > limit) throw new DownloadError('SIZE_LIMIT_EXCEEDED', `GET ${redactUrl(url)}: body exceeds ${limit} bytes`, { url });
      yield buf;
    }
  } catch (err) {
    throw transportError(url, err, true);
  }
  if (toSkip > 0) throw new DownloadError('NETWORK_ERROR', `GET ${redactUrl(url)}: body ended before byte ${skip}: the file is shorter than what was already downloaded`, { url });
}

function redirectTarget(from: URL, location: string): URL {
  const next = new URL(location, from);
  const downgrade = from.protocol === 'https:' && next.protocol !== 'https:';
  if ((next.protocol !== 'http:' && next.protocol !== 'https:') || downgrade) {
    throw new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(from)}: refusing redirect to ${redactUrl(next)}`, { url: from });
  }
  return next;
}

// "bytes 100-199/200" → 100; anything else → undefined.
function rangeStart(header: string | null): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

// "bytes 100-199/200" → 200; "…/*" or anything else → NaN.
function rangeSize(header: string | null): number {
  const m = /^bytes \d+-\d+\/(\d+)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) : NaN;
}

// "bytes */200" (a 416 answer) → 200.
function rangeTotal(header: string | null): number | undefined {
  const m = /^bytes \*\/(\d+)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}
