import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushIndex } from '../support/builders.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli, tempDir } from '../cli/run-cli.js';

// What a kill -9 leaves behind is cleaned by the next run when nobody can use it: archive partials next to the
// output, cache temp files; the cache's resumable partials (and anything a live process owns) stay.
const WRITE_JS = new URL('../../dist/archive/write.js', import.meta.url).href;
const fx = fixtureSet({ baseSize: 64 * 1024 });
let reg: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
const children: ChildProcess[] = [];

beforeAll(async () => {
  reg = await startRegistry({ mode: 'plain' });
  work = await tempDir('kko-leftovers-');
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await c.close();
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await reg?.stop();
  await work?.cleanup();
});

async function setup(name: string): Promise<string> {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: l}\nspec:\n  arches: [amd64]\n  images:\n  - ${reg.host}/kubesphere/pause:3.9\n  registry:\n    auths:\n      "${reg.host}": {plainHTTP: true}\n`,
  );
  return dir;
}

const exportIn = (dir: string) =>
  runCli(['artifact', 'export', '-m', 'm.yaml', '--cache', 'cache', '-o', 'out.tar.gz', '--json', '--force'], {
    cwd: dir,
    env: { HOME: dir },
  });
const partials = async (dir: string) => (await readdir(dir)).filter((n) => n.includes('.kko-partial-')).sort();

// A real archive writer (the compiled module) stuck reading a FIFO entry, so its partial exists while it runs.
async function stuckWriter(dir: string): Promise<ChildProcess> {
  const fifo = join(dir, `fifo-${children.length}`);
  execFileSync('mkfifo', [fifo]);
  const script = `import { writeArchive } from '${WRITE_JS}'; await writeArchive([{ name: 'x', file: ${JSON.stringify(fifo)}, size: 1000000 }], ${JSON.stringify(join(dir, 'out.tar.gz'))}, 'gzip', {});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  children.push(child);
  const before = (await partials(dir)).length;
  const deadline = Date.now() + 15_000;
  while ((await partials(dir)).length < before + 2 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  expect((await partials(dir)).length, 'partial and its owner lock').toBe(before + 2);
  return child;
}

// The pid of a process that has exited (and been reaped).
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

describe('leftovers of killed runs', () => {
  it('an archive partial whose writer was kill -9ed is removed by the next export; a live writer’s stays', async () => {
    const dir = await setup('archive');
    const killed = await stuckWriter(dir);
    killed.kill('SIGKILL');
    await new Promise((r) => killed.once('exit', r));
    const [deadLock, deadPartial] = await partials(dir);
    const live = await stuckWriter(dir);
    const livePair = (await partials(dir)).filter((n) => n !== deadLock && n !== deadPartial);
    const r = await exportIn(dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expect(stat(join(dir, 'out.tar.gz'))).resolves.toBeTruthy();
    expect(await partials(dir)).toEqual(livePair); // the dead run's partial and lock are gone, the live one is untouched
    live.kill('SIGKILL');
  }, 60_000);

  it('cache tmp/: drops partials of complete blobs, week-old partials and dead processes’ temp files; keeps resumable partials and live ones', async () => {
    const dir = await setup('cache');
    expect((await exportIn(dir)).code).toBe(0);
    const tmp = join(dir, 'cache/tmp');
    const [complete] = await readdir(join(dir, 'cache/blobs/sha256'));
    const hex = () => randomBytes(32).toString('hex');
    const dead = await deadPid();
    const files = {
      completeBlob: `${complete}.partial`,
      resumable: `${hex()}.partial`,
      resumableDeadLock: `${hex()}.partial`,
      weekOld: `${hex()}.partial`,
      deadDownload: `crictl.tgz-${dead}-0a1b2c3d.download`,
      liveDownload: `helm.tgz-${process.pid}-0a1b2c3e.download`,
    };
    for (const name of Object.values(files)) await writeFile(join(tmp, name), 'partial bytes');
    await writeFile(
      join(tmp, `${files.completeBlob}.lock`),
      JSON.stringify({ pid: dead, host: hostname(), token: 'x' }),
    );
    await writeFile(
      join(tmp, `${files.resumableDeadLock}.lock`),
      JSON.stringify({ pid: dead, host: hostname(), token: 'x' }),
    );
    const old = new Date(Date.now() - 8 * 24 * 3600_000);
    await utimes(join(tmp, files.weekOld), old, old);
    const idle = new Date(Date.now() - 120_000);
    await utimes(join(tmp, files.deadDownload), idle, idle);
    await utimes(join(tmp, files.liveDownload), idle, idle);
    expect((await exportIn(dir)).code).toBe(0);
    expect((await readdir(tmp)).sort()).toEqual([files.liveDownload, files.resumable, files.resumableDeadLock].sort());
  }, 60_000);
});
