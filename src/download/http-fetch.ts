import { Readable } from 'node:stream';
import type { HostTls } from '../host/index.js';
import {
  discardBody,
  HttpTransport,
  rangedBody,
  redactUrl,
  type HttpOptions,
  type HttpResponse,
  type TransportFailure,
  type TransportProfile,
} from '../registry/index.js';
import { DownloadError, statusError } from './errors.js';
import { quoteValue } from '../util/safe-text.js';
import { splitUserinfo } from './userinfo.js';

export type { FetchFn, SleepFn } from '../registry/index.js';

// Where to GET and how to trust it; a DownloadSource from the mirror policy fits.
export type HttpSource = { readonly url: string } & HostTls;

// The transport's tuning (timeouts: idleTimeoutMs fails a silent body, which is resumed with Range; kk's curl
// has none: #2356), plus a cap on a body's size (a mirror streaming garbage forever).
export type HttpDownloaderOptions = HttpOptions & { maxBytes?: number };

// Downloads retry longer than registry requests, allow more redirects (CDNs chain them) and no per-origin limit.
export const DOWNLOAD_PROFILE: TransportProfile = {
  defaults: {
    retries: 4,
    baseDelayMs: 500,
    maxDelayMs: 15_000,
    maxRetryAfterMs: 60_000,
    maxConcurrency: Infinity,
    maxSmallConcurrency: Infinity,
    maxRedirects: 10,
    connectTimeoutMs: 30_000,
    headersTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  },
  failCode: 'DOWNLOAD_FAILED',
  error: (code, message, opts) => new DownloadError(code, message, opts),
  hints: {
    tls: 'set certsPath (a directory with the CA *.crt) or skipTLSVerify: true on this downloads mirror',
    retryAfter: (ms) => `the wait exceeds ${ms} ms; try later or add a downloads mirror`,
  },
};

// Only http(s) URLs are fetched: a mirror location of file:// or ftp:// is a configuration error.
export function parseHttpUrl(raw: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new DownloadError(
      'INVALID_INPUT',
      `downloading ${quoteValue(redactUrl(raw), 200)}: only http:// and https:// URLs are supported`,
    );
  }
  return url;
}

// GET with resume for downloads (binaries, ISOs), over the one transport (registry/http.ts). The only credentials
// are a URL's own user:password@, sent as Basic auth to that origin only (never after a redirect elsewhere).
// skipTLSVerify / certsPath apply on the source's own origin only; a redirect elsewhere uses the system roots.
export class HttpDownloader {
  readonly #http: HttpTransport;
  readonly #maxBytes: number;

  constructor(opts: HttpDownloaderOptions = {}) {
    this.#http = new HttpTransport(opts, DOWNLOAD_PROFILE);
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 ** 3;
  }

  // The bytes of `source.url` from `offset` on (Range: bytes=N-; a 200 answer has its first N bytes dropped).
  // `signal` cancels the request, the retry waits and the body; its reason is thrown. `onSize` learns the whole
  // file's size from the headers (Content-Length of a 200, the total of a 206's Content-Range), when they give it.
  async open(
    source: HttpSource,
    offset = 0,
    signal?: AbortSignal,
    onSize?: (bytes: number) => void,
  ): Promise<Readable> {
    const res = await this.#get(source, offset, signal);
    if (res.status === 416 && offset > 0 && rangeTotal(res.headers.get('content-range')) === offset) {
      void discardBody(res); // the partial already holds the whole file
      return Readable.from([]);
    }
    if (res.status !== 200 && res.status !== 206) {
      void discardBody(res);
      throw statusError(res.url, res.status, false);
    }
    const size =
      res.status === 206
        ? rangeSize(res.headers.get('content-range'))
        : Number(res.headers.get('content-length') ?? NaN);
    const body = rangedBody(res, { offset, what: '', maxBytes: this.#maxBytes - offset }, DOWNLOAD_PROFILE);
    if (onSize && Number.isSafeInteger(size) && size >= 0) onSize(size);
    return body;
  }

  // Whether the source serves the file (2xx), for prechecks: the body is cancelled once the headers are in.
  async probe(source: HttpSource, signal?: AbortSignal): Promise<void> {
    const res = await this.#get(source, 0, signal);
    await discardBody(res);
    if (res.status !== 200 && res.status !== 206) throw statusError(res.url, res.status, false);
  }

  // Close the connection pools.
  close(): Promise<void> {
    return this.#http.close();
  }

  // The response after redirects and retries (5xx, 429, transport errors) are done with; the last failure before
  // the body is final: the cache must not spend its resume attempts on it.
  async #get(source: HttpSource, offset: number, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const { url, authorization } = splitUserinfo(parseHttpUrl(source.url));
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
    };
    const tls = {
      ...(source.skipTLSVerify ? { skipTLSVerify: true } : {}),
      ...(source.certsPath !== undefined ? { certsPath: source.certsPath } : {}),
    };
    try {
      return await this.#http.send({
        method: 'GET',
        url,
        what: '',
        headers,
        ...(authorization !== undefined ? { authorization, authOrigin: url.origin } : {}),
        tls,
        tlsOrigin: url.origin,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      signal?.throwIfAborted();
      throw settled(err as TransportFailure);
    }
  }
}

function settled(e: TransportFailure): TransportFailure {
  if (!(e instanceof DownloadError) || !e.retryable) return e;
  return new DownloadError(e.code, e.message, {
    cause: e.cause,
    retryable: false,
    ...(e.url ? { url: e.url } : {}),
    ...(e.hint ? { hint: e.hint } : {}),
  });
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
