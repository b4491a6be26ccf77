import { Readable } from 'node:stream';
import { Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { discardBody, HttpTransport, type FetchFn, type HttpResponse } from './http.js';

type Call = { url: string; method: string; authorization: string | undefined };
type Reply = { status: number; headers?: Record<string, string>; body?: string } | Error;

// A scripted fetch: answers in order, records what it was asked.
function scripted(replies: Reply[]): { fetch: FetchFn; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (async (input: unknown, init?: { method?: string; headers?: Record<string, string> }) => {
    calls.push({ url: String(input), method: init?.method ?? 'GET', authorization: init?.headers?.authorization });
    const r = replies.shift();
    if (r === undefined) throw new Error('no more replies');
    if (r instanceof Error) throw r;
    return new Response(r.body ?? null, { status: r.status, ...(r.headers ? { headers: r.headers } : {}) });
  }) as unknown as FetchFn;
  return { fetch, calls };
}

function transport(fetch: FetchFn, delays: number[] = [], extra: object = {}): HttpTransport {
  return new HttpTransport({
    fetch,
    random: () => 0,
    baseDelayMs: 100,
    sleep: async (ms) => void delays.push(ms),
    now: () => 0,
    ...extra,
  });
}

const reg = new URL('https://reg.example/v2/r/blobs/sha256:aa');
const base = { method: 'GET', url: reg, what: 'test', authorization: 'Bearer t', authOrigin: 'https://reg.example' };

describe('HttpTransport redirects', () => {
  it('sends Authorization only to the registry origin', async () => {
    const { fetch, calls } = scripted([
      { status: 307, headers: { location: '/v2/r/blobs/other' } },
      { status: 302, headers: { location: 'https://storage.example/b?sig=1' } },
      { status: 200, body: 'ok' },
    ]);
    const res = await transport(fetch).send(base);
    expect(res.status).toBe(200);
    expect(res.url.href).toBe('https://storage.example/b?sig=1');
    expect(calls.map((c) => c.authorization)).toEqual(['Bearer t', 'Bearer t', undefined]);
  });

  it('refuses an https → http downgrade and non-http schemes', async () => {
    for (const location of ['http://reg.example/x', 'file:///etc/passwd']) {
      const { fetch } = scripted([{ status: 307, headers: { location } }]);
      await expect(transport(fetch).send(base)).rejects.toMatchObject({ code: 'REGISTRY_ERROR' });
    }
  });

  it('turns POST into GET on 303 and stops after maxRedirects', async () => {
    const { fetch, calls } = scripted([{ status: 303, headers: { location: '/done' } }, { status: 200 }]);
    await transport(fetch).send({ ...base, method: 'POST', body: Buffer.from('x') });
    expect(calls.map((c) => c.method)).toEqual(['POST', 'GET']);
    const loop = scripted(Array.from({ length: 10 }, () => ({ status: 302, headers: { location: '/again' } })));
    await expect(transport(loop.fetch, [], { maxRedirects: 3 }).send(base)).rejects.toThrow(/more than 3 redirects/);
  });

  it('will not replay a streamed body on a 307', async () => {
    const { fetch } = scripted([{ status: 307, headers: { location: '/elsewhere' } }]);
    await expect(
      transport(fetch).send({ ...base, method: 'PUT', body: Readable.from([Buffer.from('x')]) }),
    ).rejects.toThrow(/streamed body/);
  });
});

describe('HttpTransport retries', () => {
  it('retries 5xx with backoff and returns the first success', async () => {
    const delays: number[] = [];
    const { fetch, calls } = scripted([{ status: 500 }, { status: 502 }, { status: 200 }]);
    expect((await transport(fetch, delays).send(base)).status).toBe(200);
    expect(calls).toHaveLength(3);
    expect(delays).toEqual([50, 100]);
  });

  it('does not retry 4xx other than 408/429, nor streamed bodies', async () => {
    const { fetch, calls } = scripted([{ status: 404 }]);
    expect((await transport(fetch).send(base)).status).toBe(404);
    expect(calls).toHaveLength(1);
    const s = scripted([{ status: 503 }]);
    expect(
      (await transport(s.fetch).send({ ...base, method: 'PUT', body: Readable.from([Buffer.from('x')]) })).status,
    ).toBe(503);
  });

  it('retries transient socket errors and fails others at once', async () => {
    const reset = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    });
    const { fetch } = scripted([reset, { status: 200 }]);
    expect((await transport(fetch).send(base)).status).toBe(200);
    const tlsErr = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    });
    const t = scripted([tlsErr, { status: 200 }]);
    await expect(transport(t.fetch).send(base)).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      retryable: false,
      hint: expect.stringMatching(/certsPath/),
    });
  });

  it('honours Retry-After and refuses waits beyond maxRetryAfterMs', async () => {
    const delays: number[] = [];
    const ok = scripted([{ status: 429, headers: { 'retry-after': '3' } }, { status: 200 }]);
    await transport(ok.fetch, delays).send(base);
    expect(delays).toEqual([3000]);
    const long = scripted([{ status: 503, headers: { 'retry-after': '120' } }]);
    await expect(transport(long.fetch, [], { maxRetryAfterMs: 60_000 }).send(base)).rejects.toMatchObject({
      status: 503,
      hint: expect.stringMatching(/maxRetryAfterMs/),
    });
  });

  it('returns the last failure when the budget is spent', async () => {
    const { fetch, calls } = scripted([{ status: 503 }, { status: 503 }, { status: 503 }]);
    expect((await transport(fetch, [], { retries: 2 }).send(base)).status).toBe(503);
    expect(calls).toHaveLength(3);
  });

  it('sends the kko user agent', async () => {
    let ua: string | undefined;
    const fetch = (async (_u: unknown, init: { headers: Record<string, string> }) => {
      ua = init.headers['user-agent'];
      return new Response(null, { status: 200 });
    }) as unknown as FetchFn;
    await transport(fetch).send(base);
    expect(ua).toMatch(/^kko\/\d+\.\d+\.\d+/);
  });
});

