import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressorFor, loadZstdCompress, ZstdSink } from './compress.js';
import { Xxh64 } from './xxh64.js';

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
  const source = Readable.from(
    (function* () {
      for (let off = 0; off < data.length; off += step) yield data.subarray(off, off + step);
    })(),
  );
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
  [
    'compress only, over one 4 MiB frame',
    [
      [text, false],
      [text, false],
    ],
  ],
  [
    'raw run of exactly 128 KiB',
    [
      [text.subarray(0, 10), false],
      [rnd.subarray(0, RAW), true],
      [text.subarray(0, 10), false],
    ],
  ],
  [
    'raw run of 128 KiB + 1 in odd chunks',
    [
      [rnd.subarray(0, 1), true],
      [rnd.subarray(1, 99_999), true],
      [rnd.subarray(99_999, RAW + 1), true],
    ],
  ],
  [
    'empty chunks and alternation',
    [
      [Buffer.alloc(0), true],
      [rnd.subarray(0, 3), true],
      [Buffer.alloc(0), false],
      [text.subarray(0, 3), false],
      [rnd.subarray(3, 300_000), true],
      [Buffer.alloc(1024), false],
    ],
  ],
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
    const parts: Part[] = [
      [rnd, true],
      [text, false],
    ];
    const zst = await zstdOf(parts);
    expect(zst.length).toBeLessThan(rnd.length * 1.001 + text.length / 4);
    expect((await zstdOf(parts)).equals(zst)).toBe(true);
  });
});

describe('ZstdSink content checksums', () => {
  it('raw-block frames carry a checksum: a flipped byte of a stored layer fails `zstd -t` and our reader', async () => {
    const zst = await zstdOf([[rnd, true]]);
    expect(zst[4]).toBe(0x04); // Content_Checksum_flag, nothing else
    const bad = Buffer.from(zst);
    bad[200_000] = (bad[200_000] ?? 0) ^ 0x01;
    expect(spawnSync('zstd', ['-t', '-q'], { input: bad }).status).not.toBe(0);
    await expect(inflate(bad)).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(/zstd frame 1 at compressed byte 0: content checksum mismatch/),
    });
  });

  it('compressed frames carry the XXH64 of their content, as `zstd --check` writes it', async () => {
    const zst = await zstdOf([[text, false]]);
    const x = new Xxh64();
    x.update(text);
    expect(zst.readUInt32LE(zst.length - 4)).toBe(x.digestLow32());
    expect(zstdCli(['-dc'], zst).equals(text)).toBe(true);
    const flipped = Buffer.from(zst);
    flipped.writeUInt32LE(x.digestLow32() ^ 1, zst.length - 4);
    expect(spawnSync('zstd', ['-t', '-q'], { input: flipped }).status).not.toBe(0);
    await expect(inflate(flipped)).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
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

// A zstd frame of raw blocks written by hand: `descriptor` and `header` bytes as given, then `blocks`.
function frame(descriptor: number, header: number[], blocks: Buffer[]): Buffer {
  const parts = blocks.map((b, i) => {
    const h = Buffer.alloc(3);
    h.writeUIntLE((b.length << 3) | (i === blocks.length - 1 ? 1 : 0), 0, 3);
    return Buffer.concat([h, b]);
  });
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, descriptor, ...header]), ...parts]);
}

// RLE blocks: 4 bytes that each decode to 128 KiB of `byte`.
function rleBlocks(n: number): Buffer {
  const out = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) {
    out.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | (i === n - 1 ? 1 : 0), 4 * i, 3);
    out[4 * i + 3] = 0;
  }
  return out;
}

