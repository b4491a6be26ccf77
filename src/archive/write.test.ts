import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarEntry } from './tar.js';
import { writeArchive } from './write.js';

let dir: string;
let entries: TarEntry[];
const layer = randomBytes(3 * 1024 * 1024 + 17); // stands in for an already-gzipped layer
const config = Buffer.from(
  JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { diff_ids: Array(200).fill('sha256:00') } }),
);
const env = { SOURCE_DATE_EPOCH: '1700000000' };

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  expect(r.status, `${cmd} ${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-write-'));
  await writeFile(join(dir, 'layer'), layer);
  await writeFile(join(dir, 'config'), config);
  entries = [
    { name: 'images/blobs/sha256/bb', file: join(dir, 'layer'), compressed: true },
    { name: 'images/blobs/sha256/aa', file: join(dir, 'config'), size: config.length },
    { name: 'images/index.json', data: Buffer.from('{"schemaVersion":2}\n') },
    { name: 'kko/SHA256SUMS', data: Buffer.from('x\n'), first: true },
    { name: `deep/${'d'.repeat(120)}/${'n'.repeat(150)}`, data: Buffer.from('long name') },
  ];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const NAMES = [
  'kko/SHA256SUMS',
  `deep/${'d'.repeat(120)}/${'n'.repeat(150)}`,
  'images/blobs/sha256/aa',
  'images/blobs/sha256/bb',
  'images/index.json',
];

describe('writeArchive', () => {
  it('gzip: GNU tar lists and extracts it; layers are stored, so the size stays near the input', async () => {
    const out = join(dir, 'a.tar.gz');
    await writeArchive(entries, out, 'gzip', env);
    expect(run('tar', ['tzf', out]).toString().trim().split('\n')).toEqual(NAMES);
    expect(run('tar', ['xzOf', out, 'images/blobs/sha256/bb']).equals(layer)).toBe(true);
    expect(run('tar', ['xzOf', out, 'images/blobs/sha256/aa']).equals(config)).toBe(true);
    const size = (await readFile(out)).length;
    expect(size).toBeLessThan(layer.length * 1.001 + 16 * 1024);
    expect((await readdir(dir)).filter((n) => n.includes('kko-partial'))).toEqual([]);
  });

  it('gzip, zstd and none hold the same tar, byte for byte, and the same run twice gives the same bytes', async () => {
    const [gz, zst, tar, gz2] = ['b.tar.gz', 'b.tar.zst', 'b.tar', 'b2.tar.gz'].map((n) => join(dir, n)) as [
      string,
      string,
      string,
      string,
    ];
    await writeArchive(entries, gz, 'gzip', env);
    await writeArchive(entries, zst, 'zstd', env);
    await writeArchive(entries, tar, 'none', env);
    await writeArchive(entries, gz2, 'gzip', env);
    const plain = await readFile(tar);
    expect(gunzipSync(await readFile(gz)).equals(plain)).toBe(true);
    expect(run('zstd', ['-dc', zst]).equals(plain)).toBe(true);
    expect((await readFile(gz2)).equals(await readFile(gz))).toBe(true);
    run('zstd', ['-t', zst]);
    expect(run('tar', ['--zstd', '-tf', zst]).toString().trim().split('\n')).toEqual(NAMES);
    expect((await readFile(zst)).length).toBeLessThan(layer.length * 1.001 + 16 * 1024);
  });

  it("'-' streams to the given Writable and creates no file", async () => {
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    const before = await readdir(dir);
    await writeArchive(entries, '-', 'gzip', env, { stdout });
    const file = join(dir, 'c.tar.gz');
    await writeArchive(entries, file, 'gzip', env);
    expect(Buffer.concat(chunks).equals(await readFile(file))).toBe(true);
    expect(stdout.writableEnded).toBe(false); // the caller owns its stdout
    expect((await readdir(dir)).filter((n) => !before.includes(n))).toEqual(['c.tar.gz']);
  });

  it("'-' without a stream is a programming error", async () => {
    await expect(writeArchive(entries, '-', 'gzip', env)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it.each(['gzip', 'zstd', 'none'] as const)(
    '%s: a failing read removes the temp file and leaves no output',
    async (compress) => {
      const sub = await mkdtemp(join(dir, 'fail-'));
      const bad: TarEntry[] = [...entries, { name: 'zz/missing', file: join(dir, 'no-such-file'), size: 10 }];
      await expect(writeArchive(bad, join(sub, 'out.tar'), compress, env)).rejects.toMatchObject({ code: 'IO_ERROR' });
      expect(await readdir(sub)).toEqual([]);
    },
  );

  it.each([
    ['gzip', 'grew', -1],
    ['none', 'grew', -1],
    ['none', 'shrank', 1],
  ] as const)('%s: a file that %s fails the same way', async (compress, _how, delta) => {
    const sub = await mkdtemp(join(dir, 'grew-'));
    const bad: TarEntry[] = [{ name: 'a', file: join(dir, 'config'), size: config.length + delta }];
    await expect(writeArchive(bad, join(sub, 'out.tar'), compress, env)).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringMatching(delta < 0 ? /grew while being archived/ : /expected \d+ bytes, read \d+/),
    });
    expect(await readdir(sub)).toEqual([]);
  });

  it('zstd that cannot be loaded is INVALID_INPUT, before any file exists', async () => {
    const sub = await mkdtemp(join(dir, 'nozstd-'));
    const loadZstd = (): Promise<never> => Promise.reject(new Error("Cannot find package '@bokuweb/zstd-wasm'"));
    await expect(writeArchive(entries, join(sub, 'out.tar.zst'), 'zstd', env, { loadZstd })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    expect(await readdir(sub)).toEqual([]);
  });
});

// #10: a tar into a file is written by position, each file entry (gzip and zstd: each `compressed` one) as soon as
// its `ready` resolves.
describe.each(['none', 'gzip', 'zstd'] as const)(
  'writeArchive %s, file entries in the order they are ready',
  (compress) => {
    const partialOf = async (sub: string): Promise<string | undefined> => {
      const name = (await readdir(sub)).find((n) => n.includes('.kko-partial-') && !n.endsWith('.lock'));
      return name === undefined ? undefined : join(sub, name);
    };
    // The serial writer's bytes ('-' streams in archive order): what the file must hold.
    const serial = async (list: TarEntry[]): Promise<Buffer> => {
      const stdout = new PassThrough();
      const chunks: Buffer[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c));
      await writeArchive(list, '-', compress, env, { stdout });
      return Buffer.concat(chunks);
    };
    const stored = compress === 'none' ? {} : { compressed: true };

    it('entries ready in reverse archive order give the same bytes as the serial writer', async () => {
      const sub = await mkdtemp(join(dir, 'order-'));
      const blobs = [randomBytes(5 * 1024 * 1024 + 3), randomBytes(1), randomBytes(0), randomBytes(700 * 1024)];
      for (const [i, b] of blobs.entries()) await writeFile(join(sub, `blob${i}`), b);
      // blob i is ready once blob i+1 is: the last in archive order first
      const gates = blobs.map(() => {
        let open = (): void => undefined;
        const gate = new Promise<void>((r) => (open = r));
        return { gate, open };
      });
      const list: TarEntry[] = blobs.map((b, i) => ({
        name: `images/blobs/sha256/${i}`,
        file: join(sub, `blob${i}`),
        size: b.length,
        ...stored,
        ready: async () => {
          await (gates[i + 1]?.gate ?? Promise.resolve());
          setTimeout(() => gates[i]?.open(), 5);
        },
      }));
      const all = [...list, ...entries];
      const out = join(sub, 'out.tar');
      await writeArchive(all, out, compress, env);
      expect((await readFile(out)).equals(await serial(all))).toBe(true);
      expect(run('tar', ['taf', out]).toString().trim().split('\n')).toHaveLength(all.length);
      expect((await readdir(sub)).filter((n) => n.includes('kko-partial'))).toEqual([]);
    });

    it('a later entry is copied while an earlier one is still not ready', async () => {
      const sub = await mkdtemp(join(dir, 'early-'));
      const late = randomBytes(2 * 1024 * 1024);
      const soon = randomBytes(3 * 1024 * 1024 + 1000); // its last 40 bytes in one block of each: gzip 65535, zstd 128 KiB
      await writeFile(join(sub, 'late'), late);
      await writeFile(join(sub, 'soon'), soon);
      const tail = soon.subarray(-40); // the last bytes copied (all in the last stored block or raw block)
      let soonSeen = false;
      const list: TarEntry[] = [
        {
          name: 'a-late',
          file: join(sub, 'late'),
          size: late.length,
          ...stored,
          // ready only once the temp file already holds the end of the next entry's bytes (or after 5 s)
          ready: async () => {
            const deadline = Date.now() + 5000;
            while (!soonSeen && Date.now() < deadline) {
              const tmp = await partialOf(sub);
              if (tmp) soonSeen = (await readFile(tmp)).includes(tail);
              if (!soonSeen) await new Promise((r) => setTimeout(r, 20));
            }
          },
        },
        { name: 'b-soon', file: join(sub, 'soon'), size: soon.length, ...stored },
      ];
      await writeArchive(list, join(sub, 'out.tar'), compress, env);
      expect(soonSeen).toBe(true);
      expect((await readFile(join(sub, 'out.tar'))).equals(await serial(list))).toBe(true);
    });

    it('an entry whose ready fails ends the write at once, while another is still waiting; nothing is left', async () => {
      const sub = await mkdtemp(join(dir, 'readyfail-'));
      const boom = new Error('fetch failed');
      const list: TarEntry[] = [
        ...entries,
        { name: 'x/never', file: join(dir, 'config'), size: config.length, ready: () => new Promise(() => undefined) },
        {
          name: 'x/fails',
          file: join(dir, 'config'),
          size: config.length,
          ...stored,
          ready: () => Promise.reject(boom),
        },
      ];
      await expect(writeArchive(list, join(sub, 'out.tar'), compress, env)).rejects.toMatchObject({
        message: expect.stringContaining('fetch failed'),
      });
      expect(await readdir(sub)).toEqual([]);
    });

    it('an abort while entries wait for ready throws the reason and leaves nothing', async () => {
      const sub = await mkdtemp(join(dir, 'readyabort-'));
      const ctrl = new AbortController();
      const reason = new Error('interrupted');
      const list: TarEntry[] = [
        ...entries,
        { name: 'x/never', file: join(dir, 'config'), size: config.length, ready: () => new Promise(() => undefined) },
        { name: 'y/never', file: join(dir, 'layer'), ...stored, ready: () => new Promise(() => undefined) },
      ];
      const writing = writeArchive(list, join(sub, 'out.tar'), compress, env, { signal: ctrl.signal });
      while (!(await partialOf(sub))) await new Promise((r) => setTimeout(r, 10));
      ctrl.abort(reason);
      await expect(writing).rejects.toBe(reason);
      expect(await readdir(sub)).toEqual([]);
    });

    it.each([
      ['grew', -1],
      ['shrank', 1],
    ] as const)('a placed file that %s fails the write and leaves nothing', async (_how, delta) => {
      const sub = await mkdtemp(join(dir, 'placed-'));
      const bad: TarEntry[] = [
        ...entries,
        { name: 'x/layer', file: join(dir, 'layer'), size: layer.length + delta, ...stored },
      ];
      await expect(writeArchive(bad, join(sub, 'out.tar'), compress, env)).rejects.toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringMatching(delta < 0 ? /grew while being archived/ : /expected \d+ bytes, read \d+/),
      });
      expect(await readdir(sub)).toEqual([]);
    });
  },
);

describe('writeArchive by position', () => {
  it.each(['none', 'gzip', 'zstd'] as const)(
    '%s: a rename that fails (the output is a directory) leaves no temp file',
    async (compress) => {
      const sub = await mkdtemp(join(dir, 'rename-'));
      await mkdir(join(sub, 'out'));
      await writeFile(join(sub, 'out', 'keep'), 'x');
      await expect(writeArchive(entries, join(sub, 'out'), compress, env)).rejects.toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringContaining('EISDIR'),
      });
      expect(await readdir(sub)).toEqual(['out']);
    },
  );
});

describe('writeArchive interrupted', () => {
  it('an abort while an entry is being read removes the temp file and its owner lock, and throws the reason', async () => {
    const out = join(dir, 'aborted.tar.gz');
    const fifo = join(dir, 'slow-entry');
    run('mkfifo', [fifo]);
    const ctrl = new AbortController();
    const reason = new Error('interrupted');
    const writing = writeArchive([{ name: 'a', file: fifo, size: 4 * 1024 * 1024 }], out, 'gzip', env, {
      signal: ctrl.signal,
    });
    // feed part of the entry, so the writer is mid-file when the signal comes
    const { createWriteStream } = await import('node:fs');
    const feeder = createWriteStream(fifo);
    feeder.on('error', () => undefined); // EPIPE once the aborted writer closes the fifo: expected here
    feeder.write(randomBytes(1024 * 1024));
    const deadline = Date.now() + 10_000;
    while (
      (await readdir(dir)).filter((n) => n.startsWith('aborted.tar.gz.kko-partial-')).length < 2 &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 20));
    expect((await readdir(dir)).filter((n) => n.startsWith('aborted.tar.gz.kko-partial-'))).toHaveLength(2); // partial + lock
    ctrl.abort(reason);
    feeder.write(randomBytes(64 * 1024)); // the next chunk read sees the abort
    await expect(writing).rejects.toBe(reason);
    feeder.destroy();
    expect((await readdir(dir)).filter((n) => n.startsWith('aborted.tar.gz'))).toEqual([]);
  });
});
