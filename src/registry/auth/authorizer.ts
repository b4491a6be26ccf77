import type { HttpTransport } from '../http.js';
import { parseChallenges } from './challenge.js';
import type { Credential, CredentialProvider } from './credentials.js';
import { basicAuthorization, fetchToken, TokenCache, tokenCacheKey, type Token } from './token.js';

// What the registry told us in its last challenge.
type Scheme = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

export type AuthorizerOptions = {
  readonly host: string;
  readonly http: HttpTransport;
  readonly credentials: CredentialProvider;
  readonly now?: () => number;
};

// Decides the Authorization header for one registry: anonymous until challenged, then Basic or a
// Bearer token per scope set (distribution auth/token.md steps 1–5).
export class Authorizer {
  readonly #host: string;
  readonly #http: HttpTransport;
  readonly #provider: CredentialProvider;
  readonly #now: () => number;
  readonly #tokens: TokenCache;
  // Token requests in flight, so concurrent requests for one scope set share a single exchange.
  readonly #pending = new Map<string, Promise<Token>>();
  #scheme: Scheme = { kind: 'none' };
  #credential: Promise<Credential | undefined> | undefined;

  constructor(opts: AuthorizerOptions) {
    this.#host = opts.host;
    this.#http = opts.http;
    this.#provider = opts.credentials;
    this.#now = opts.now ?? Date.now;
    this.#tokens = new TokenCache(this.#now);
  }

  // The credential for this host, looked up once.
  #lookup(): Promise<Credential | undefined> {
    this.#credential ??= this.#provider.resolve(this.#host);
    return this.#credential;
  }

  // The header to send for `scopes`, fetching (and caching) a token when the registry uses Bearer.
  async authorization(scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const scheme = this.#scheme;
    if (scheme.kind === 'none') return undefined;
    const credential = await this.#lookup();
    if (scheme.kind === 'basic') return credential ? basicAuthorization(credential) : undefined;
    const key = tokenCacheKey(scheme.realm, scheme.service, scopes);
    const cached = this.#tokens.get(key);
    if (cached) return `Bearer ${cached}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      const request = {
        realm: scheme.realm,
        scopes,
        ...(scheme.service ? { service: scheme.service } : {}),
        ...(credential ? { credential } : {}),
        ...(signal ? { signal } : {}),
      };
      pending = fetchToken(this.#http, request, this.#now).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  // Learn from a 401's WWW-Authenticate. True when retrying with a fresh authorization can succeed.
  // `sent` is the Authorization this request carried: under concurrency another request may already have
  // learnt the scheme, so the decision is about this request, not about what we knew before.
  async onChallenge(header: string | null, scopes: readonly string[], sent?: string): Promise<boolean> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const realm = bearer.params.realm as string;
      const service = bearer.params.service;
      this.#scheme = service ? { kind: 'bearer', realm, service } : { kind: 'bearer', realm };
      const key = tokenCacheKey(realm, service, scopes);
      // A refused token is dropped; the one retry then fetches a fresh one (it may have expired server-side).
      if (sent?.startsWith('Bearer ') && this.#tokens.get(key) === sent.slice(7)) this.#tokens.delete(key);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      this.#scheme = { kind: 'basic' };
      return !sent?.startsWith('Basic ') && (await this.#lookup()) !== undefined;
    }
    return false;
  }
}
