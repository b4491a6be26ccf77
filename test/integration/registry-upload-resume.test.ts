import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/reference/index.js';
import { RegistryClient, RegistryStore } from '../../src/registry/index.js';
import { seededBytes } from '../support/builders.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// Chunked upload with resume against the real registry: a send that breaks mid-way continues from the upload
// session's Range (GET <location>), not from byte 0; a session the registry lost starts over.
describe('resumable blob upload (PATCH chunks, GET the upload location, continue at its Range)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  const clients: RegistryClient[] = [];
  const client = (): RegistryClient => {
    const c = new RegistryClient(proxy.host, { plainHTTP: true, retries: 0 });
    clients.push(c);
    return c;
  };
  const blob = seededBytes('resume', 3 * 1024 * 1024 + 17);
  const digest = parseDigest(`sha256:${createHash('sha256').update(blob).digest('hex')}`);
  let opened: number[];
  const open = async (offset: number): Promise<Readable> => {
    opened.push(offset);
    return Readable.from([blob.subarray(offset)]);
  };
  const opts = { retryable: () => true, chunkSize: 1024 * 1024 };

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'plain' });
    proxy = await startFaultProxy({ upstream: reg.url });
  });
  beforeEach(() => {
    proxy.clear();
    opened = [];
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.stop();
    await reg?.stop();
  });

  async function stored(repo: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await client().getBlob(repo, digest)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  it('sends every chunk once when nothing fails, and the registry holds the exact bytes', async () => {
    await client().putBlobResumable('resume/clean', digest, blob.length, open, opts);
    expect(opened).toEqual([0, 1024 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024]);
    expect(proxy.count({ method: 'PATCH' })).toBe(4);
    expect((await stored('resume/clean')).equals(blob)).toBe(true);
  });

  it('after a 503 on the second chunk, asks the session where it stands and resends only that chunk', async () => {
    let patches = 0;
    const failing = async (offset: number): Promise<Readable> => {
      patches++;
      if (patches === 2) proxy.add({ method: 'PATCH', fault: { kind: 'status', status: 503 } });
      return open(offset);
    };
    await client().putBlobResumable('resume/503', digest, blob.length, failing, opts);
    expect(proxy.count({ method: 'GET', path: /uploads/ })).toBe(1);
    expect(opened).toEqual([0, 1024 * 1024, 1024 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024]);
    expect((await stored('resume/503')).equals(blob)).toBe(true);
  });

  it('a connection reset in the middle of a chunk: distribution drops that session (its _state no longer matches), so a new one starts and the blob completes', async () => {
    const cutting = async (offset: number): Promise<Readable> => {
      if (offset === 2 * 1024 * 1024 && !opened.includes(offset))
        proxy.add({ method: 'PATCH', fault: { kind: 'cut-upload', afterBytes: 512 * 1024 } });
      return open(offset);
    };
    await client().putBlobResumable('resume/reset', digest, blob.length, cutting, opts);
    expect(opened).toEqual([0, 1024 * 1024, 2 * 1024 * 1024, 0, 1024 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024]);
    expect(proxy.count({ method: 'GET', path: /uploads/ })).toBe(1);
    expect(proxy.count({ method: 'POST', path: /uploads/ })).toBe(2);
    expect((await stored('resume/reset')).equals(blob)).toBe(true);
  });

  it('a session the registry lost (404 on its location) starts a new one from byte 0', async () => {
    proxy.add({ method: 'PATCH', fault: { kind: 'status', status: 500 } });
    proxy.add({
      method: 'GET',
      path: /uploads/,
      fault: { kind: 'status', status: 404, body: '{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}' },
    });
    await client().putBlobResumable('resume/lost', digest, blob.length, open, opts);
    expect(proxy.count({ method: 'POST', path: /uploads/ })).toBe(2);
    expect(opened.slice(0, 2)).toEqual([0, 0]);
    expect((await stored('resume/lost')).equals(blob)).toBe(true);
  });

  it("gives up after its attempts with the registry's error", async () => {
    proxy.add({ method: 'PATCH', times: Infinity, fault: { kind: 'status', status: 503 } });
    await expect(
      client().putBlobResumable('resume/down', digest, blob.length, open, { ...opts, attempts: 3 }),
    ).rejects.toMatchObject({ status: 503 });
    expect(proxy.count({ method: 'PATCH' })).toBe(3);
  });

  it('RegistryStore.putBlob sends a blob above its chunk size in chunks and resumes after a 503 (the store push uses)', async () => {
    const store = new RegistryStore({ chunkSize: 1024 * 1024, hostOptions: () => ({ plainHTTP: true, retries: 0 }) });
    let patches = 0;
    const failing = async (offset: number): Promise<Readable> => {
      if (++patches === 3) proxy.add({ method: 'PATCH', fault: { kind: 'status', status: 503 } });
      return open(offset);
    };
    try {
      await store.putBlob(
        { registry: proxy.host, repository: 'resume/store' },
        { mediaType: 'application/octet-stream', digest, size: blob.length },
        failing,
      );
    } finally {
      await store.close();
    }
    expect(opened).toEqual([0, 1024 * 1024, 2 * 1024 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024]);
    expect((await stored('resume/store')).equals(blob)).toBe(true);
  });
});
