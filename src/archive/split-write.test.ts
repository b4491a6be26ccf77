import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readlinkSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarEntry } from './tar.js';
import { removeStalePartials, writeArchive } from './write.js';

// `writeArchive(…, { splitSize })`: parts whose concatenation is the single-file archive, a sha256sum list, and
// nothing under a final name until every part is complete.
let dir: string;
let entries: TarEntry[];
const layer = randomBytes(2 * 1024 * 1024 + 123);
const env = { SOURCE_DATE_EPOCH: '1700000000' };

function run(cmd: string, args: string[], opts: { input?: Buffer; cwd?: string } = {}): Buffer {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 1 << 30 });
  expect(r.status, `${cmd} ${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-split-'));
  await writeFile(join(dir, 'layer'), layer);
  entries = [
    { name: 'images/blobs/sha256/bb', file: join(dir, 'layer'), compressed: true },
    { name: 'images/index.json', data: Buffer.from('{"schemaVersion":2}\n') },
  ];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readlinkOr = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return ''; // the fd of the readdir itself, gone by now
  }
};

const concat = async (files: readonly string[]) => Buffer.concat(await Promise.all(files.map((f) => readFile(f))));

describe('writeArchive with splitSize', () => {
  it.each(['gzip', 'zstd', 'none'] as const)(
    '%s: the parts, joined, are the single-file archive byte for byte; sha256sum -c accepts the list',
    async (compress) => {
      const sub = await mkdtemp(join(dir, `${compress}-`));
      const single = join(sub, 'single');
      await writeArchive(entries, single, compress, env);
      const out = join(sub, 'art');
      const written = await writeArchive(entries, out, compress, env, { splitSize: 512 * 1024 });
      const whole = await readFile(single);
      const n = Math.ceil(whole.length / (512 * 1024));
      expect(written.files).toEqual(Array.from({ length: n }, (_, i) => `${out}.part-${String(i).padStart(3, '0')}`));
      expect((await concat(written.files)).equals(whole)).toBe(true);
      for (const f of written.files.slice(0, -1)) expect((await stat(f)).size).toBe(512 * 1024);
      expect(written.partsList).toBe(`${out}.parts.sha256`);
      run('sha256sum', ['-c', '--strict', 'art.parts.sha256'], { cwd: sub });
      expect((await readdir(sub)).sort()).toEqual(
        ['art.parts.sha256', ...written.files.map((f) => f.slice(sub.length + 1)), 'single'].sort(),
      );
    },
  );

  it('a size that divides the archive exactly makes no empty last part', async () => {
    const sub = await mkdtemp(join(dir, 'exact-'));
    await writeArchive(entries, join(sub, 'single'), 'none', env);
    const size = (await stat(join(sub, 'single'))).size; // a tar: a multiple of 512
    const written = await writeArchive(entries, join(sub, 'art'), 'none', env, { splitSize: size / 512 });
    expect(written.files).toHaveLength(512);
    expect((await stat(written.files.at(-1) as string)).size).toBe(size / 512);
  });

  it('more than 1000 parts is refused and leaves nothing', async () => {
    const sub = await mkdtemp(join(dir, 'many-'));
    await expect(writeArchive(entries, join(sub, 'art'), 'none', env, { splitSize: 1024 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    expect(await readdir(sub)).toEqual([]);
  });

  it("'-' cannot be split", async () => {
    await expect(
      writeArchive(entries, '-', 'gzip', env, { splitSize: 1 << 20, stdout: createWriteStream('/dev/null') }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('a failing read removes every temp part and its lock; no final name appears', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const bad: TarEntry[] = [...entries, { name: 'zz/missing', file: join(dir, 'no-such-file'), size: 10 }];
    await expect(writeArchive(bad, join(sub, 'art'), 'gzip', env, { splitSize: 256 * 1024 })).rejects.toMatchObject({
      code: 'IO_ERROR',
    });
    expect(await readdir(sub)).toEqual([]);
  });

  it('a part whose fsync fails is closed before the parts are removed (no deleted part kept open)', async () => {
    const sub = await mkdtemp(join(dir, 'sync-fail-'));
    const probe = await open(join(sub, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    await rm(join(sub, 'probe'));
    const sync = proto.sync;
    proto.sync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    try {
      await expect(writeArchive(entries, join(sub, 'art'), 'zstd', env, { splitSize: 256 * 1024 })).rejects.toThrow(
        /EIO/,
      );
    } finally {
      proto.sync = sync;
    }
    expect(await readdir(sub)).toEqual([]);
    const targets = (await readdir('/proc/self/fd')).map((fd) => readlinkOr(`/proc/self/fd/${fd}`));
    expect(targets.filter((target) => target.startsWith(sub))).toEqual([]);
  });

  it('stale parts beyond the new count (an older, larger export under the name) are removed', async () => {
    const sub = await mkdtemp(join(dir, 'stale-'));
    const out = join(sub, 'art');
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) await writeFile(`${out}.part-00${i}`, 'old');
    const written = await writeArchive(entries, out, 'gzip', env, { splitSize: 1024 * 1024 });
    expect((await readdir(sub)).filter((n) => n.includes('.part-')).sort()).toEqual(
      written.files.map((f) => f.slice(sub.length + 1)),
    );
  });

  it('an abort mid-part removes the temp parts and the lock, and names no part', async () => {
    const sub = await mkdtemp(join(dir, 'abort-'));
    const fifo = join(sub, 'slow');
    run('mkfifo', [fifo]);
    const ctrl = new AbortController();
    const reason = new Error('interrupted');
    const writing = writeArchive(
      [...entries, { name: 'z', file: fifo, size: 4 * 1024 * 1024 }],
      join(sub, 'art'),
      'gzip',
      env,
      { signal: ctrl.signal, splitSize: 1024 * 1024 },
    );
    const feeder = createWriteStream(fifo);
    feeder.on('error', () => undefined); // EPIPE once the aborted writer closes the fifo
    feeder.write(randomBytes(1024 * 1024));
    const temps = async () => (await readdir(sub)).filter((n) => n.startsWith('art.kko-partial-'));
    const deadline = Date.now() + 10_000;
    while ((await temps()).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await temps()).filter((n) => n.includes('.part-')).length).toBeGreaterThanOrEqual(3); // parts 000-002 (+ lock)
    ctrl.abort(reason);
    feeder.write(randomBytes(64 * 1024));
    await expect(writing).rejects.toBe(reason);
    feeder.destroy();
    expect((await readdir(sub)).filter((n) => n !== 'slow')).toEqual([]);
  });
});

describe('removeStalePartials with parts', () => {
  it('removes a dead run’s temp parts and list as one set, under the one lock', async () => {
    const sub = await mkdtemp(join(dir, 'leftover-'));
    const stem = 'art.kko-partial-999999-0a0b0c0d';
    const names = [`${stem}.part-000`, `${stem}.part-001`, `${stem}.parts.sha256`];
    for (const n of names) await writeFile(join(sub, n), 'x');
    await writeFile(join(sub, `${stem}.lock`), JSON.stringify({ pid: 999999999, host: 'elsewhere', token: 't' })); // stale by mtime below
    const { utimes } = await import('node:fs/promises');
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(sub, `${stem}.lock`), old, old);
    const removed = await removeStalePartials(join(sub, 'art'));
    expect(removed.sort()).toEqual(names.map((n) => join(sub, n)).sort());
    expect(await readdir(sub)).toEqual([]);
  });
});
