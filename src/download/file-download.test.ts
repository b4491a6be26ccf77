import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobFetcher } from '../cache/index.js';
import { KkoError } from '../errors.js';
import { downloadToFile } from './file-download.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-dl-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
const reset = (): Error => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

// Serves `data` from the asked offset; each entry of `breaks` ends one body with a reset after that many bytes.
function source(breaks: number[]): { fetch: BlobFetcher; offsets: number[] } {
  const offsets: number[] = [];
  const fetch: BlobFetcher = async (offset) => {
    offsets.push(offset);
    const stop = breaks.shift();
    return Readable.from(
      (async function* () {
        const end = stop === undefined ? data.length : offset + stop;
        for (let i = offset; i < end; i += 50_000) yield data.subarray(i, Math.min(i + 50_000, end));
        if (stop !== undefined) throw reset();
      })(),
    );
  };
  return { fetch, offsets };
}

describe('downloadToFile (the cache’s resume loop, without a digest)', () => {
  it('resumes from the file’s length after a reset; the file is whole and each byte is fetched once', async () => {
    const file = join(dir, 'f');
    const s = source([120_000]);
    expect(await downloadToFile(s.fetch, file)).toBe(data.length);
    expect(s.offsets).toEqual([0, 120_000]);
    expect((await readFile(file)).equals(data)).toBe(true);
  });

  it('a refusal is thrown at once; resets beyond the attempts stop with what the file holds', async () => {
    const refused = new KkoError('DOWNLOAD_FAILED', 'GET x: HTTP 404');
    let calls = 0;
    await expect(downloadToFile(async () => ((calls += 1), Promise.reject(refused)), join(dir, 'r'))).rejects.toBe(
      refused,
    );
    expect(calls).toBe(1);
    const s = source([10_000, 10_000]);
    await expect(downloadToFile(s.fetch, join(dir, 'g'), { attempts: 2 })).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      message: expect.stringMatching(/stopped at 20000 of unknown bytes after 2 attempts: .*socket hang up/),
    });
  });
});
