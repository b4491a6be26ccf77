import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoReferee, goList, pythonList, type Row } from '../../test/support/tar-referees.js';
import type { TarEntry } from './tar.js';
import { writeArchive, type Compression } from './write.js';

// #10: a .tar.gz into one file is written by position (tar-at.ts over GzipSink), each `compressed` file entry copied
// into its stored blocks once it is ready, in any order. It must be byte for byte what the streaming GzipSink gives
// (output '-' streams in archive order), for any mix of stored and deflated entries and sizes around the block size.

let dir: string;
let goBin: string | undefined;
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const STORED = 65535;
const SIZES = [0, 1, 2, 511, 512, 513, STORED - 1, STORED, STORED + 1, 2 * STORED, 2 * STORED + 1, 3 * STORED - 7];
const MORE = [1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 16 * STORED, 2 * 1024 * 1024 + 3];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-tar-at-'));
  goBin = buildGoReferee();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Compressible bytes (JSON-like lines), so deflated runs cross batches and use their dictionary.
function text(n: number, seed: number): Buffer {
  const parts: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    const line = `{"n":${i},"seed":${seed},"digest":"sha256:${((i * 2654435761 + seed) % 4294967296).toString(16)}"}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

const pick = <T>(xs: readonly T[]): T => xs[randomInt(0, xs.length)] as T;

// Random entries: in memory or on disk, stored (`compressed`) or deflated, random or compressible bytes, sizes around
// the stored block size; the file entries become ready after random delays, so in a random order.
async function randomEntries(
  sub: string,
  count: number,
  sizes: { some: readonly number[]; more: readonly number[] } = { some: SIZES, more: MORE },
): Promise<{ entries: TarEntry[]; rows: Row[] }> {
  const entries: TarEntry[] = [];
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const size = i % 4 === 3 ? pick(sizes.more) : pick(sizes.some);
    const bytes = randomInt(0, 2) === 0 ? randomBytes(size) : text(size, i);
    const name = `e/${String(i).padStart(2, '0')}-${randomBytes(3).toString('hex')}`;
    const compressed = randomInt(0, 3) > 0;
    const first = randomInt(0, 8) === 0;
    const flags = { ...(compressed ? { compressed: true } : {}), ...(first ? { first: true } : {}) };
    if (randomInt(0, 4) === 0) entries.push({ name, data: bytes, ...flags });
    else {
      const file = join(sub, `f${i}`);
      await writeFile(file, bytes);
      const delay = randomInt(0, 40);
      const ready = randomInt(0, 4) > 0 ? { ready: () => new Promise<void>((r) => setTimeout(r, delay)) } : {};
      entries.push({ name, file, ...(randomInt(0, 2) === 0 ? { size } : {}), ...ready, ...flags });
    }
    rows.push({
      name: Buffer.from(name).toString('hex'),
      type: 'file',
      size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  return { entries, rows };
}

// The streaming writer's bytes: what the file must hold.
async function streamed(entries: TarEntry[], level: number, compress: Compression = 'gzip'): Promise<Buffer> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  await writeArchive(entries, '-', compress, env, { stdout, level });
  return Buffer.concat(chunks);
}

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  expect(r.status, `${cmd} ${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r.stdout;
}

const byName = (rows: readonly Row[]): Row[] => [...rows].sort((a, b) => (a.name < b.name ? -1 : 1));

describe('writeArchive gzip into a file, by position', () => {
  it.each([
    [1, 1],
    [6, 2],
    [9, 3],
    [6, 4],
  ])(
    'level %i, random entries (round %i): the same bytes as the streaming writer; gzip, GNU tar, Go and Python read it',
    async (level) => {
      const sub = await mkdtemp(join(dir, 'random-'));
      const { entries, rows } = await randomEntries(sub, 28);
      const out = join(sub, 'out.tar.gz');
      await writeArchive(entries, out, 'gzip', env, { level });
      const gz = await readFile(out);
      expect(gz.equals(await streamed(entries, level)), 'byte-identical to the streaming writer').toBe(true);
      run('gzip', ['-t', out]);
      expect(run('tar', ['tzf', out]).toString().trim().split('\n').sort()).toEqual(entries.map((e) => e.name).sort());
      const listed = (l: ReturnType<typeof goList>): Row[] | string => ('rows' in l ? byName(l.rows) : l.error);
      expect(listed(pythonList(gz))).toEqual(byName(rows));
      if (goBin) expect(listed(goList(goBin, gz))).toEqual(byName(rows));
      const plain = join(sub, 'out.tar');
      await writeArchive(entries, plain, 'none', env);
      expect(gunzipSync(gz).equals(await readFile(plain)), 'the tar inside is the uncompressed one').toBe(true);
      expect((await readdir(sub)).filter((n) => n.includes('kko-partial'))).toEqual([]);
    },
    60_000,
  );

  it('only stored entries, only deflated entries, and none at all', async () => {
    const sub = await mkdtemp(join(dir, 'edges-'));
    const a = randomBytes(3 * STORED);
    const b = text(2 * 1024 * 1024 + 5, 1);
    await writeFile(join(sub, 'a'), a);
    await writeFile(join(sub, 'b'), b);
    const lists: TarEntry[][] = [
      [{ name: 'a', file: join(sub, 'a'), compressed: true }],
      [{ name: 'b', file: join(sub, 'b') }],
      [
        { name: 'z', file: join(sub, 'a'), compressed: true, ready: () => new Promise((r) => setTimeout(r, 30)) },
        { name: 'y', file: join(sub, 'a'), compressed: true },
      ],
      [],
    ];
    for (const [i, list] of lists.entries()) {
      const out = join(sub, `out${i}.tar.gz`);
      await writeArchive(list, out, 'gzip', env);
      expect((await readFile(out)).equals(await streamed(list, 6)), `list ${i}`).toBe(true);
      run('gzip', ['-t', out]);
    }
  });
});

// #10: a .tar.zst into one file is written by position too (ZstdSink places each `compressed` entry as a raw frame of
// its own); byte for byte the streaming ZstdSink's output, for sizes around the 128 KiB raw block.
const RAW = 128 * 1024;
const Z_SIZES = [0, 1, 511, 512, 513, RAW - 1, RAW, RAW + 1, 2 * RAW, 2 * RAW + 1, 3 * RAW - 7];
const Z_MORE = [1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 9 * RAW + 3, 4 * 1024 * 1024 + 5];

describe('writeArchive zstd into a file, by position', () => {
  it.each([
    [1, 1],
    [3, 2],
    [19, 3],
  ])(
    'level %i, random entries (round %i): the same bytes as the streaming writer; zstd -t and GNU tar read it',
    async (level) => {
      const sub = await mkdtemp(join(dir, 'zrandom-'));
      const { entries } = await randomEntries(sub, 24, { some: Z_SIZES, more: Z_MORE });
      const out = join(sub, 'out.tar.zst');
      await writeArchive(entries, out, 'zstd', env, { level });
      const zst = await readFile(out);
      expect(zst.equals(await streamed(entries, level, 'zstd')), 'byte-identical to the streaming writer').toBe(true);
      run('zstd', ['-q', '-t', out]);
      expect(run('tar', ['--zstd', '-tf', out]).toString().trim().split('\n').sort()).toEqual(
        entries.map((e) => e.name).sort(),
      );
      const plain = join(sub, 'out.tar');
      await writeArchive(entries, plain, 'none', env);
      expect(run('zstd', ['-q', '-d', '-c', out]).equals(await readFile(plain)), 'the tar inside').toBe(true);
      expect((await readdir(sub)).filter((n) => n.includes('kko-partial'))).toEqual([]);
    },
    60_000,
  );

  it('only raw entries, only compressed entries, none at all, and entries ready out of order', async () => {
    const sub = await mkdtemp(join(dir, 'zedges-'));
    await writeFile(join(sub, 'a'), randomBytes(3 * RAW + 11));
    await writeFile(join(sub, 'b'), text(5 * 1024 * 1024 + 5, 1));
    const later = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
    const lists: TarEntry[][] = [
      [{ name: 'a', file: join(sub, 'a'), compressed: true }],
      [{ name: 'b', file: join(sub, 'b') }],
      [
        { name: 'z', file: join(sub, 'a'), compressed: true, ready: later(40) },
        { name: 'y', file: join(sub, 'a'), compressed: true, ready: later(5) },
        { name: 'x', file: join(sub, 'b'), compressed: true },
      ],
      [],
    ];
    for (const [i, list] of lists.entries()) {
      const out = join(sub, `out${i}.tar.zst`);
      await writeArchive(list, out, 'zstd', env);
      expect((await readFile(out)).equals(await streamed(list, 3, 'zstd')), `list ${i}`).toBe(true);
      run('zstd', ['-q', '-t', out]);
    }
  });
});
