import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir, symlink, utimes } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { BlobCache, type BlobFetcher } from './blob-cache.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kko-cache-'));
});
afterEach(async () => rm(root, { recursive: true, force: true }));

const blobOf = (data: Buffer) => ({
  digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
  size: data.length,
});

// Serves `data` from the asked offset in 64 KiB chunks; `failAt` breaks the stream after that many bytes (once each).
function server(data: Buffer, faults: { failAt?: number[]; corrupt?: boolean } = {}) {
  const calls: number[] = [];
  const failAt = [...(faults.failAt ?? [])];
  const fetch: BlobFetcher = async (offset) => {
    calls.push(offset);
    const stop = failAt.shift();
    const body = Buffer.from(data.subarray(offset));
    if (faults.corrupt) body.writeUInt8((body.at(-1) ?? 0) ^ 0xff, body.length - 1);
    return Readable.from(
      (async function* () {
        for (let i = 0; i < body.length; i += 65536) {
          if (stop !== undefined && offset + i >= stop)
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          yield body.subarray(i, Math.min(i + 65536, body.length, stop !== undefined ? stop - offset : Infinity));
        }
      })(),
    );
  };
  return { fetch, calls };
}

describe('BlobCache', () => {
  it('stores a verified blob and serves it from the cache the second time', async () => {
    const data = randomBytes(300_000);
    const cache = new BlobCache(root);
    const s = server(data);
    const first = await cache.ensure(blobOf(data), s.fetch);
    expect(first).toMatchObject({ cached: false, fetchedBytes: data.length, resumedFrom: 0 });
    expect((await readFile(first.path)).equals(data)).toBe(true);
    const second = await cache.ensure(blobOf(data), s.fetch);
    expect(second).toMatchObject({ cached: true, fetchedBytes: 0 });
    expect(s.calls).toEqual([0]);
  });

  it('makes its directories again when they were removed between two blobs (a cache clean meanwhile)', async () => {
    const cache = new BlobCache(root);
    const a = randomBytes(100_000);
    await cache.ensure(blobOf(a), server(a).fetch);
    await rm(join(root, 'tmp'), { recursive: true, force: true });
    const b = randomBytes(100_000);
    expect((await readFile((await cache.ensure(blobOf(b), server(b).fetch)).path)).equals(b)).toBe(true);
    // blobs/sha256 gone while the blob downloads: the verified partial still gets its final name.
    const c = randomBytes(100_000);
    const fetch: BlobFetcher = async (offset) => {
      await rm(join(root, 'blobs'), { recursive: true, force: true });
      return server(c).fetch(offset);
    };
    const got = await cache.ensure(blobOf(c), fetch);
    expect((await readFile(got.path)).equals(c)).toBe(true);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('whenVerified resolves once the blob is verified in this process: after its download, or a hash of the cached file', async () => {
    const data = randomBytes(200_000);
    const blob = blobOf(data);
    const cache = new BlobCache(root);
    let verified = false;
    const waiting = cache.whenVerified(blob.digest).then(() => (verified = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(verified).toBe(false); // nothing fetched yet
    // A corrupt download is no verification.
    await expect(cache.ensure(blob, server(data, { corrupt: true }).fetch)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(verified).toBe(false);
    await cache.ensure(blob, server(data).fetch);
    await waiting;
    expect(verified).toBe(true);
    await cache.whenVerified(blob.digest); // already verified: at once
    // Another process (a new cache) sees the file: verified when hasVerified has hashed it.
    const next = new BlobCache(root);
    let seen = false;
    const later = next.whenVerified(blob.digest).then(() => (seen = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toBe(false);
    expect(await next.hasVerified(blob)).toBe(true);
    await later;
    expect(seen).toBe(true);
  });

  it('resumes after a reset mid-blob with the next offset and fetches each byte once', async () => {
    const data = randomBytes(500_000);
    const s = server(data, { failAt: [200_000, 400_000] });
    const r = await new BlobCache(root).ensure(blobOf(data), s.fetch);
    expect(r.fetchedBytes).toBe(data.length);
    expect(s.calls).toEqual([0, 200_000, 400_000]);
    expect((await readFile(r.path)).equals(data)).toBe(true);
  });

  it('continues a partial left by a crashed run (re-hashing the partial bytes from disk)', async () => {
    const data = randomBytes(400_000);
    const cache = new BlobCache(root);
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(cache.partialPath(blobOf(data).digest), data.subarray(0, 123_456));
    // a stale lock from a pid that no longer exists must not block us
    await writeFile(`${cache.partialPath(blobOf(data).digest)}.lock`, '999999999');
    const s = server(data);
    const r = await cache.ensure(blobOf(data), s.fetch);
    expect(s.calls).toEqual([123_456]);
    expect(r).toMatchObject({ fetchedBytes: 400_000 - 123_456, resumedFrom: 123_456 });
    expect((await readFile(r.path)).equals(data)).toBe(true);
  });

  it('a corrupt body is never stored: DIGEST_MISMATCH, no blob, no partial', async () => {
    const data = randomBytes(100_000);
    const cache = new BlobCache(root);
    await expect(cache.ensure(blobOf(data), server(data, { corrupt: true }).fetch)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect(await cache.has(blobOf(data))).toBe(false);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('a source that fails its own digest check leaves no partial: the next fetch starts from 0', async () => {
    const data = randomBytes(100_000);
    const cache = new BlobCache(root);
    const verdict = new KkoError('DIGEST_MISMATCH', 'reading blob: content hashes to sha256:00');
    const lying: BlobFetcher = async () =>
      Readable.from(
        (async function* () {
          yield Buffer.from(data);
          throw verdict; // a verifying source (VerifyStream, the registry's BlobCheck) fails after the last byte
        })(),
      );
    await expect(cache.ensure(blobOf(data), lying)).rejects.toBe(verdict);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    const s = server(data);
    expect(await cache.ensure(blobOf(data), s.fetch)).toMatchObject({ resumedFrom: 0, cached: false });
    expect(s.calls).toEqual([0]);
  });

  it('a garbage partial (longer than the blob) is dropped, and a wrong resumed partial fails the digest', async () => {
    const data = randomBytes(50_000);
    const cache = new BlobCache(root);
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(cache.partialPath(blobOf(data).digest), randomBytes(60_000));
    const r = await cache.ensure(blobOf(data), server(data).fetch);
    expect(r.resumedFrom).toBe(0);
    const other = randomBytes(50_000);
    await writeFile(cache.partialPath(blobOf(other).digest), randomBytes(10_000));
    await expect(cache.ensure(blobOf(other), server(other).fetch)).rejects.toBeInstanceOf(KkoError);
    expect(await cache.has(blobOf(other))).toBe(false);
  });

  it('a body longer than the descriptor is refused', async () => {
    const data = randomBytes(10_000);
    const blob = { ...blobOf(data), size: 5000 };
    await expect(new BlobCache(root).ensure(blob, server(data).fetch)).rejects.toMatchObject({
      code: 'SIZE_LIMIT_EXCEEDED',
    });
  });

  it('gives up after its attempts and keeps the partial for the next run', async () => {
    const data = randomBytes(300_000);
    const cache = new BlobCache(root, { attempts: 2 });
    const s = server(data, { failAt: [100_000, 150_000, 200_000] });
    await expect(cache.ensure(blobOf(data), s.fetch)).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
    expect((await readFile(cache.partialPath(blobOf(data).digest))).length).toBe(150_000);
    const again = await cache.ensure(blobOf(data), server(data).fetch);
    expect(again).toMatchObject({ resumedFrom: 150_000, fetchedBytes: 150_000 });
  });

  it('two caches on one directory (two processes) download a blob once', async () => {
    const data = randomBytes(2_000_000);
    const s = server(data);
    const slow: BlobFetcher = async (o) => {
      const r = await s.fetch(o);
      return r.pipe(new (await import('node:stream')).PassThrough({ highWaterMark: 1024 }));
    };
    const [a, b] = await Promise.all([
      new BlobCache(root).ensure(blobOf(data), slow),
      new BlobCache(root).ensure(blobOf(data), slow),
    ]);
    expect(s.calls).toEqual([0]);
    expect([a.cached, b.cached].sort()).toEqual([false, true]);
    expect((await readFile(a.path)).equals(data)).toBe(true);
  });

  it('concurrent callers in one process share a download', async () => {
    const data = randomBytes(100_000);
    const s = server(data);
    const cache = new BlobCache(root);
    await Promise.all([
      cache.ensure(blobOf(data), s.fetch),
      cache.ensure(blobOf(data), s.fetch),
      cache.ensure(blobOf(data), s.fetch),
    ]);
    expect(s.calls).toEqual([0]);
  });
  it('a blob of unknown size: read to the end, resumed after a reset, kept only when the digest matches', async () => {
    const data = randomBytes(300_000);
    const cache = new BlobCache(root);
    const unsized = { digest: blobOf(data).digest };
    const s = server(data, { failAt: [100_000] });
    const r = await cache.ensure(unsized, s.fetch);
    expect(s.calls).toEqual([0, 100_000]);
    expect(r).toMatchObject({ cached: false, fetchedBytes: data.length });
    expect((await readFile(r.path)).equals(data)).toBe(true);
    expect(await cache.has(unsized)).toBe(true);
    expect(await cache.ensure(unsized, s.fetch)).toMatchObject({ cached: true, fetchedBytes: 0 });
    const other = randomBytes(50_000);
    await expect(
      cache.ensure({ digest: blobOf(other).digest }, server(other, { corrupt: true }).fetch),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await cache.has({ digest: blobOf(other).digest })).toBe(false);
  });
});

describe('BlobCache failures that a retry cannot fix', () => {
  it('a full disk is an IO_ERROR at once (no retries), with a hint', async () => {
    const data = randomBytes(2_000_000);
    const cache = new BlobCache(root);
    await mkdir(join(root, 'tmp'), { recursive: true });
    await symlink('/dev/full', cache.partialPath(blobOf(data).digest)); // every write: ENOSPC
    const s = server(data);
    const err = await cache.ensure(blobOf(data), s.fetch).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IO_ERROR', hint: expect.stringContaining('disk is full') });
    expect(String((err as Error).message)).toContain('ENOSPC');
    expect(s.calls).toEqual([0]);
    expect(await cache.has(blobOf(data))).toBe(false);
  });
});

describe('cache locks', () => {
  const lockOf = (cache: BlobCache, digest: string) => `${cache.partialPath(digest)}.lock`;

  it('a lock with our pid but another process token (pid reuse after kill) is taken over at once', async () => {
    const data = randomBytes(10_000);
    const cache = new BlobCache(root);
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(
      lockOf(cache, blobOf(data).digest),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'someone-else' }),
    );
    const started = Date.now();
    await cache.ensure(blobOf(data), server(data).fetch);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a lock of a live process on this host is waited for, and one nobody refreshed for a minute is taken over', async () => {
    const { acquireLock } = await import('./lock.js');
    const path = join(root, 'x.lock');
    await writeFile(path, JSON.stringify({ pid: 1, host: hostname(), token: 't' })); // pid 1 is alive
    await expect(acquireLock(path, { timeoutMs: 300, pollMs: 50 })).rejects.toThrow(/timed out/);
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    const release = await acquireLock(path, { timeoutMs: 300, pollMs: 50 });
    expect(release).toBeTypeOf('function');
    await release?.();
  });
});
