import { Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { HttpDownloader, type FetchFn } from './http-fetch.js';

type Reply = Response | Error;

// A scripted fetch: one reply per call, and the requests it saw.
function scripted(replies: Reply[]): { fetch: FetchFn; seen: Array<{ url: string; range: string | null }> } {
  const seen: Array<{ url: string; range: string | null }> = [];
  const fetch: FetchFn = async (input, init) => {
    seen.push({ url: String(input), range: new Headers(init?.headers as Record<string, string>).get('range') });
    const r = replies.shift();
    if (!r) throw new Error('no more replies');
    if (r instanceof Error) throw r;
    return r;
  };
  return { fetch, seen };
}

const http = (replies: Reply[], waits: number[] = []) => {
  const s = scripted(replies);
  return {
    ...s,
    d: new HttpDownloader({ fetch: s.fetch, sleep: async (ms) => void waits.push(ms), random: () => 0.5 }),
  };
};

async function text(p: Promise<NodeJS.ReadableStream>): Promise<string> {
  let out = '';
  for await (const c of await p) out += String(c);
  return out;
}

const reset = (): Error =>
  Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  });

describe('HttpDownloader', () => {
  it('only fetches http(s) URLs', async () => {
    await expect(http([]).d.open({ url: 'file:///etc/passwd' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  // The URL comes from a manifest or mirror policy: in the message it is redacted, quoted, cut and escaped.
  it.each([
    [
      'a 1 MB URL with credentials',
      `ftp://alice:s3cret@h/${'p'.repeat(1024 * 1024)}?sig=abc`,
      /^downloading "ftp:\/\/h\/p+"… \(\d+ characters\): only http/,
    ],
    [
      'control characters',
      'file:///x\u001b]0;pwned\u0007\r\n\u009b',
      /^downloading "file:\/\/\/x%1B\]0;pwned%07%C2%9B": only http/,
    ],
    [
      'control characters in a non-URL',
      'x\u001b]0;pwned\u0007\r\n\u009b',
      /^downloading "x\\u001b\]0;pwned\\u0007\\r\\n\\u009b": only http/,
    ],
  ])('refuses %s with a short message that keeps no secret', async (_what, url, want) => {
    const err = (await http([])
      .d.open({ url })
      .catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(want);
    expect(err.message.length).toBeLessThan(500);
    expect(err.message).not.toContain('s3cret');
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('follows redirects with the Range header, but never from https down to http', async () => {
    const ok = http([
      new Response(null, { status: 302, headers: { location: '/real' } }),
      new Response('llo', { status: 206, headers: { 'content-range': 'bytes 2-4/5' } }),
    ]);
    expect(await text(ok.d.open({ url: 'https://a.example/x' }, 2))).toBe('llo');
    expect(ok.seen).toEqual([
      { url: 'https://a.example/x', range: 'bytes=2-' },
      { url: 'https://a.example/real', range: 'bytes=2-' },
    ]);
    const down = http([new Response(null, { status: 301, headers: { location: 'http://b.example/x' } })]);
    await expect(down.d.open({ url: 'https://a.example/x' })).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      retryable: false,
    });
  });

  it('skips what it has when a server answers a Range request with 200; 416 at the end means nothing is left', async () => {
    expect(await text(http([new Response('hello')]).d.open({ url: 'http://a/x' }, 3))).toBe('lo');
    expect(
      await text(
        http([new Response(null, { status: 416, headers: { 'content-range': 'bytes */5' } })]).d.open(
          { url: 'http://a/x' },
          5,
        ),
      ),
    ).toBe('');
    await expect(
      http([new Response('x', { status: 206, headers: { 'content-range': 'bytes 0-0/5' } })]).d.open(
        { url: 'http://a/x' },
        3,
      ),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
  });

  it('retries resets and 5xx with growing jittered backoff; the last failure is final (not retryable)', async () => {
    const waits: number[] = [];
    const s = http(
      [
        reset(),
        new Response('', { status: 502 }),
        reset(),
        new Response('', { status: 500 }),
        new Response('', { status: 503 }),
      ],
      waits,
    );
    await expect(s.d.open({ url: 'http://a/x' })).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      status: 503,
      retryable: false,
    });
    expect(waits).toEqual([375, 750, 1500, 3000]);
    const net = http([reset(), reset(), reset(), reset(), reset()]);
    await expect(net.d.open({ url: 'http://a/x' })).rejects.toMatchObject({ code: 'NETWORK_ERROR', retryable: false });
  });

  it('a Retry-After beyond the limit fails the source instead of waiting', async () => {
    const s = http([new Response('', { status: 429, headers: { 'retry-after': '3600' } })]);
    await expect(s.d.open({ url: 'http://a/x' })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', status: 429 });
  });

  it('a broken body is a retryable NETWORK_ERROR (the cache resumes with Range)', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('he'));
        c.error(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
      },
    });
    const s = http([new Response(body)]);
    await expect(text(s.d.open({ url: 'http://a/x' }))).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      retryable: true,
    });
  });
});
