import { Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { HttpTransport } from '../registry/index.js';
import { HttpDownloader, type FetchFn } from './http-fetch.js';

// The downloader on the one transport: what each hop is sent with.
function recording(replies: Response[]): {
  fetch: FetchFn;
  hops: Array<{ url: string; dispatcher: unknown; authorization: string | null }>;
} {
  const hops: Array<{ url: string; dispatcher: unknown; authorization: string | null }> = [];
  const fetch: FetchFn = async (input, init) => {
    hops.push({
      url: String(input),
      dispatcher: init?.dispatcher,
      authorization: new Headers(init?.headers as Record<string, string>).get('authorization'),
    });
    const r = replies.shift();
    if (!r) throw new Error('no more replies');
    return r;
  };
  return { fetch, hops };
}

const redirect = (location: string): Response => new Response(null, { status: 302, headers: { location } });

describe('HttpDownloader on the shared transport', () => {
  it('uses the source’s TLS setting and credentials on its own origin only', async () => {
    const { fetch, hops } = recording([
      redirect('https://cdn.example/f'),
      redirect('https://mirror.example/g'),
      new Response('ok'),
    ]);
    const d = new HttpDownloader({ fetch });
    const body = await d.open({ url: 'https://u:p@mirror.example/f', skipTLSVerify: true });
    body.resume();
    await d.close();
    expect(hops.map((h) => h.url)).toEqual([
      'https://mirror.example/f',
      'https://cdn.example/f',
      'https://mirror.example/g',
    ]);
    const [own, other, back] = hops;
    expect(own?.dispatcher).toBeDefined();
    expect(other?.dispatcher).not.toBe(own?.dispatcher);
    expect(back?.dispatcher).toBe(own?.dispatcher);
    expect(hops.map((h) => h.authorization)).toEqual([
      `Basic ${Buffer.from('u:p').toString('base64')}`,
      null,
      `Basic ${Buffer.from('u:p').toString('base64')}`,
    ]);
  });

  it('a registry-style transport keeps its host’s TLS on every hop (blob storage, token realm)', async () => {
    const { fetch, hops } = recording([redirect('https://storage.example/b'), new Response('ok')]);
    const http = new HttpTransport({ fetch, tls: { skipTLSVerify: true } });
    await (await http.send({ method: 'GET', url: new URL('https://reg.example/v2/'), what: 'test' })).body?.cancel();
    await http.close();
    expect(hops[1]?.dispatcher).toBe(hops[0]?.dispatcher);
  });

  it('a certsPath that cannot be read fails as itself (FILE_NOT_FOUND) before any request', async () => {
    const { fetch, hops } = recording([]);
    const d = new HttpDownloader({ fetch });
    await expect(
      d.open({ url: 'https://mirror.example/f', certsPath: '/nonexistent/kko-certs' }),
    ).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    expect(hops).toEqual([]);
  });

  it('a body shorter than its Content-Length is a retryable NETWORK_ERROR (the resume loop asks again)', async () => {
    const { fetch } = recording([new Response('abc', { headers: { 'content-length': '10' } })]);
    const body = await new HttpDownloader({ fetch }).open({ url: 'http://a.example/x' });
    const read = (async () => {
      for await (const _ of body) void _;
    })();
    await expect(read).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      retryable: true,
      message: expect.stringMatching(/^GET http:\/\/a\.example\/x: body ended after 3 of 10 bytes/),
    });
  });
});
