import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseDigest, type Digest } from '../reference/index.js';

const READ_CHUNK = 1024 * 1024;

// Feed a file's bytes (only the first `length` when given) into `hash`, streaming; returns how many were read.
export async function hashInto(hash: Hash, file: string, length?: number): Promise<number> {
  if (length === 0) return 0;
  let size = 0;
  const stream = createReadStream(file, {
    highWaterMark: READ_CHUNK,
    ...(length !== undefined ? { end: length - 1 } : {}),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return size;
}

// sha256 and size of a file on disk, streaming (no file is ever held in memory).
export async function hashFile(file: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  const size = await hashInto(hash, file);
  return { digest: parseDigest(`sha256:${hash.digest('hex')}`), size };
}
