import { Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { HttpTransport, type FetchFn } from '../http.js';
import { basicAuthorization, fetchToken, TokenCache, tokenCacheKey } from './token.js';

describe('token cache', () => {
  it('keys by realm, service and the sorted scope set', () => {
    expect(tokenCacheKey('r', 's', ['b', 'a'])).toBe(tokenCacheKey('r', 's', ['a', 'b']));
    expect(tokenCacheKey('r', 's', ['a'])).not.toBe(tokenCacheKey('r', 't', ['a']));
  });

  it('drops tokens at expiry', () => {
    let now = 1000;
    const cache = new TokenCache(() => now);
    cache.set('k', { token: 't', expiresAt: 2000 });
    expect(cache.get('k')).toBe('t');
    now = 2000;
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('fetchToken', () => {
  function serve(body: object, status = 200) {
    const seen: Array<{ url: string; authorization?: string }> = [];
    const fetch = (async (url: unknown, init: { headers: Record<string, string> }) => {
      seen.push({
        url: String(url),
        ...(init.headers.authorization ? { authorization: init.headers.authorization } : {}),
      });
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    }) as unknown as FetchFn;
    return { http: new HttpTransport({ fetch, retries: 0 }), seen };
  }

  it('asks the realm with service and repeated scopes, Basic when it has credentials', async () => {
    const { http, seen } = serve({ token: 'tok', expires_in: 300 });
    const t = await fetchToken(
      http,
      {
        realm: 'https://auth.example/token',
        service: 'reg',
        scopes: ['repository:a:pull', 'repository:b:pull,push'],
        credential: { username: 'u', password: 'p' },
      },
      () => 0,
    );
    expect(t).toEqual({ token: 'tok', expiresAt: 290_000 });
    expect(seen[0]?.url).toBe(
      'https://auth.example/token?service=reg&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull%2Cpush',
    );
    expect(seen[0]?.authorization).toBe(basicAuthorization({ username: 'u', password: 'p' }));
  });

  it('accepts access_token and applies the 60 s floor', async () => {
    const { http, seen } = serve({ access_token: 'oauth', expires_in: 5 });
    expect(await fetchToken(http, { realm: 'https://auth.example/token', scopes: [] }, () => 0)).toEqual({
      token: 'oauth',
      expiresAt: 50_000,
    });
    expect(seen[0]?.authorization).toBeUndefined();
  });

  it('fails with UNAUTHORIZED on 401 or a body without a token', async () => {
    await expect(fetchToken(serve({}, 401).http, { realm: 'https://a/t', scopes: [] })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(fetchToken(serve({ nothing: 1 }).http, { realm: 'https://a/t', scopes: [] })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
  });
});

// The realm comes from the registry's WWW-Authenticate: one that is not a URL is a registry error naming it (quoted,
// cut, escaped, credentials and query redacted), not an internal TypeError.
describe('fetchToken: a realm that is not a URL', () => {
  it.each([
    ['a 1 MB realm', `x${'r'.repeat(1024 * 1024)}`, /realm "xr+"… \(1048577 characters\) is not a URL$/],
    [
      'control characters',
      'evil\u001b]0;pwned\u0007\r\n\u009b',
      /realm "evil\\u001b\]0;pwned\\u0007\\r\\n\\u009b" is not a URL$/,
    ],
    ['credentials in it', '//alice:s3cret@token server?sig=abc', /realm "\/\/token server\?…" is not a URL$/],
  ])('%s', async (_what, realm, want) => {
    const err: unknown = await fetchToken(new HttpTransport({ retries: 0 }), {
      realm,
      scopes: ['repository:a:pull'],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_ERROR' });
    const message = (err as Error).message;
    expect(message).toMatch(/^getting registry token: the registry's WWW-Authenticate realm /);
    expect(message).toMatch(want);
    expect(message.length).toBeLessThan(500);
    expect(message).not.toContain('s3cret');
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
