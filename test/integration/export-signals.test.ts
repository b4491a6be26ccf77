import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildMultiArch, pushIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';

// Ctrl-C / SIGTERM on the built CLI (bin/kko.js → dist/) in the middle of a slow transfer: a clean stop with
// "interrupted; re-run to resume", exit 130 / 143, no archive temp file, cache partials kept; the re-run
// completes with the same bytes as an uninterrupted run.
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
const NAMES = ['kube-apiserver', 'kube-proxy', 'coredns'];
let proxy: FaultProxy;
let env: ProxiedRegistry;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  env = await startProxiedRegistry('kko-signals-', async (c) => {
    const base = {
      amd64: buildLayer('s-base-amd64', 2 * 1024 * 1024),
      arm64: buildLayer('s-base-arm64', 2 * 1024 * 1024),
    };
    for (const name of NAMES)
      await pushIndex(c, `kubesphere/${name}`, 'v1', buildMultiArch(`s-${name}`, { layerSize: 1024 * 1024, base }));
  });
  ({ proxy, work } = env);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

async function prepare(name: string): Promise<string> {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: s}\nspec:\n  arches: [amd64, arm64]\n  images:\n${NAMES.map((n) => `  - docker.io/kubesphere/${n}:v1`).join('\n')}\n`,
  );
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors: [{location: "${proxy.host}", plainHTTP: true}]\n  upstream: false\n`,
  );
  return dir;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

// Run the built CLI; `interrupt` sends the signal once 256 KiB of layer bytes arrived (its NDJSON 'progress' events):
// mid-transfer.
function kko(dir: string, interrupt?: NodeJS.Signals): Promise<Exit> {
  const args = [
    'artifact',
    'export',
    '-m',
    'm.yaml',
    '--mirror-config',
    'mirrors.yaml',
    '--cache',
    'cache',
    '-o',
    'out.tar.gz',
    '--json',
    '--force',
  ];
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let fetched = 0;
  let sent = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as { type: string; fetchedBytes?: number };
    if (e.type === 'progress') fetched = e.fetchedBytes ?? 0;
    if (interrupt && !sent && fetched >= 256 * 1024) {
      sent = true;
      child.kill(interrupt);
    }
  });
  return new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

async function sizes(dir: string, suffix = ''): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir).catch(() => [] as string[]))
    if (f.endsWith(suffix))
      n += await stat(join(dir, f)).then(
        (s) => s.size,
        () => 0,
      );
  return n;
}
const partialBytes = (dir: string) => sizes(join(dir, 'cache/tmp'), '.partial');

const leftovers = async (dir: string) => (await readdir(dir)).filter((n) => n.includes('kko-partial'));

describe('SIGINT / SIGTERM during an export (spawned CLI)', () => {
  it('stops cleanly with 130 (SIGINT) and 143 (SIGTERM), keeps the resume state, and the re-run writes the same artifact', async () => {
    proxy.clear();
    const ref = await prepare('reference');
    expect((await kko(ref)).code).toBe(0);
    const dir = await prepare('interrupted');
    for (const [sig, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      proxy.clear();
      proxy.add({
        method: 'GET',
        path: /\/blobs\/sha256:/,
        times: Infinity,
        fault: { kind: 'throttle', bytesPerSecond: 128 * 1024 },
      });
      const started = Date.now();
      const r = await kko(dir, sig);
      expect(r.stderr, `${sig}: ${JSON.stringify(r)}`).toContain('interrupted; re-run to resume');
      expect(r.code, `${sig}: ${r.stderr}`).toBe(code);
      expect(Date.now() - started).toBeLessThan(20_000); // it stopped, it did not finish the throttled transfer
      expect(await leftovers(dir)).toEqual([]);
      await expect(stat(join(dir, 'out.tar.gz'))).rejects.toThrow();
      expect(await partialBytes(dir)).toBeGreaterThan(0); // resume state kept
    }
    proxy.clear();
    const again = await kko(dir);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect((await readFile(join(dir, 'out.tar.gz'))).equals(await readFile(join(ref, 'out.tar.gz')))).toBe(true);
    expect(await leftovers(dir)).toEqual([]);
  }, 120_000);
});