describe('HttpTransport slots', () => {
  it('small requests pass bulk bodies that hold every slot, and also use free bulk slots', async () => {
    let calls = 0;
    const fetch = (async () => {
      calls++;
      return new Response(new ReadableStream<Uint8Array>({}), { status: 200 }); // a body that stays open
    }) as unknown as FetchFn;
    const settle = () => new Promise((r) => setTimeout(r, 20));
    const t = transport(fetch, [], { maxConcurrency: 2, maxSmallConcurrency: 1 });
    const held = [await t.send(base), await t.send(base)]; // both bulk slots held
    await t.send({ ...base, small: true }); // its own slot
    expect(calls).toBe(3);
    const late = t.send(base); // waits for a bulk slot
    await settle();
    expect(calls).toBe(3);
    await discardBody(held[0] as HttpResponse);
    await late;
    expect(calls).toBe(4);
    const u = transport(fetch, [], { maxConcurrency: 2, maxSmallConcurrency: 1 });
    for (let i = 0; i < 3; i++) await u.send({ ...base, small: true }); // two free bulk slots, then its own
    expect(calls).toBe(7);
    void u.send({ ...base, small: true }).catch(() => undefined);
    await settle();
    expect(calls).toBe(7); // every slot it may use is taken
  });
});

describe('HttpTransport bulk bodies (dispatcher.request, #10)', () => {
  // A loopback server: /blob answers 256 KiB, /moved redirects to /blob; every request is logged.
  async function server(): Promise<{ origin: string; seen: string[]; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    const data = Buffer.alloc(256 * 1024, 7);
    const seen: string[] = [];
    const srv = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
      if (req.url === '/moved') res.writeHead(302, { location: '/blob' }).end();
      else res.writeHead(200, { 'content-length': String(data.length) }).end(data);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    return { origin: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => srv.close(() => r())) };
  }
  const read = async (s: AsyncIterable<Uint8Array>): Promise<number> => {
    let n = 0;
    for await (const c of s) n += c.length;
    return n;
  };

  it('hands the body on as a Node stream, holds the slot until it is read, follows redirects', async () => {
    const s = await server();
    const t = new HttpTransport({ maxConcurrency: 1 });
    try {
      const req = { method: 'GET', url: new URL(`${s.origin}/moved`), what: 'test', bulk: true } as const;
      const first = await t.send(req);
      expect(first.status).toBe(200);
      expect(first.nodeBody).toBeInstanceOf(Readable);
      let second: HttpResponse | undefined;
      const late = t.send(req).then((r) => (second = r));
      await new Promise((r) => setTimeout(r, 50));
      expect(second).toBeUndefined(); // the one slot is held by the unread body
      expect(await read(first.nodeBody as Readable)).toBe(256 * 1024);
      await late;
      // Taken as a web stream instead, it is the same body.
      expect(await read((second as HttpResponse).body as unknown as AsyncIterable<Uint8Array>)).toBe(256 * 1024);
      expect(s.seen).toEqual(['GET /moved -', 'GET /blob -', 'GET /moved -', 'GET /blob -']);
      // A request that is not bulk still goes through fetch: no Node stream.
      const plain = await t.send({ ...req, bulk: false });
      expect(plain.nodeBody).toBeUndefined();
      await discardBody(plain);
    } finally {
      await t.close();
      await s.close();
    }
  });
});