describe('zstd frames are bounded and checked', () => {
  it('refuses a window over 128 MiB before allocating it (zstd -t refuses it too)', async () => {
    // Window_Descriptor 0xa7: 2^30 + 7/8 * 2^30 = 1.9 GiB; about 1.6 KB on disk.
    const bomb = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa7]), rleBlocks(400)]);
    expect(bomb.length).toBeLessThan(1700);
    const cli = spawnSync('zstd', ['-t', '-q'], { input: bomb });
    expect(cli.status).not.toBe(0);
    // Refused from the frame header (the message names the window), so no block was decoded and nothing allocated.
    await expect(inflate(bomb)).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(/needs a 2013265920-byte window \(limit 134217728\)/),
    });
    // Single_Segment with an 8-byte Frame_Content_Size: the window is the content size.
    const fcs = Buffer.alloc(8);
    fcs.writeBigUInt64LE(3n * 1024n ** 3n);
    await expect(
      inflate(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0]), fcs, rleBlocks(1)])),
    ).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
  });

  it('reads a frame with a window of exactly 128 MiB', async () => {
    const data = Buffer.from('kubeadm');
    expect((await inflate(frame(0x00, [0x88], [data]))).equals(data)).toBe(true); // 0x88: 2^(10+17)
  });

  it('bounds the decoder work: tiny blocks under a large window are refused quickly (#7 review)', async () => {
    // 2,000 one-byte RLE blocks under a 128 MiB window (9.6 KB): fzstd moves the whole window per block (12 s before).
    const tiny = Buffer.alloc(4 * 2000);
    for (let i = 0; i < 2000; i++) tiny.writeUIntLE((1 << 3) | (1 << 1) | (i === 1999 ? 1 : 0), 4 * i, 3);
    // "Quickly" as work, not as time (a loaded CI machine makes wall-clock bounds flaky): refused about halfway
    // through the 2,000 blocks, where the old decoder moved the whole window for every one of them.
    const err = await inflate(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88]), tiny])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(
        /zstd frame 1 at compressed byte 0: its 134217728-byte window and small blocks \(\d+ so far\) would make the decoder move more than 256 bytes per byte out and 65536 per byte in/,
      ),
    });
    const blocksSeen = Number(/\((\d+) so far\)/.exec((err as Error).message)?.[1]);
    expect(blocksSeen).toBeGreaterThan(0);
    expect(blocksSeen).toBeLessThan(2000);
    // What `zstd -19` writes stays within the budget, even split into small blocks on repetitive text.
    expect(
      (await inflate(zstdCli(['-q', '-c', '-19'], Buffer.concat([text, text, text])))).equals(
        Buffer.concat([text, text, text]),
      ),
    ).toBe(true);
  });

  it('bounds the output per compressed byte: 4-byte RLE blocks of 128 KiB each are refused past 1032:1 (#7 review)', async () => {
    const rle = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]); // 128 KiB window, then 9,000 RLE blocks: 36 KB → 1.2 GB
    await expect(inflate(Buffer.concat([rle, rleBlocks(9000)]))).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(
        /zstd frame 1 at compressed byte 0: \d+ bytes out of \d+ compressed bytes \(more than 1032:1\)/,
      ),
    });
  });

  it('a stream that opens with a skippable frame is zstd, as for `zstd -d` and `tar --zstd` (#7 review)', async () => {
    const real = zstdCli(['-q', '-c', '--check'], Buffer.from('real content'));
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('fake')]);
    expect(decompressorFor(skippable).compression).toBe('zstd');
    expect((await inflate(Buffer.concat([skippable, real]))).toString()).toBe('real content');
  });

  it('refuses a flipped byte that only the content checksum catches, as `zstd -t` does', async () => {
    const content = randomBytes(300_000); // incompressible: zstd stores raw blocks, so a flip decodes "fine"
    const zst = zstdCli(['-q', '-c', '--check', '-1'], content);
    expect((await inflate(zst, 1000)).equals(content)).toBe(true);
    const bad = Buffer.from(zst);
    bad[150_000] = (bad[150_000] ?? 0) ^ 0x01;
    expect(spawnSync('zstd', ['-t', '-q'], { input: bad }).status).not.toBe(0);
    await expect(inflate(bad)).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(/zstd frame 1 at compressed byte 0: content checksum mismatch/),
    });
  });

  it('checks every frame of a multi-frame file, skippable frames included', async () => {
    const a = randomBytes(70_000);
    const b = Buffer.from(text.subarray(0, 200_000));
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from('hello')]);
    const fa = zstdCli(['-q', '-c', '--check', '-1'], a);
    const fb = zstdCli(['-q', '-c', '--check', '-19'], b);
    const empty = zstdCli(['-q', '-c', '--check'], Buffer.alloc(0));
    const multi = Buffer.concat([fa, skippable, empty, fb, await zstdOf([[rnd.subarray(0, 5000), true]])]);
    expect(zstdCli(['-dc'], multi).equals(Buffer.concat([a, b, rnd.subarray(0, 5000)]))).toBe(true);
    for (const step of [7, 4096, 1 << 20])
      expect((await inflate(multi, step)).equals(Buffer.concat([a, b, rnd.subarray(0, 5000)]))).toBe(true);
    const bad = Buffer.from(multi);
    const at = fa.length + skippable.length + empty.length + fb.length - 2; // inside frame 3's checksum
    bad[at] = (bad[at] ?? 0) ^ 0xff;
    await expect(inflate(bad)).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringMatching(/zstd frame 3 at compressed byte \d+: content checksum mismatch/),
    });
  });
});
