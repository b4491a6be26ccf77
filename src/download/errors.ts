import { KkoError, type ErrorCode } from '../errors.js';
import { redactUrl } from '../registry/index.js';

export type DownloadErrorOptions = {
  status?: number;
  method?: string;
  url?: string | URL;
  retryable?: boolean;
  cause?: unknown;
  hint?: string;
};

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

// "doing what: to what: why" for an unexpected HTTP status.
export function statusError(url: URL, status: number, retryable: boolean): DownloadError {
  const hint =
    status === 401 || status === 403
      ? 'kko sends no credentials for downloads: use a mirror that serves the file anonymously'
      : status === 404
        ? 'the file is not at this source; `kko mirror resolve <url>` shows what is tried'
        : undefined;
  return new DownloadError('DOWNLOAD_FAILED', `GET ${redactUrl(url)}: HTTP ${status}`, {
    url,
    status,
    retryable,
    ...(hint ? { hint } : {}),
  });
}
