import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobCache } from '../cache/index.js';
import { KkoError } from '../errors.js';
import { errorText } from '../util/sources.js';
import { retryable, writeError } from '../util/net-errors.js';

// Bytes of one file from `offset` on (an HTTP source with Range, a local file, an archive member).
export type ByteSource = (offset: number) => Promise<Readable>;

export type DownloadFileOptions = { attempts?: number; onBytes?: (n: number) => void; signal?: AbortSignal | undefined };

// A fresh temp name in the cache's tmp/ (same filesystem as blobs/, so a rename is atomic).
// Downloads without a known digest get a per-process name: nothing else may append to them.
export async function tempFile(cache: BlobCache, what: string): Promise<string> {
  const dir = join(cache.root, 'tmp');
  await mkdir(dir, { recursive: true });
  return join(dir, `${what.replace(/[^a-zA-Z0-9.-]/g, '_')}-${process.pid}-${randomBytes(4).toString('hex')}.download`);
}

// Download a whole file to `file`, resuming from its length (Range) after a reset; returns the bytes fetched.
export async function downloadToFile(source: ByteSource, file: string, opts: DownloadFileOptions = {}): Promise<number> {
  const attempts = opts.attempts ?? 4;
  let fetched = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      await appendFrom(source, file, (n) => {
        fetched += n;
        opts.onBytes?.(n);
      });
      return fetched;
    } catch (err) {
      lastError = err;
      opts.signal?.throwIfAborted();
      if (!retryable(err)) throw err;
    }
  }
  const have = await stat(file).then((s) => s.size, () => 0);
  throw new KkoError('NETWORK_ERROR', `downloading to ${file}: stopped at ${have} bytes after ${attempts} attempts: ${errorText(lastError)}`, { cause: lastError });
}

async function appendFrom(source: ByteSource, file: string, onBytes: (n: number) => void): Promise<void> {
  const offset = await stat(file).then((s) => s.size, () => 0);
  const body = await source(offset);
  const fh = await open(file, 'a');
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // A full or read-only disk will not pass with a retry (and is not the network's fault).
      await fh.write(chunk).catch((err: unknown) => {
        throw writeError(file, err);
      });
      onBytes(chunk.length);
    }
  } finally {
    await fh.close();
  }
}

// A local file as a ByteSource.
export function fileSource(file: string): ByteSource {
  return async (offset) => createReadStream(file, { start: offset });
}


