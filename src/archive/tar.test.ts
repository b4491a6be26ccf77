import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { frameInBlocks, writeTar, type ArchiveSink, type BlockFraming } from './tar.js';

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

describe('writeTar names', () => {
  it.each([
    ['a newline', 'images/a\nkko/SHA256SUMS', 'images/a\\u000akko/SHA256SUMS'],
    ['an escape sequence', 'bin/\u001b]0;x\u0007', 'bin/\\u001b]0;x\\u0007'],
    ['a ".." segment', 'images/../x', 'images/../x'],
  ])('refuses a name with %s before writing a byte, the name escaped in the message', async (_what, name, shown) => {
    const h = headSink(1);
    const got = await writeTar([{ name, data: Buffer.from('hi') }], h.sink).catch((e: unknown) => e);
    expect(got).toMatchObject({ code: 'UNSAFE_ARCHIVE', message: `refusing archive entry name "${shown}"` });
    expect(h.bytes().length).toBe(0);
  });
});

describe('frameInBlocks', () => {
  // The whole run framed in one piece: lead, then each block's header and bytes.
  function whole(run: Buffer, f: BlockFraming): Buffer {
    const parts: Buffer[] = f.lead ? [f.lead] : [];
    for (let p = 0; p < run.length; p += f.block) {
      const len = Math.min(f.block, run.length - p);
      parts.push(f.header(len), run.subarray(p, p + len));
    }
    return Buffer.concat(parts);
  }
  const header = (len: number): Buffer => Buffer.from([0xaa, len & 0xff, len >> 8]);

  it.each([
    { block: 7, lead: undefined },
    { block: 7, lead: Buffer.from('LEAD!') },
    { block: 1, lead: Buffer.from('L') },
    { block: 64, lead: Buffer.from('frame-header') },
  ])('any cut of the run into chunks places the bytes of the run framed whole (block $block)', ({ block, lead }) => {
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let round = 0; round < 50; round++) {
      const size = 1 + rand(300);
      const run = Buffer.from(Array.from({ length: size }, () => rand(256)));
      const at = rand(40);
      const f: BlockFraming = { at, size, block, headerLength: 3, header, ...(lead ? { lead } : {}) };
      const expected = whole(run, f);
      const out = Buffer.alloc(at + expected.length, 0xee);
      for (let from = 0; from < size;) {
        const n = Math.min(size - from, 1 + rand(2 * block + 3));
        const { position, buffers } = frameInBlocks(run.subarray(from, from + n), from, f);
        Buffer.concat(buffers).copy(out, position);
        from += n;
      }
      expect(out.subarray(0, at).every((b) => b === 0xee)).toBe(true);
      expect(out.subarray(at).equals(expected)).toBe(true);
    }
  });
});
