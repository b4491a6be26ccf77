import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { resumeInto, type BlobCache, type BlobFetcher } from '../cache/index.js';

export type DownloadFileOptions = {
  attempts?: number;
  onBytes?: (n: number) => void;
  signal?: AbortSignal | undefined;
};

// A fresh temp name in the cache's tmp/ (same filesystem as blobs/, so a rename is atomic).
// Downloads without a known digest get a per-process name: nothing else may append to them.
export async function tempFile(cache: BlobCache, what: string): Promise<string> {
  const dir = join(cache.root, 'tmp');
  await mkdir(dir, { recursive: true });
  return join(dir, `${what.replace(/[^a-zA-Z0-9.-]/g, '_')}-${process.pid}-${randomBytes(4).toString('hex')}.download`);
}

// Download a whole file to `file` through the cache's resume loop (Range from its length after a reset); returns
// the bytes fetched. Nothing is known about the file up front, so nothing is hashed here.
export async function downloadToFile(
  source: BlobFetcher,
  file: string,
  opts: DownloadFileOptions = {},
): Promise<number> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  return resumeInto(file, { size }, source, {
    what: `downloading to ${file}`,
    attempts: opts.attempts ?? 4,
    onBytes: opts.onBytes,
    signal: opts.signal,
  });
}
