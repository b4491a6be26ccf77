import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressorFor, loadZstdCompress, ZstdSink } from './compress.js';

type Part = [data: Buffer, store: boolean];

async function zstdOf(parts: readonly Part[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sink = new ZstdSink(out, await loadZstdCompress(), 3);
  for (const [data, store] of parts) await sink.write(data, store);
  await sink.end();
  return Buffer.concat(chunks);
}

function zstdCli(args: string[], input: Buffer): Buffer {
  const r = spawnSync('zstd', args, { input, maxBuffer: 1 << 30 });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout;
}

// Decompress through decompressorFor, feeding `step`-byte chunks.
async function inflate(data: Buffer, step = 65536): Promise<Buffer> {
  const { transform } = decompressorFor(data.subarray(0, 4));
  const chunks: Buffer[] = [];
  const source = Readable.from((function* () {
    for (let off = 0; off < data.length; off += step) yield data.subarray(off, off + step);
  })());
  await pipeline(source, transform, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  });
  return Buffer.concat(chunks);
}

const rnd = randomBytes(400_000);
const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `{"i":${i},"v":"${(i * 7919) % 1000}"}\n`).join(''));
const RAW = 128 * 1024;

const cases: [string, Part[]][] = [
  ['zero bytes total', []],
  ['store only', [[rnd.subarray(0, 1000), true]]],
  ['compress only, over one 4 MiB frame', [[text, false], [text, false]]],
  ['raw run of exactly 128 KiB', [[text.subarray(0, 10), false], [rnd.subarray(0, RAW), true], [text.subarray(0, 10), false]]],
  ['raw run of 128 KiB + 1 in odd chunks', [[rnd.subarray(0, 1), true], [rnd.subarray(1, 99_999), true], [rnd.subarray(99_999, RAW + 1), true]]],
  ['empty chunks and alternation', [[Buffer.alloc(0), true], [rnd.subarray(0, 3), true], [Buffer.alloc(0), false], [text.subarray(0, 3), false], [rnd.subarray(3, 300_000), true], [Buffer.alloc(1024), false]]],
];

describe('ZstdSink', () => {
  it.each(cases)('round trip: %s (zstd CLI and our decoder)', async (_name, parts) => {
    const input = Buffer.concat(parts.map(([d]) => d));
    const zst = await zstdOf(parts);
    expect(zstdCli(['-t'], zst)).toBeDefined();
    expect(zstdCli(['-dc'], zst).equals(input)).toBe(true);
    expect((await inflate(zst, 1000)).equals(input)).toBe(true);
  });

  it('stores `store` bytes as raw blocks and compresses the rest; same input, same bytes', async () => {
    const parts: Part[] = [[rnd, true], [text, false]];
    const zst = await zstdOf(parts);
    expect(zst.length).toBeLessThan(rnd.length * 1.001 + text.length / 4);
    expect((await zstdOf(parts)).equals(zst)).toBe(true);
  });
});

describe('decompressorFor', () => {
  it('gunzips gzip, decodes zstd written by the zstd CLI, passes anything else through', async () => {
    const tar = Buffer.concat([text, rnd]);
    expect(decompressorFor(gzipSync(tar)).compression).toBe('gzip');
    expect((await inflate(gzipSync(tar))).equals(tar)).toBe(true);
    const zst = zstdCli(['-3', '-c'], tar);
    expect(decompressorFor(zst).compression).toBe('zstd');
    expect((await inflate(zst)).equals(tar)).toBe(true);
    expect(decompressorFor(tar).compression).toBe('none');
    expect((await inflate(tar)).equals(tar)).toBe(true);
  });

  it('a highly compressed zstd stream is decoded under back-pressure', async () => {
    const zeros = Buffer.alloc(32 * 1024 * 1024);
    const zst = zstdCli(['-19', '-c'], zeros);
    expect(zst.length).toBeLessThan(10_000);
    expect((await inflate(zst)).equals(zeros)).toBe(true);
  });

  it('truncated or corrupt zstd is UNSAFE_ARCHIVE', async () => {
    const zst = zstdCli(['-3', '-c'], Buffer.concat([text, rnd]));
    await expect(inflate(zst.subarray(0, zst.length - 100))).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    const bad = Buffer.from(zst);
    bad.fill(0xff, 4, 200);
    await expect(inflate(bad)).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
  });
});
