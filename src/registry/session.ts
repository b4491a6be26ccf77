import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { noopLogger } from '../log.js';
import { Authorizer } from './auth/authorizer.js';
import { anonymousCredentials, type CredentialProvider } from './auth/credentials.js';
import { discardBody, HttpTransport, type HttpOptions, type HttpResponse } from './http.js';
import { createRegistryAgent, type RegistryTlsOptions } from './tls.js';

export type SessionOptions = HttpOptions &
  RegistryTlsOptions & {
    credentials?: CredentialProvider;
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
  readonly #opts: SessionOptions;
  #ready: Promise<{ http: HttpTransport; auth: Authorizer; agent?: Agent }> | undefined;

  constructor(registry: string, opts: SessionOptions) {
    this.registry = registry;
    this.origin = `${opts.plainHTTP ? 'http' : 'https'}://${apiHost(registry)}`;
    this.#opts = opts;
  }

  // Built on first use: reading certsPath is async and its errors belong to the first operation.
  #init(): Promise<{ http: HttpTransport; auth: Authorizer; agent?: Agent }> {
    this.#ready ??= (async () => {
      const o = this.#opts;
      const agent = o.dispatcher ? undefined : await createRegistryAgent({ ...o, timeoutMs: o.timeoutMs ?? 30_000 });
      const dispatcher: Dispatcher | undefined = o.dispatcher ?? agent;
      const http = new HttpTransport({ ...o, logger: o.logger ?? noopLogger, ...(dispatcher ? { dispatcher } : {}) });
      const auth = new Authorizer({ host: this.registry, http, credentials: o.credentials ?? anonymousCredentials, ...(o.now ? { now: o.now } : {}) });
      return agent ? { http, auth, agent } : { http, auth };
    })();
    return this.#ready;
  }

  // An absolute URL for a path like "/v2/<repo>/manifests/<ref>", or a Location/Link value resolved against the origin.
  url(target: string | URL): URL {
    return target instanceof URL ? target : new URL(target, this.origin);
  }

  // Send with the current authorization; on a 401 learn the challenge and retry once when that can help.
  async send(op: RegistryOp): Promise<HttpResponse> {
    const { http, auth } = await this.#init();
    const url = this.url(op.target);
    let sent: string | undefined;
    const attempt = async (): Promise<HttpResponse> => {
      const authorization = await auth.authorization(op.scopes, op.signal);
      sent = authorization;
      return http.send({
        method: op.method,
        url,
        what: op.what,
        authOrigin: this.origin,
        ...(authorization ? { authorization } : {}),
        ...(op.headers ? { headers: op.headers } : {}),
        ...(op.body !== undefined ? { body: op.body } : {}),
        ...(op.signal ? { signal: op.signal } : {}),
      });
    };
    const res = await attempt();
    if (res.status !== 401 || (op.body !== undefined && !Buffer.isBuffer(op.body))) return res;
    if (!(await auth.onChallenge(res.headers.get('www-authenticate'), op.scopes, sent))) return res;
    await discardBody(res);
    return attempt();
  }

  // Close the connection pool (only the one this session created).
  async close(): Promise<void> {
    if (!this.#ready) return;
    const { agent } = await this.#ready.catch(() => ({ agent: undefined }));
    await agent?.close();
  }
}
