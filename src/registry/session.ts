import type { Readable } from 'node:stream';
import type { Host } from '../host/index.js';
import { noopLogger } from '../log.js';
import { Authorizer } from './auth/authorizer.js';
import { anonymousCredentials } from './auth/credentials.js';
import { discardBody, HttpTransport, type HttpOptions, type HttpResponse } from './http.js';

// A registry host's settings (Host: TLS, credentials, plainHTTP, concurrency) and the transport's tuning.
// timeoutMs sets the connect, headers and idle timeouts at once.
export type SessionOptions = HttpOptions &
  Host & {
    timeoutMs?: number;
  };

// One request as the client sees it: a path under the registry (or an absolute URL from Location/Link) and its scopes.
export type RegistryOp = {
  readonly method: string;
  readonly target: string | URL;
  readonly what: string;
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | Readable;
  readonly signal?: AbortSignal;
  readonly small?: boolean; // a small response: the transport's own slots for it (HttpRequest.small)
  readonly bulk?: boolean; // a large body, read as a Node stream (HttpRequest.bulk)
};

// Docker Hub's API lives on another name than the one in image references.
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

// Scope strings of distribution auth/scope.md.
export function repoScope(repo: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repo}:${actions}`;
}

// The transport and auth state of one registry host; every request of a RegistryClient passes through send().
export class RegistrySession {
  readonly registry: string;
  readonly origin: string;
  readonly #http: HttpTransport;
  readonly #auth: Authorizer;

  constructor(registry: string, opts: SessionOptions) {
    this.registry = registry;
    this.origin = `${opts.plainHTTP ? 'http' : 'https'}://${apiHost(registry)}`;
    const t = opts.timeoutMs;
    const timeouts = t === undefined ? {} : { connectTimeoutMs: t, headersTimeoutMs: t, idleTimeoutMs: t };
    const tls = {
      ...(opts.skipTLSVerify ? { skipTLSVerify: true } : {}),
      ...(opts.certsPath ? { certsPath: opts.certsPath } : {}),
    };
    this.#http = new HttpTransport({ ...opts, ...timeouts, tls, logger: opts.logger ?? noopLogger });
    this.#auth = new Authorizer({
      host: registry,
      http: this.#http,
      credentials: opts.credentials ?? anonymousCredentials,
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  // An absolute URL for a path like "/v2/<repo>/manifests/<ref>", or a Location/Link value resolved against the origin.
  url(target: string | URL): URL {
    return target instanceof URL ? target : new URL(target, this.origin);
  }

  // Send with the current authorization; on a 401 learn the challenge and retry once when that can help.
  async send(op: RegistryOp): Promise<HttpResponse> {
    const url = this.url(op.target);
    let sent: string | undefined;
    const attempt = async (): Promise<HttpResponse> => {
      const authorization = await this.#auth.authorization(op.scopes, op.signal);
      sent = authorization;
      return this.#http.send({
        method: op.method,
        url,
        what: op.what,
        authOrigin: this.origin,
        ...(authorization ? { authorization } : {}),
        ...(op.headers ? { headers: op.headers } : {}),
        ...(op.body !== undefined ? { body: op.body } : {}),
        ...(op.signal ? { signal: op.signal } : {}),
        ...(op.small ? { small: true } : {}),
        ...(op.bulk ? { bulk: true } : {}),
      });
    };
    const res = await attempt();
    if (res.status !== 401 || (op.body !== undefined && !Buffer.isBuffer(op.body))) return res;
    if (!(await this.#auth.onChallenge(res.headers.get('www-authenticate'), op.scopes, sent))) return res;
    await discardBody(res);
    return attempt();
  }

  // Close the connection pools (only the ones this session created).
  async close(): Promise<void> {
    await this.#http.close();
  }
}
