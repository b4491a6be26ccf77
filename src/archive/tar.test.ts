import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTar, type ArchiveSink } from './tar.js';

// Collects the first bytes written, then stops the writer (so an 8 GiB entry is never streamed).
function headSink(limit: number): { sink: ArchiveSink; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  let n = 0;
  return {
    sink: {
      write: async (chunk: Buffer) => {
        chunks.push(chunk);
        n += chunk.length;
        if (n >= limit) throw new Error('enough');
      },
      end: async () => undefined,
    },
    bytes: () => Buffer.concat(chunks),
  };
}

describe('writeTar headers', () => {
  it('a file over 8 GiB gets a PAX size record (the ustar size field cannot hold it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kko-tar-'));
    try {
      const big = join(dir, 'big.iso');
      const fh = await open(big, 'w');
      await fh.truncate(8 * 1024 ** 3 + 1); // sparse
      await fh.close();
      const h = headSink(2048);
      await expect(writeTar([{ name: 'repository/amd64/x/1/x-1-amd64.iso', file: big }], h.sink)).rejects.toThrow(
        'enough',
      );
      const out = h.bytes();
      expect(String.fromCharCode(out[156] ?? 0)).toBe('x');
      expect(out.subarray(512, 1024).toString('utf8')).toContain(`size=${8 * 1024 ** 3 + 1}\n`);
      const ustar = out.subarray(1024, 1536);
      expect(ustar.subarray(0, 34).toString('utf8')).toBe('repository/amd64/x/1/x-1-amd64.iso');
      expect(ustar.subarray(124, 135).toString('ascii')).toBe('00000000000');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a small file has no PAX header', async () => {
    const h = headSink(512);
    await expect(writeTar([{ name: 'a/b', data: Buffer.from('hi') }], h.sink)).rejects.toThrow('enough');
    expect(String.fromCharCode(h.bytes()[156] ?? 0)).toBe('0');
    expect(h.bytes().subarray(124, 135).toString('ascii')).toBe('00000000002');
  });
});
