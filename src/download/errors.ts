import { KkoError, type ErrorCode } from '../errors.js';
import { redactUrl } from '../registry/index.js';
import { rootCause, TRANSIENT_CODES } from '../util/net-errors.js';
import { redactText } from '../util/sources.js';

export type DownloadErrorOptions = { status?: number; url?: string | URL; retryable?: boolean; cause?: unknown; hint?: string };

// A failed HTTP download. `retryable` tells the cache whether another Range request is worth it.
export class DownloadError extends KkoError {
  readonly status: number | undefined;
  readonly url: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: DownloadErrorOptions = {}) {
    super(code, message, { cause: opts.cause, ...(opts.hint ? { hint: opts.hint } : {}) });
    this.status = opts.status;
    this.url = opts.url === undefined ? undefined : redactUrl(opts.url);
    this.retryable = opts.retryable ?? false;
  }
}

const TLS_HINT = 'set certsPath (a directory with the CA *.crt) or skipTLSVerify: true on this downloads mirror';


// Wrap a transport failure as NETWORK_ERROR. `midBody`: headers had arrived, so a broken body is worth a Range retry.
export function transportError(url: URL, err: unknown, midBody: boolean): DownloadError {
  if (err instanceof DownloadError) return err;
  const { code, message } = rootCause(err);
  const tls = code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code);
  const why = redactText(code ? `${code}: ${message}` : message);
  return new DownloadError('NETWORK_ERROR', `GET ${redactUrl(url)}: ${why}`, {
    url,
    cause: err,
    retryable: !tls && (midBody || (code !== undefined && TRANSIENT_CODES.has(code))),
    ...(tls ? { hint: TLS_HINT } : {}),
  });
}

// "doing what: to what: why" for an unexpected HTTP status.
export function statusError(url: URL, status: number, retryable: boolean): DownloadError {
  const hint =
    status === 401 || status === 403
      ? 'kko sends no credentials for downloads: use a mirror that serves the file anonymously'
      : status === 404
        ? 'the file is not at this source; `kko mirror resolve <url>` shows what is tried'
        : undefined;
  return new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(url)}: HTTP ${status}`, { url, status, retryable, ...(hint ? { hint } : {}) });
}
