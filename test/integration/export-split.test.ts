import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushIndex } from '../support/builders.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli, tempDir } from '../cli/run-cli.js';

// `artifact export --split-size`: parts whose cat is the single-file artifact, and every reader taking the parts.
const WRITE_JS = new URL('../../dist/archive/write.js', import.meta.url).href;
const fx = fixtureSet({ baseSize: 1536 * 1024 }); // two incompressible base layers: a ~3 MiB artifact, 4 parts of 1 MiB
let reg: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
let dir: string;
const children: ChildProcess[] = [];
const env = (d: string) => ({ HOME: d, SOURCE_DATE_EPOCH: '1700000000' });

beforeAll(async () => {
  reg = await startRegistry({ mode: 'plain' });
  work = await tempDir('kko-split-');
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await c.close();
  dir = join(work.dir, 'main');
  await mkdir(dir);
  await writeManifest(dir);
  expect((await exportIn(dir, 'single.tar.gz')).code).toBe(0);
  const r = await exportIn(dir, 'art.tar.gz', '--split-size', '1M');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await reg?.stop();
  await work?.cleanup();
});

async function writeManifest(d: string): Promise<void> {
  await writeFile(
    join(d, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: s}\nspec:\n  arches: [amd64, arm64]\n  images:\n  - ${reg.host}/kubesphere/pause:3.9\n  registry:\n    auths:\n      "${reg.host}": {plainHTTP: true}\n`,
  );
}

const exportIn = (d: string, out: string, ...extra: string[]) =>
  runCli(['artifact', 'export', '-m', 'm.yaml', '--cache', 'cache', '-o', out, '--json', ...extra], {
    cwd: d,
    env: env(d),
  });
const kko = (d: string, ...args: string[]) => runCli(['artifact', ...args], { cwd: d, env: env(d) });
const parts = async (d: string, base = 'art.tar.gz') =>
  (await readdir(d)).filter((n) => n.startsWith(`${base}.part-`)).sort();
const sh = (cmd: string, cwd: string) => execFileSync('sh', ['-c', cmd], { cwd, maxBuffer: 1 << 30 });

// A copy of the parts (and the list) in a fresh dir, to damage.
async function copyParts(name: string, list = true): Promise<string> {
  const d = join(work.dir, name);
  await mkdir(d);
  for (const n of [...(await parts(dir)), ...(list ? ['art.tar.gz.parts.sha256'] : [])])
    await copyFile(join(dir, n), join(d, n));
  return d;
}

describe('export --split-size', () => {
  it('writes art.tar.gz.part-000…003 of 1 MiB (the last shorter) whose cat is byte-identical to the single-file export', async () => {
    const names = await parts(dir);
    expect(names).toEqual(['art.tar.gz.part-000', 'art.tar.gz.part-001', 'art.tar.gz.part-002', 'art.tar.gz.part-003']);
    for (const n of names.slice(0, -1)) expect((await stat(join(dir, n))).size).toBe(1024 * 1024);
    sh('cat art.tar.gz.part-* | cmp - single.tar.gz', dir);
    expect(sh('cat art.tar.gz.part-* | tar tzf -', dir).toString()).toContain('kko/inventory.json');
    sh('sha256sum -c --strict art.tar.gz.parts.sha256', dir);
    expect(await readdir(dir)).not.toContain('art.tar.gz');
    expect((await readdir(dir)).filter((n) => n.includes('kko-partial'))).toEqual([]);
  });

  it('does not overwrite existing parts without --force', async () => {
    const r = await exportIn(dir, 'art.tar.gz', '--split-size', '1M');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('art.tar.gz.part');
    expect(r.stderr).toContain('--force');
    const f = await exportIn(dir, 'art.tar.gz', '--split-size', '1M', '--force');
    expect(f.code).toBe(0);
    sh('cat art.tar.gz.part-* | cmp - single.tar.gz', dir);
  }, 60_000);
});

describe('reading a split artifact', () => {
  it.each([
    ['the first part', 'art.tar.gz.part-000'],
    ['a quoted glob', 'art.tar.gz.part-*'],
    ['the base name', 'art.tar.gz'],
  ])('verify via %s', async (_what, arg) => {
    const r = await kko(dir, 'verify', arg);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('ok: ');
    expect(r.code).toBe(0);
  });

  it('inspect reports what the single file reports', async () => {
    const split = await kko(dir, 'inspect', 'art.tar.gz.part-000', '--json');
    const single = await kko(dir, 'inspect', 'single.tar.gz', '--json');
    expect(split.code).toBe(0);
    const strip = (t: string) => ({ ...(JSON.parse(t) as Record<string, unknown>), artifact: undefined });
    expect(strip(split.stdout)).toEqual(strip(single.stdout));
  });

  it('import writes artifact.md5 = md5 of the parts joined (= of the single file), and the same files', async () => {
    const r = await kko(dir, 'import', 'art.tar.gz.part-000', '--dir', 'kk-split');
    expect(r.code, r.stderr).toBe(0);
    expect((await kko(dir, 'import', 'single.tar.gz', '--dir', 'kk-single')).code).toBe(0);
    const md5 = sh('cat art.tar.gz.part-* | md5sum', dir).toString().split(' ')[0];
    expect(await readFile(join(dir, 'kk-split/artifact.md5'), 'utf8')).toBe(md5);
    expect(await readFile(join(dir, 'kk-single/artifact.md5'), 'utf8')).toBe(md5);
    expect(sh('diff -r kk-split kk-single && echo same', dir).toString()).toBe('same\n');
  });

  it('a part other than the first is refused, naming the first', async () => {
    const r = await kko(dir, 'verify', 'art.tar.gz.part-001');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not the first part');
    expect(r.stderr).toContain('art.tar.gz.part-000');
  });

  it.each([true, false])('a missing middle part is named (list beside the parts: %s)', async (list) => {
    const d = await copyParts(`missing-${list}`, list);
    await rm(join(d, 'art.tar.gz.part-001'));
    for (const arg of ['art.tar.gz.part-000', 'art.tar.gz.part-*']) {
      const r = await kko(d, 'verify', arg);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/part \S*art\.tar\.gz\.part-001 is missing/);
    }
  });

  it('the last part missing is caught by the list', async () => {
    const d = await copyParts('missing-last');
    await rm(join(d, 'art.tar.gz.part-003'));
    const r = await kko(d, 'verify', 'art.tar.gz.part-000');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/art\.tar\.gz\.part-003 is missing \(art\.tar\.gz\.parts\.sha256 lists 4\)/);
  });

  it.each([true, false])('a truncated middle part is named before anything is read (list: %s)', async (list) => {
    const d = await copyParts(`short-${list}`, list);
    await truncate(join(d, 'art.tar.gz.part-002'), 1000);
    const r = await kko(d, 'verify', 'art.tar.gz.part-000');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/part \S*art\.tar\.gz\.part-002 is 1000 bytes, but the other parts are 1048576 bytes/);
  });

  it('a truncated last part is named by its sha256', async () => {
    const d = await copyParts('short-last');
    const last = join(d, 'art.tar.gz.part-003');
    await truncate(last, (await stat(last)).size - 100);
    const r = await kko(d, 'import', 'art.tar.gz.part-000', '--dir', 'kk');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/part \S*art\.tar\.gz\.part-003 does not match \S*art\.tar\.gz\.parts\.sha256/);
    expect(await readdir(d)).not.toContain('kk');
  });

  it('two parts swapped (renamed into each other’s place) are named by their sha256', async () => {
    const d = await copyParts('swapped');
    await rename(join(d, 'art.tar.gz.part-001'), join(d, 'tmp'));
    await rename(join(d, 'art.tar.gz.part-002'), join(d, 'art.tar.gz.part-001'));
    await rename(join(d, 'tmp'), join(d, 'art.tar.gz.part-002'));
    for (const cmd of ['verify', 'inspect']) {
      const r = await kko(d, cmd, 'art.tar.gz.part-*');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/part \S*art\.tar\.gz\.part-001 does not match/);
    }
  });

  it('without the list, swapped parts fail and the error names the part being read', async () => {
    const d = await copyParts('swapped-nolist', false);
    await rename(join(d, 'art.tar.gz.part-001'), join(d, 'tmp'));
    await rename(join(d, 'art.tar.gz.part-002'), join(d, 'art.tar.gz.part-001'));
    await rename(join(d, 'tmp'), join(d, 'art.tar.gz.part-002'));
    const r = await kko(d, 'verify', 'art.tar.gz.part-000');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/at or before part \d of 4, \S*art\.tar\.gz\.part-00\d/);
  });

  it('a part the list does not name (left from another export) is refused', async () => {
    const d = await copyParts('extra');
    await copyFile(join(d, 'art.tar.gz.part-000'), join(d, 'art.tar.gz.part-004'));
    const r = await kko(d, 'verify', 'art.tar.gz');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('art.tar.gz.part-004 is not in');
  });

  it('a glob that matches another file, or nothing, is refused', async () => {
    expect((await kko(dir, 'verify', '*.tar.gz*')).stderr).toContain('which is not a part');
    const none = await kko(dir, 'verify', 'nope.part-*');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('matches no part');
  });
});

describe('a split export killed mid-write', () => {
  it('leaves no final-named part; the next export removes its temp parts', async () => {
    const d = join(work.dir, 'killed');
    await mkdir(d);
    await writeManifest(d);
    const fifo = join(d, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const script = `import { writeArchive } from '${WRITE_JS}'; await writeArchive([{ name: 'x', file: ${JSON.stringify(fifo)}, size: 8388608 }], ${JSON.stringify(join(d, 'art.tar.gz'))}, 'none', {}, { splitSize: 1048576 });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    children.push(child);
    const feeder = createWriteStream(fifo);
    feeder.on('error', () => undefined);
    feeder.write(Buffer.alloc(3 * 1024 * 1024, 7));
    const temps = async () => (await readdir(d)).filter((n) => n.startsWith('art.tar.gz.kko-partial-'));
    const deadline = Date.now() + 15_000;
    while (!(await temps()).some((n) => n.endsWith('.part-002')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    feeder.destroy();
    expect((await temps()).filter((n) => n.includes('.part-')).length).toBeGreaterThanOrEqual(3);
    expect(await parts(d)).toEqual([]);
    const r = await exportIn(d, 'art.tar.gz', '--split-size', '1M');
    expect(r.code).toBe(0);
    expect(await temps()).toEqual([]);
    expect(
      createHash('md5')
        .update(Buffer.concat(await Promise.all((await parts(d)).map((n) => readFile(join(d, n))))))
        .digest('hex'),
    ).toBe(
      createHash('md5')
        .update(await readFile(join(dir, 'single.tar.gz')))
        .digest('hex'),
    );
  }, 60_000);
});
