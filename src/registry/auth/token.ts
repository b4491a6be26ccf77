import { readErrorText, readLimited } from '../body.js';
import { redactUrl, RegistryError, statusError } from '../errors.js';
import type { HttpTransport } from '../http.js';
import { quoteValue } from '../../util/safe-text.js';
import type { Credential } from './credentials.js';

// distribution docs/spec/auth/token.md: GET <realm>?service=<service>&scope=<s>&scope=<s>, Basic auth when we have it.
export type TokenRequest = {
  readonly realm: string;
  readonly service?: string;
  readonly scopes: readonly string[];
  readonly credential?: Credential;
  readonly signal?: AbortSignal;
};

export type Token = { readonly token: string; readonly expiresAt: number };

const MAX_TOKEN_RESPONSE = 1024 * 1024;
// The spec's default lifetime when expires_in is absent, and the minimum it promises.
const DEFAULT_TTL_S = 60;
// Renew this long before expiry so a token does not die in flight.
const EARLY_RENEW_MS = 10_000;

// "user:pass" for an Authorization: Basic header.
export function basicAuthorization(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

// Cache key: one token per realm, service and (sorted) scope set.
export function tokenCacheKey(realm: string, service: string | undefined, scopes: readonly string[]): string {
  return [realm, service ?? '', [...scopes].sort().join(' ')].join('|');
}

// Tokens by key, dropped once expired.
export class TokenCache {
  readonly #tokens = new Map<string, Token>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (t && t.expiresAt > this.#now()) return t.token;
    this.#tokens.delete(key);
    return undefined;
  }

  set(key: string, token: Token): void {
    this.#tokens.set(key, token);
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }
}

// The realm is the registry's word (WWW-Authenticate): one that is not a URL is the registry's fault, said so, quoted.
function tokenUrl(req: TokenRequest): URL {
  let url: URL;
  try {
    url = new URL(req.realm);
  } catch {
    throw new RegistryError(
      'REGISTRY_ERROR',
      `getting registry token: the registry's WWW-Authenticate realm ${quoteValue(redactUrl(req.realm), 200)} is not a URL`,
      { hint: "the registry's token service is misconfigured: ask its administrator to fix the Bearer realm" },
    );
  }
  if (req.service) url.searchParams.set('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  return url;
}

// Take `token` (or OAuth's `access_token`) and the lifetime out of a token response.
function parseTokenBody(text: string, now: number, url: URL): Token {
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new RegistryError('UNAUTHORIZED', `getting registry token: GET ${redactUrl(url)}: response is not JSON`, {
      url,
      method: 'GET',
    });
  }
  const token = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new RegistryError('UNAUTHORIZED', `getting registry token: GET ${redactUrl(url)}: response has no token`, {
      url,
      method: 'GET',
    });
  }
  const ttl = typeof doc.expires_in === 'number' && doc.expires_in >= DEFAULT_TTL_S ? doc.expires_in : DEFAULT_TTL_S;
  return { token, expiresAt: now + ttl * 1000 - EARLY_RENEW_MS };
}

// Exchange (credentials, scopes) for a bearer token at the realm the registry named.
export async function fetchToken(http: HttpTransport, req: TokenRequest, now: () => number = Date.now): Promise<Token> {
  const url = tokenUrl(req);
  const res = await http.send({
    method: 'GET',
    url,
    what: 'getting registry token',
    headers: { accept: 'application/json' },
    small: true, // a token never waits behind blob bodies (the realm may be the registry's own origin)
    ...(req.credential ? { authorization: basicAuthorization(req.credential), authOrigin: url.origin } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (res.status !== 200)
    throw statusError('getting registry token', 'GET', url, res.status, await readErrorText(res), 'UNAUTHORIZED');
  const body = await readLimited(res, MAX_TOKEN_RESPONSE, 'getting registry token');
  return parseTokenBody(body.toString('utf8'), now(), url);
}
