import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildMultiArch, pushIndex, type FixtureIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { runCli } from '../cli/run-cli.js';

const sh = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
let proxy: FaultProxy;
let env: ProxiedRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
const indexes: FixtureIndex[] = [];
const NAMES = ['kube-apiserver', 'kube-proxy', 'coredns', 'node-cache'];

beforeAll(async () => {
  env = await startProxiedRegistry('kko-resume-', async (c) => {
    const base = {
      amd64: buildLayer('r-base-amd64', 3 * 1024 * 1024),
      arm64: buildLayer('r-base-arm64', 3 * 1024 * 1024),
    };
    for (const name of NAMES) {
      const idx = buildMultiArch(`r-${name}`, { layerSize: 1536 * 1024, base });
      indexes.push(idx);
      await pushIndex(c, `kubesphere/${name}`, 'v1', idx);
    }
  });
  ({ proxy, work } = env);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

// Every config and layer of the fixture once: what a cold export must fetch.
function fixtureBlobs(): Map<string, number> {
  const m = new Map<string, number>();
  for (const idx of indexes)
    for (const img of idx.images)
      for (const b of [img.config, ...img.layers]) m.set(b.descriptor.digest, b.descriptor.size);
  return m;
}

async function prepare(name: string, location: string): Promise<string> {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: r}\nspec:\n  arches: [amd64, arm64]\n  images:\n${NAMES.map((n) => `  - docker.io/kubesphere/${n}:v1`).join('\n')}\n`,
  );
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors: [{location: "${location}", plainHTTP: true}]\n  upstream: false\n`,
  );
  return dir;
}

const exportArgs = (out: string) => [
  'artifact',
  'export',
  '-m',
  'm.yaml',
  '--mirror-config',
  'mirrors.yaml',
  '--cache',
  'cache',
  '-o',
  out,
  '--json',
  '--retries',
  '1',
];

// Bytes the cache holds of the fixture's blobs: complete ones plus partial downloads.
async function bytesInCache(dir: string): Promise<number> {
  let n = 0;
  for (const [digest] of fixtureBlobs()) {
    const hex = digest.slice(7);
    n += await stat(join(dir, 'cache/blobs/sha256', hex)).then(
      (s) => s.size,
      () => 0,
    );
    n += await stat(join(dir, 'cache/tmp', `${hex}.partial`)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return n;
}

// No file under blobs/ may differ from its name.
async function assertCacheClean(dir: string): Promise<void> {
  const blobs = join(dir, 'cache/blobs/sha256');
  for (const hex of await readdir(blobs)) {
    expect(
      createHash('sha256')
        .update(await readFile(join(blobs, hex)))
        .digest('hex'),
      `cache blob ${hex}`,
    ).toBe(hex);
  }
}

const doneEvent = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.type === 'done');

describe('export survives kill -9 and faults', () => {
  it('kill -9 mid-export, re-run: fetches only what was missing and writes the same bytes as an uninterrupted run', async () => {
    const total = [...fixtureBlobs().values()].reduce((a, b) => a + b, 0);
    // Reference: an uninterrupted export through the same (fault-free) endpoint, so the inventory's sources agree.
    proxy.clear();
    const ref = await prepare('reference', proxy.host);
    expect((await runCli(exportArgs('out.tar.gz'), { cwd: ref, env: { HOME: ref } })).code).toBe(0);
    // Interrupted: every blob GET through the proxy crawls, so the process is mid-download when killed.
    proxy.clear();
    proxy.add({
      method: 'GET',
      path: /\/blobs\/sha256:/,
      times: Infinity,
      fault: { kind: 'throttle', bytesPerSecond: 512 * 1024 },
    });
    const dir = await prepare('killed', proxy.host);
    const child = spawn(process.execPath, [BIN, ...exportArgs('out.tar.gz')], {
      cwd: dir,
      env: { ...process.env, HOME: dir },
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while ((await bytesInCache(dir)) < total / 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = await bytesInCache(dir);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(total);
    await expect(stat(join(dir, 'out.tar.gz'))).rejects.toThrow(); // nothing presented as complete
    await assertCacheClean(dir);
    proxy.clear();
    const again = await runCli(exportArgs('out.tar.gz'), { cwd: dir, env: { HOME: dir } });
    expect(again.code).toBe(0);
    expect(doneEvent(again.stdout)?.fetchedBytes).toBe(total - before);
    expect((await readFile(join(dir, 'out.tar.gz'))).equals(await readFile(join(ref, 'out.tar.gz')))).toBe(true);
    await assertCacheClean(dir);
  }, 90_000);

  it.each([
    [
      'a 5xx burst on blobs',
      { method: 'GET', path: /\/blobs\/sha256:/, times: 3, fault: { kind: 'status', status: 503 } },
    ],
    [
      '429 with Retry-After',
      {
        method: 'GET',
        path: /\/blobs\/sha256:/,
        times: 2,
        fault: { kind: 'status', status: 429, headers: { 'Retry-After': '1' } },
      },
    ],
    [
      'a reset in the middle of a blob',
      { method: 'GET', path: /\/blobs\/sha256:/, times: 2, fault: { kind: 'reset', afterBytes: 300_000 } },
    ],
    [
      'a truncated body',
      { method: 'GET', path: /\/blobs\/sha256:/, times: 2, fault: { kind: 'truncate', afterBytes: 200_000 } },
    ],
    ['a corrupt byte', { method: 'GET', path: /\/blobs\/sha256:/, times: 1, fault: { kind: 'corrupt' } }],
  ] as const)(
    '%s: the export completes, the cache and the artifact verify (sha256sum -c)',
    async (name, rule) => {
      proxy.clear();
      proxy.add(rule as never);
      const dir = await prepare(name.replace(/\W+/g, '-'), proxy.host);
      const r = await runCli(
        [...exportArgs('out.tar.gz').filter((a) => a !== '1' && a !== '--retries'), '--retries', '3'],
        { cwd: dir, env: { HOME: dir } },
      );
      proxy.clear();
      if (name === 'a corrupt byte') {
        // the only source served a corrupt blob: that image fails, nothing is written, the re-run completes
        expect(r.code).toBe(1);
        await expect(stat(join(dir, 'out.tar.gz'))).rejects.toThrow();
        expect((await runCli(exportArgs('out.tar.gz'), { cwd: dir, env: { HOME: dir } })).code).toBe(0);
      } else {
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      await assertCacheClean(dir);
      await sh('tar', ['xzf', 'out.tar.gz'], { cwd: dir });
      const { stdout } = await sh('sha256sum', ['--quiet', '-c', 'kko/SHA256SUMS'], { cwd: dir });
      expect(stdout).toBe('');
    },
    60_000,
  );
});
