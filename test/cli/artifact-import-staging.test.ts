import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import { writeArchive } from '../../src/archive/write.js';
import type { Catalog } from '../../src/catalog/index.js';
import { artifactEntries, fixtureCatalog, IMGS, kkoWith } from '../support/artifact-fixture.js';
import { tarHeader, tarOf } from '../support/builders.js';
import { tempDir } from './run-cli.js';

// Item 6: staging dirs of killed imports are cleaned by the next import; SIGINT/SIGTERM clean their own.
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
let work: { dir: string; cleanup: () => Promise<void> };
let testCatalog: Catalog;
let good: string;
let big: string;

const stagingDirs = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((n) => n.startsWith('.kko-import-')).sort();

// A staging dir as an import leaves it, with an owner file in the cache lock's format.
async function fakeStaging(root: string, name: string, owner: object | undefined): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'files', 'kube'), { recursive: true });
  await writeFile(join(dir, 'files', 'kube', 'half-written'), 'x');
  if (owner) await writeFile(join(dir, 'owner'), JSON.stringify(owner));
  return dir;
}

async function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

// A gzip artifact of a kko inventory + SHA256SUMS and one 256 MiB binary of zeros (not in the catalog, so the
// inventory vouches for it): small on disk, and slow enough to unpack that a signal lands mid-import.
async function bigArtifact(out: string): Promise<void> {
  const size = 256 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024);
  const hash = createHash('sha256');
  for (let i = 0; i < size / chunk.length; i++) hash.update(chunk);
  const path = 'kube/v0.0.1/amd64/kubeadm';
  const inventory = {
    apiVersion: 'kko.io/v1alpha1',
    kind: 'ArtifactInventory',
    images: [],
    binaries: [{ path, sha256: hash.digest('hex'), size }],
    isos: [],
  };
  const lists = withChecksums([
    { name: 'kko/inventory.json', data: Buffer.from(JSON.stringify(inventory)) },
    { name: path, file: '/dev/null', sha256: inventory.binaries[0]?.sha256 as string },
  ]).filter((e) => e.name.startsWith('kko/'));
  async function* body(): AsyncGenerator<Buffer> {
    yield tarOf(
      lists
        .map((e) => ({ name: e.name, data: (e as { data: Buffer }).data }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
      { end: false },
    );
    yield tarHeader(path, size);
    for (let i = 0; i < size / chunk.length; i++) yield chunk;
    yield Buffer.alloc(1024);
  }
  await pipeline(body(), createGzip({ level: 1 }), createWriteStream(out));
}

// Start `kko artifact import` in a child and wait until its staging dir has an owner file.
const stderrs = new WeakMap<ChildProcess, string[]>();
const stderrOf = (child: ChildProcess): string => (stderrs.get(child) ?? []).join('');

async function importUntilStaged(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'artifact', 'import', big, '--dir', dir], {
    env: { PATH: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const err: string[] = [];
  stderrs.set(child, err);
  child.stderr?.setEncoding('utf8').on('data', (d: string) => err.push(d));
  for (let i = 0; i < 2000; i++) {
    const names = await stagingDirs(dir).catch(() => []);
    // written, not just created: holdOwnerFile opens it empty first, and a kill in between leaves an unreadable marker
    if (
      names.length > 0 &&
      ((await stat(join(dir, names[0] as string, 'owner')).catch(() => undefined))?.size ?? 0) > 0
    )
      return child;
    await sleep(5);
  }
  child.kill('SIGKILL');
  throw new Error('the import never created its staging dir');
}

beforeAll(async () => {
  work = await tempDir('kko-import-staging-');
  testCatalog = await fixtureCatalog(join(work.dir, 'catalog'));
  good = join(work.dir, 'good.tar.gz');
  await writeArchive(withChecksums(artifactEntries(IMGS)), good, 'gzip', { SOURCE_DATE_EPOCH: '0' });
  big = join(work.dir, 'big.tar.gz');
  await bigArtifact(big);
}, 120_000);
afterAll(async () => work.cleanup());

describe('stale staging dirs', () => {
  it('an import removes staging dirs whose owner is gone, and leaves a live one alone', async () => {
    const dest = join(work.dir, 'stale');
    await mkdir(dest);
    const dead = spawn(process.execPath, ['-e', '']);
    await exited(dead);
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await fakeStaging(dest, '.kko-import-1-dead', { pid: dead.pid, host: hostname(), token: 'aaaa' });
      await fakeStaging(dest, '.kko-import-2-live', { pid: live.pid, host: hostname(), token: 'bbbb' });
      const old = await fakeStaging(dest, '.kko-import-3-unmarked-old', undefined);
      await utimes(old, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
      await fakeStaging(dest, '.kko-import-4-unmarked-new', undefined);
      const r = await kkoWith(testCatalog, ['artifact', 'import', good, '--dir', dest]);
      expect(r.code).toBe(0);
      expect(await stagingDirs(dest)).toEqual(['.kko-import-2-live', '.kko-import-4-unmarked-new']);
    } finally {
      live.kill('SIGKILL');
    }
  });
});

describe('an import killed or interrupted (spawned CLI)', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s removes its own staging dir, says so and exits %i, as export does', async (sig, code) => {
    const dest = join(work.dir, `signal-${sig}`);
    await mkdir(dest);
    const child = await importUntilStaged(dest);
    const done = exited(child);
    child.kill(sig);
    expect(await done).toEqual({ code, signal: null });
    expect(stderrOf(child)).toBe('interrupted; re-run to resume\n');
    expect(await readdir(dest)).toEqual([]);
  });

  it('after kill -9 the staging dir stays, and the next import removes it', async () => {
    const dest = join(work.dir, 'killed');
    await mkdir(dest);
    const child = await importUntilStaged(dest);
    const done = exited(child);
    child.kill('SIGKILL');
    await done;
    const left = await stagingDirs(dest);
    expect(left).toHaveLength(1);
    const r = await kkoWith(testCatalog, ['artifact', 'import', good, '--dir', dest]);
    expect(r.code).toBe(0);
    expect(await stagingDirs(dest)).toEqual([]);
  });
});
