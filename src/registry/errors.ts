import { KkoError, type ErrorCode } from '../errors.js';
import { redactUrl } from '../util/redact.js';
import { safeText, someOf } from '../util/safe-text.js';

export { redactUrl };

// One OCI error entry from a response body: {"errors":[{"code","message","detail"}]} (distribution-spec "Error Codes").
export type OciErrorEntry = { readonly code: string; readonly message?: string };

export type RegistryErrorOptions = {
  status?: number;
  method?: string;
  url?: string | URL;
  ociErrors?: readonly OciErrorEntry[];
  retryable?: boolean;
  cause?: unknown;
  hint?: string;
};

// A failure talking to a registry. Carries only a redacted URL; never a credential or a token.
export class RegistryError extends KkoError {
  readonly status: number | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly ociErrors: readonly OciErrorEntry[];
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: RegistryErrorOptions = {}) {
    super(code, message, { cause: opts.cause, ...(opts.hint ? { hint: opts.hint } : {}) });
    this.status = opts.status;
    this.method = opts.method;
    this.url = opts.url === undefined ? undefined : redactUrl(opts.url);
    this.ociErrors = opts.ociErrors ?? [];
    this.retryable = opts.retryable ?? false;
  }
}

// True for statuses worth retrying: request timeout, rate limit, and server errors other than 501/505.
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

// Pick the OCI error entries out of a (bounded) response body; anything unparseable yields none.
export function parseOciErrors(body: string): OciErrorEntry[] {
  try {
    const doc = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return (
      doc.errors
        .filter(
          (e): e is { code: string; message?: unknown } =>
            typeof e === 'object' && e !== null && typeof e.code === 'string',
        )
        // The body is the server's text: control characters are escaped before it can reach a message.
        .map((e) =>
          typeof e.message === 'string'
            ? { code: safeText(e.code.slice(0, 64)), message: safeText(e.message.slice(0, 200)) }
            : { code: safeText(e.code.slice(0, 64)) },
        )
    );
  } catch {
    return [];
  }
}

// Map an HTTP status and the OCI codes to kko's code. `notFound` is what a plain 404 means for this request.
export function errorCodeFor(status: number, oci: readonly OciErrorEntry[], notFound: ErrorCode): ErrorCode {
  const codes = new Set(oci.map((e) => e.code));
  if (status === 401 || status === 403 || codes.has('UNAUTHORIZED') || codes.has('DENIED')) return 'UNAUTHORIZED';
  if (codes.has('MANIFEST_UNKNOWN')) return 'MANIFEST_UNKNOWN';
  if (codes.has('BLOB_UNKNOWN')) return 'BLOB_UNKNOWN';
  if (status === 404) return notFound;
  return 'REGISTRY_ERROR';
}

const SHOWN_ERRORS = 5;

// "doing what: to what: why" for an unexpected HTTP status.
export function statusError(
  what: string,
  method: string,
  url: URL,
  status: number,
  body: string,
  notFound: ErrorCode,
): RegistryError {
  const oci = parseOciErrors(body);
  const code = errorCodeFor(status, oci, notFound);
  // Each entry is cut (parseOciErrors); a body of thousands of entries is named by its first few.
  const shown = someOf(oci, SHOWN_ERRORS, (e) => (e.message ? `${e.code}: ${e.message}` : e.code), '; ');
  const detail = oci.length > 0 ? shown : `HTTP ${status}`;
  const why = oci.length > 0 ? `${detail} (HTTP ${status})` : detail;
  const hint =
    code === 'UNAUTHORIZED'
      ? 'check the credentials for this registry (registry.auths, docker login, or auth.json)'
      : undefined;
  return new RegistryError(code, `${what}: ${method} ${redactUrl(url)}: ${why}`, {
    status,
    method,
    url,
    ociErrors: oci,
    retryable: isRetryableStatus(status),
    ...(hint ? { hint } : {}),
  });
}
