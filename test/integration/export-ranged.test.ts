import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildMultiArch, pushIndex, type FixtureIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { runCli } from '../cli/run-cli.js';

// Ranged multi-connection fetch (#10) against the real distribution registry behind the fault proxy: a blob over
// KKO_PART_THRESHOLD_MB goes as Range parts of half that size, hashed in order, with the single-stream fallback.
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
const MiB = 1024 * 1024;
const PART = 1 * MiB; // KKO_PART_THRESHOLD_MB=2 → parts of 1 MiB
let proxy: FaultProxy;
let env: ProxiedRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
let big: FixtureIndex;
let small: FixtureIndex;

beforeAll(async () => {
  env = await startProxiedRegistry('kko-ranged-', async (c) => {
    big = buildMultiArch('rg-big', { layerSize: 6 * MiB, base: { amd64: buildLayer('rg-base-amd64', 5 * MiB) } });
    small = buildMultiArch('rg-small', { layerSize: 256 * 1024 });
    await pushIndex(c, 'kubesphere/big', 'v1', big);
    await pushIndex(c, 'kubesphere/small', 'v1', small);
  });
  ({ proxy, work } = env);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

function blobs(): Map<string, number> {
  const m = new Map<string, number>();
  for (const idx of [big, small])
    for (const img of idx.images)
      for (const b of [img.config, ...img.layers]) m.set(b.descriptor.digest, b.descriptor.size);
  return m;
}

const total = (): number => [...blobs().values()].reduce((a, b) => a + b, 0);
const bigLayer = () => (big.images[0]?.layers[1] as { descriptor: { digest: string; size: number } }).descriptor; // amd64's own 6 MiB layer
const partsOf = (size: number): number => Math.ceil(size / PART);

async function prepare(name: string): Promise<string> {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: r}\nspec:\n  arches: [amd64, arm64]\n  images:\n  - docker.io/kubesphere/big:v1\n  - docker.io/kubesphere/small:v1\n',
  );
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors: [{location: "${proxy.host}", plainHTTP: true}]\n  upstream: false\n`,
  );
  return dir;
}

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
  'out.tar',
  '--compress',
  'none',
  '--json',
  '--retries',
  '3',
];
// KKO_PART_SLOW_MBPS=0: every part starts at once (the loopback registry is fast, so the slow-stream probe would
// otherwise keep each blob on one stream); the probe has its own tests below.
const run = (dir: string, threshold: string, extra: Record<string, string> = {}, more: string[] = []) =>
  runCli([...args, ...more], {
    cwd: dir,
    env: { HOME: dir, KKO_PART_THRESHOLD_MB: threshold, KKO_PART_SLOW_MBPS: '0', ...extra },
  });
const doneEvent = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.type === 'done');
const blobGets = (digest: string) =>
  proxy.seen.filter((s) => s.method === 'GET' && s.path.endsWith(`/blobs/${digest}`));

let reference: Buffer;

async function assertCacheClean(dir: string): Promise<void> {
  const root = join(dir, 'cache/blobs/sha256');
  for (const hex of await readdir(root))
    expect(
      createHash('sha256')
        .update(await readFile(join(root, hex)))
        .digest('hex'),
      hex,
    ).toBe(hex);
  expect((await readdir(join(dir, 'cache/tmp')).catch(() => [])).filter((n) => !n.endsWith('.lock'))).toEqual([]);
}

describe('export: large blobs as Range parts', () => {
  it('one stream per blob with KKO_PART_THRESHOLD_MB=0 (the reference artifact)', async () => {
    proxy.clear();
    const dir = await prepare('single');
    const r = await run(dir, '0');
    expect(r.code, r.stderr).toBe(0);
    const gets = blobGets(bigLayer().digest);
    expect(gets).toHaveLength(1);
    expect(gets[0]?.range).toBeUndefined();
    reference = await readFile(join(dir, 'out.tar'));
  }, 60_000);

  it('a large blob is fetched as N closed Range requests on parallel connections; the artifact is byte-identical', async () => {
    proxy.clear();
    const dir = await prepare('parts');
    const r = await run(dir, '2');
    expect(r.code, r.stderr).toBe(0);
    const { digest, size } = bigLayer();
    const n = partsOf(size);
    const ranges = blobGets(digest)
      .map((s) => s.range)
      .sort((a, b) => Number(/=(\d+)/.exec(a ?? '')?.[1]) - Number(/=(\d+)/.exec(b ?? '')?.[1]));
    expect(ranges).toEqual(
      Array.from({ length: n }, (_, i) => `bytes=${i * PART}-${Math.min(size, (i + 1) * PART) - 1}`),
    );
    expect(proxy.maxInFlight).toBeGreaterThan(1);
    expect(doneEvent(r.stdout)?.fetchedBytes).toBe(total());
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 60_000);

  // The slow-stream probe (#10): the big layer's stream is throttled to 2 MB/s (its first 1 MiB part takes 0.5 s, well
  // past the 200 ms probe); below KKO_PART_SLOW_MBPS it is split, above it the rest comes on the same one stream.
  const throttled = (): void => {
    proxy.clear();
    proxy.add({
      method: 'GET',
      path: `/blobs/${bigLayer().digest}`,
      times: Infinity,
      fault: { kind: 'throttle', bytesPerSecond: 2_000_000 },
    });
  };
  const rangesOf = (digest: string): string[] => blobGets(digest).map((s) => s.range ?? '');

  // 0.05 MB/s is 10 kB in the 200 ms probe, far below the 4 MB/s throttle even when a loaded machine delays the
  // first byte (at 1 MB/s it split once at load average ~11)
  it('a stream faster than KKO_PART_SLOW_MBPS is not split: its first part, then the rest as one request', async () => {
    throttled();
    const dir = await prepare('probe-fast');
    const r = await run(dir, '2', { KKO_PART_SLOW_MBPS: '0.05' }, ['--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(rangesOf(bigLayer().digest)).toEqual([`bytes=0-${PART - 1}`, `bytes=${PART}-`]);
    expect(r.stderr).not.toMatch(/as Range parts/);
    expect(doneEvent(r.stdout)?.fetchedBytes).toBe(total());
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 60_000);

  it('a stream slower than KKO_PART_SLOW_MBPS is split after the probe: the later parts on parallel connections', async () => {
    throttled();
    const dir = await prepare('probe-slow');
    const r = await run(dir, '2', { KKO_PART_SLOW_MBPS: '8' }, ['--verbose']);
    expect(r.code, r.stderr).toBe(0);
    const { digest, size } = bigLayer();
    expect(r.stderr).toMatch(/B\/s on one stream: fetching the rest as Range parts/);
    const ranges = rangesOf(digest).sort((a, b) => Number(/=(\d+)/.exec(a)?.[1]) - Number(/=(\d+)/.exec(b)?.[1]));
    expect(ranges).toEqual(
      Array.from({ length: partsOf(size) }, (_, i) => `bytes=${i * PART}-${Math.min(size, (i + 1) * PART) - 1}`),
    );
    expect(proxy.maxInFlight).toBeGreaterThan(1);
    expect(doneEvent(r.stdout)?.fetchedBytes).toBe(total());
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 60_000);

  it('a server that ignores Range: one stream per blob, the same artifact, no byte counted twice', async () => {
    proxy.clear();
    proxy.add({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, fault: { kind: 'ignore-range' } });
    const dir = await prepare('no-range');
    const r = await run(dir, '2');
    proxy.clear();
    expect(r.code, r.stderr).toBe(0);
    expect(doneEvent(r.stdout)?.fetchedBytes).toBe(total());
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 60_000);

  it('a reset in the middle part: that part resumes from where it broke, the digest verifies', async () => {
    const { digest, size } = bigLayer();
    const mid = Math.floor(partsOf(size) / 2) * PART;
    proxy.clear();
    proxy.add({
      method: 'GET',
      path: `/blobs/${digest}`,
      range: new RegExp(`^bytes=${mid}-`),
      fault: { kind: 'reset', afterBytes: 300_000 },
    });
    const dir = await prepare('reset');
    const r = await run(dir, '2');
    expect(r.code, r.stderr).toBe(0);
    const gets = blobGets(digest);
    // Every request is a closed part (no fallback to one open-ended stream); only the broken part was asked again,
    // from where its file had got to (the kernel may drop what arrived unread on a reset: then from its start).
    const parsed = gets
      .map((s) => /^bytes=(\d+)-(\d+)$/.exec(s.range ?? ''))
      .map((m) => ({ from: Number(m?.[1]), to: Number(m?.[2]) }));
    expect(parsed.every((p) => Number.isSafeInteger(p.from) && Number.isSafeInteger(p.to))).toBe(true);
    expect(gets).toHaveLength(partsOf(size) + 1);
    const again = parsed.filter((p) => p.from >= mid && p.from < mid + PART);
    expect(again).toHaveLength(2);
    expect(again[1]?.from).toBeLessThanOrEqual(mid + 300_000);
    expect(again[1]?.to).toBe(mid + PART - 1);
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 60_000);

  it('kill -9 mid-parts, re-run: finishes with the same artifact, each byte fetched at most once more than needed', async () => {
    proxy.clear();
    proxy.add({
      method: 'GET',
      path: /\/blobs\/sha256:/,
      times: Infinity,
      fault: { kind: 'throttle', bytesPerSecond: 256 * 1024 },
    });
    const dir = await prepare('killed');
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { ...process.env, HOME: dir, KKO_PART_THRESHOLD_MB: '2', KKO_PART_SLOW_MBPS: '0' },
      stdio: 'ignore',
    });
    const { digest } = bigLayer();
    const hex = digest.slice(7);
    const tmp = join(dir, 'cache/tmp');
    const partFiles = async () =>
      (await readdir(tmp).catch(() => [] as string[])).filter((n) => n.startsWith(`${hex}.partial-`));
    const deadline = Date.now() + 30_000;
    while ((await partFiles()).length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    await new Promise((res) => setTimeout(res, 1000));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    proxy.clear();
    expect((await partFiles()).length).toBeGreaterThan(0);
    // What the killed run left: verified blobs and hashed prefixes (never fetched again), later parts (unverified).
    let prefixes = 0;
    let parts = 0;
    for (const name of await readdir(tmp)) {
      const size = (await stat(join(tmp, name))).size;
      if (/\.partial-\d+$/.test(name)) parts += size;
      else if (name.endsWith('.partial')) prefixes += size;
    }
    for (const name of await readdir(join(dir, 'cache/blobs/sha256')).catch(() => [] as string[]))
      prefixes += (await stat(join(dir, 'cache/blobs/sha256', name))).size;
    await expect(stat(join(dir, 'out.tar'))).rejects.toThrow();
    const again = await run(dir, '2');
    expect(again.code, again.stderr).toBe(0);
    const fetched = doneEvent(again.stdout)?.fetchedBytes as number;

    expect(fetched).toBeGreaterThanOrEqual(total() - prefixes - parts);
    expect(fetched).toBeLessThanOrEqual(total() - prefixes - parts + PART); // the part files were used, not fetched again
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    await assertCacheClean(dir);
  }, 90_000);
});
