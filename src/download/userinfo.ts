// A download URL may carry credentials as user:password@ (a private file mirror). fetch refuses such URLs, and
// they must not travel further: the userinfo is taken out of the URL and sent as Basic auth to that origin only.

export type UrlCredentials = { url: URL; authorization?: string };

export function splitUserinfo(url: URL): UrlCredentials {
  if (url.username === '' && url.password === '') return { url };
  const bare = new URL(url);
  bare.username = '';
  bare.password = '';
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return { url: bare, authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

// The URL without user:password@ (kept otherwise as written): for records, events and the artifact.
export function withoutUserinfo(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username === '' && url.password === '') return raw;
    return splitUserinfo(url).url.href;
  } catch {
    return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
  }
}
