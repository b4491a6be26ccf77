import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BlockCutter, GzipSink } from './gzip-writer.js';

type Part = [data: Buffer, store: boolean];

async function gzipOf(parts: readonly Part[], level?: number): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sink = new GzipSink(out, level === undefined ? {} : { level });
  for (const [data, store] of parts) await sink.write(data, store);
  await sink.end();
  return Buffer.concat(chunks);
}

// GNU gzip has its own inflate (not zlib's), so it is an independent reader.
function gnuGunzip(gz: Buffer): Buffer {
  const t = spawnSync('gzip', ['-t'], { input: gz });
  expect(t.status, t.stderr.toString()).toBe(0);
  const d = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 30 });
  expect(d.status, d.stderr.toString()).toBe(0);
  return d.stdout;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const text = (n: number): Buffer => {
  const parts: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    const line = `{"layer":${i},"digest":"sha256:${((i * 2654435761) % 4294967296).toString(16)}","size":${i * 31}}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
};
const rnd = randomBytes(300_000);
const words = text(3_500_000);

const cases: [string, Part[]][] = [
  ['zero bytes total', []],
  [
    'only empty chunks',
    [
      [Buffer.alloc(0), true],
      [Buffer.alloc(0), false],
      [Buffer.alloc(0), true],
    ],
  ],
  ['store only, small', [[rnd.subarray(0, 10), true]]],
  ['deflate only, small', [[words.subarray(0, 1000), false]]],
  [
    'stored run of exactly 65535 bytes',
    [
      [words.subarray(0, 100), false],
      [rnd.subarray(0, 65535), true],
      [words.subarray(0, 100), false],
    ],
  ],
  [
    'stored run of exactly 65536 bytes',
    [
      [rnd.subarray(0, 65536), true],
      [words.subarray(0, 10), false],
    ],
  ],
  [
    'stored run of 65535 split 65534 + 1',
    [
      [rnd.subarray(0, 65534), true],
      [rnd.subarray(65534, 65535), true],
    ],
  ],
  [
    'stored run of 131071 in odd chunks',
    [
      [rnd.subarray(0, 1), true],
      [rnd.subarray(1, 70000), true],
      [rnd.subarray(70000, 131071), true],
    ],
  ],
  [
    'empty chunks at every boundary',
    [
      [Buffer.alloc(0), false],
      [rnd.subarray(0, 5), true],
      [Buffer.alloc(0), false],
      [Buffer.alloc(0), true],
      [words.subarray(0, 7), false],
      [Buffer.alloc(0), true],
    ],
  ],
  ['one-byte alternation', Array.from({ length: 200 }, (_, i): Part => [rnd.subarray(i, i + 1), i % 2 === 0])],
  ['deflate run over several batches (dictionary, in flight)', [[words, false]]],
  [
    'deflate run in small chunks',
    Array.from({ length: 300 }, (_, i): Part => [words.subarray(i * 10_000, (i + 1) * 10_000), false]),
  ],
  [
    'store, deflate, store, deflate',
    [
      [rnd, true],
      [words.subarray(0, 2_000_000), false],
      [rnd.subarray(5), true],
      [words.subarray(0, 512), false],
    ],
  ],
  [
    'tar-like: header, stored layer, padding',
    [
      [Buffer.alloc(512, 1), false],
      [rnd.subarray(0, 200_001), true],
      [Buffer.alloc(511), false],
      [Buffer.alloc(512, 2), false],
      [Buffer.alloc(1024), false],
    ],
  ],
];

describe('GzipSink', () => {
  it.each(cases)('round trip: %s (zlib and GNU gzip)', async (_name, parts) => {
    const input = Buffer.concat(parts.map(([d]) => d));
    const gz = await gzipOf(parts);
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
    expect(sha(gnuGunzip(gz))).toBe(sha(input));
  });

  it('writes a fixed header (MTIME 0, no name, OS 255) and a CRC-32/ISIZE trailer', async () => {
    const input = words.subarray(0, 12345);
    const gz = await gzipOf([[input, false]]);
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(gz.readUInt32LE(gz.length - 8)).toBe(zlib.crc32(input));
    expect(gz.readUInt32LE(gz.length - 4)).toBe(input.length);
    expect([...gz.subarray(gz.length - 13, gz.length - 8)]).toEqual([1, 0, 0, 0xff, 0xff]); // empty final stored block
  });

  it('is deterministic: same bytes for the same input, however it is chunked', async () => {
    const whole: Part[] = [
      [words.subarray(0, 2_500_000), false],
      [rnd, true],
      [words.subarray(0, 3000), false],
    ];
    const split: Part[] = [];
    for (const [d, s] of whole)
      for (let off = 0; off < d.length; off += 77_777) split.push([d.subarray(off, off + 77_777), s]);
    const a = await gzipOf(whole);
    expect((await gzipOf(whole)).equals(a)).toBe(true);
    expect((await gzipOf(split)).equals(a)).toBe(true);
  });

  it('really stores `store` bytes: random data costs at most 0.1% plus headers', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const gz = await gzipOf([[data, true]]);
    expect(gz.length).toBeLessThanOrEqual(data.length * 1.001 + 64);
    const compressible = Buffer.alloc(1024 * 1024, 7);
    expect((await gzipOf([[compressible, true]])).length).toBeGreaterThan(compressible.length); // stored, not deflated
  });

  it('deflates the rest about as well as gzip -6', async () => {
    const gz = await gzipOf([[words, false]]);
    const ref = zlib.gzipSync(words, { level: 6 });
    expect(gz.length).toBeLessThan(ref.length * 1.01);
    expect(gz.length).toBeLessThan(words.length / 3);
  });

  it('rejects a level outside 1..9 with INVALID_INPUT', () => {
    expect(() => new GzipSink(new PassThrough(), { level: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });

  it('rejects writes once the output stream fails', async () => {
    const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) });
    broken.on('error', () => undefined);
    const sink = new GzipSink(broken);
    await expect(
      (async () => {
        for (let i = 0; i < 10; i++) await sink.write(rnd, true);
        await sink.end();
      })(),
    ).rejects.toThrow(/disk full/);
  });
});

describe('BlockCutter', () => {
  it('cuts exact blocks whatever the chunking and keeps the rest', () => {
    const c = new BlockCutter(4);
    expect(c.push(Buffer.from('ab'))).toEqual([]);
    const blocks = c.push(Buffer.from('cdefghij'));
    expect(blocks.map((b) => Buffer.concat(b).toString())).toEqual(['abcd', 'efgh']);
    expect(c.pending).toBe(2);
    expect(Buffer.concat(c.take()).toString()).toBe('ij');
    expect(c.pending).toBe(0);
  });
});
