import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { buildLayer, buildMultiArch, pushIndex, type FixtureIndex } from '../support/builders.js';
import { exportArgs, manifestYaml } from '../support/cli-args.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';

// The archive written while layers arrive (#10 item 3), against the real distribution registry behind the fault
// proxy: it starts once every image is resolved, is byte for byte the archive written after the fetches
// (KKO_EARLY_ARCHIVE=0), and is thrown away and written again when a source falls back (the inventory changed).
const MiB = 1024 * 1024;
let env: ProxiedRegistry;
let proxy: FaultProxy;
let fixtures: FixtureIndex[];

beforeAll(async () => {
  fixtures = [
    buildMultiArch('ea-big', { layerSize: 1.5 * MiB, base: { amd64: buildLayer('ea-base', 1.25 * MiB) } }),
    buildMultiArch('ea-small', { layerSize: 64 * 1024 }),
  ];
  env = await startProxiedRegistry('kko-early-', async (c) => {
    await pushIndex(c, 'kubesphere/big', 'v1', fixtures[0] as FixtureIndex);
    await pushIndex(c, 'kubesphere/small', 'v1', fixtures[1] as FixtureIndex);
  });
  proxy = env.proxy;
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const layers = () => fixtures.flatMap((f) => f.images.flatMap((i) => i.layers.map((l) => l.descriptor.digest)));

// mirrors: the proxy, then (fallback: true) the registry itself.
async function prepare(name: string, fallback = false): Promise<string> {
  const dir = join(env.work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'm.yaml'), manifestYaml(['docker.io/kubesphere/big:v1', 'docker.io/kubesphere/small:v1']));
  const second = fallback ? `, {location: "${env.reg.host}", plainHTTP: true}` : '';
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors: [{location: "${proxy.host}", plainHTTP: true}${second}]\n  upstream: false\n`,
  );
  return dir;
}

type Run = {
  code: number;
  events: Array<Record<string, unknown>>;
  stderr: string;
  partialWhileFetching: boolean;
  // The temp archive's bytes as last read while `before.digest` was not yet in the cache (read first, then the cache
  // checked, so nothing the cache verified after the read can be in it).
  snapshot: Buffer | undefined;
};

// Runs the CLI in-process and watches the output's directory: was a temp archive with bytes in it there while
// some image was still being fetched? And what did it hold while the blob `before` was not yet in the cache?
async function run(dir: string, early: boolean, before?: { digest: string }, compress = 'none'): Promise<Run> {
  const output = { gzip: 'out.tar.gz', zstd: 'out.tar.zst' }[compress] ?? 'out.tar';
  const events: Array<Record<string, unknown>> = [];
  let buf = '';
  let stderr = '';
  const images = fixtures.length * 2;
  let partialWhileFetching = false;
  let snapshot: Buffer | undefined;
  let running = true;
  const cached = (digest: string): Promise<boolean> =>
    stat(join(dir, 'cache', 'blobs', 'sha256', digest.slice(7))).then(
      () => true,
      () => false,
    );
  const watch = (async () => {
    while (running) {
      const done = events.filter((e) => e.type === 'image-done').length;
      for (const n of await readdir(dir)) {
        if (!n.startsWith(`${output}.kko-partial-`) || n.endsWith('.lock')) continue;
        const size = await stat(join(dir, n)).then(
          (s) => s.size,
          () => 0,
        );
        if (size > 0 && done < images) partialWhileFetching = true;
        if (before && size > 0) {
          const bytes = await readFile(join(dir, n)).catch(() => undefined);
          if (bytes && !(await cached(before.digest))) snapshot = bytes;
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const code = await main(exportArgs(output, {}, '--compress', compress, '--json', '--retries', '0'), {
    stdout: (t) => {
      buf += t;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { PATH: '', HOME: dir, ...(early ? {} : { KKO_EARLY_ARCHIVE: '0' }) },
    cwd: dir,
    isTTY: false,
  });
  running = false;
  await watch;
  return { code, events, stderr, partialWhileFetching, snapshot };
}

const leftovers = async (dir: string) => (await readdir(dir)).filter((n) => n.includes('kko-partial'));
const throttleLayers = () =>
  proxy.add({
    method: 'GET',
    path: new RegExp(layers().join('|')),
    times: Infinity,
    fault: { kind: 'throttle', bytesPerSecond: 2_000_000 },
  });

// The late layer: in an image × arch whose other blobs all sort before it. While it is stalled, every other blob
// (before it in the archive and after it) is already in the temp archive at its final place (before #10's
// positional writer, the blobs after it in the archive's order waited for it; before that, its image's too).
function lateLayer(): { digest: string; bytes: Buffer } {
  const candidates = fixtures.flatMap((f) =>
    f.images.map((img) => {
      const blobs = [img.config, ...img.layers];
      const last = [...blobs].sort((a, b) => (a.descriptor.digest < b.descriptor.digest ? -1 : 1)).at(-1);
      return { last, isLayer: img.layers.some((l) => l === last) };
    }),
  );
  const late = candidates.find((c) => c.isLayer)?.last;
  if (!late) throw new Error('no fixture image whose highest digest is a layer');
  return { digest: late.descriptor.digest, bytes: late.bytes };
}

// An early-archive export with the layer `digest` stalled 3 s after its first 1000 bytes.
async function runStalled(name: string, digest: string, compress = 'none'): Promise<Run> {
  proxy.clear();
  proxy.add({
    method: 'GET',
    path: `/blobs/${digest}`,
    times: Infinity,
    fault: { kind: 'stall', ms: 3000, afterBytes: 1000 },
  });
  const dir = await prepare(name);
  const r = await run(dir, true, { digest }, compress);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('export: the archive is written while layers arrive', () => {
  let reference: Buffer;

  it('after the fetches (KKO_EARLY_ARCHIVE=0): the reference artifact', async () => {
    proxy.clear();
    throttleLayers();
    const dir = await prepare('late');
    const r = await run(dir, false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.partialWhileFetching).toBe(false);
    reference = await readFile(join(dir, 'out.tar'));
  }, 60_000);

  it('while the layers arrive: the temp archive grows during the fetch, and the artifact is byte-identical', async () => {
    proxy.clear();
    throttleLayers();
    const dir = await prepare('early');
    const r = await run(dir, true);
    expect(r.code, r.stderr).toBe(0);
    expect(r.partialWhileFetching).toBe(true);
    execFileSync('cmp', [join(dir, 'out.tar'), join(env.work.dir, 'late', 'out.tar')]);
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    expect(await leftovers(dir)).toEqual([]);
    const types = r.events.map((e) => e.type);
    expect(types.indexOf('archive-start')).toBeGreaterThan(types.lastIndexOf('image-done'));
    expect(types.indexOf('archive')).toBeGreaterThan(types.indexOf('archive-start'));
  }, 60_000);

  it('each blob is copied into the archive once it is in the cache, in any order: only the late layer is waited for', async () => {
    const late = lateLayer();
    const r = await runStalled('per-blob', late.digest);
    const dir = join(env.work.dir, 'per-blob');
    expect((await readFile(join(dir, 'out.tar'))).equals(reference)).toBe(true);
    // Where the late layer's data is in the artifact (GNU tar's block number of its header; a short name, no PAX):
    // the temp archive read while it was stalled holds every other byte of the artifact already.
    const listing = execFileSync('tar', ['-tRf', join(dir, 'out.tar')]).toString();
    const line = listing.split('\n').find((l) => l.endsWith(`images/blobs/sha256/${late.digest.slice(7)}`));
    const block = Number(/^block (\d+):/.exec(line ?? '')?.[1]);
    expect(block).toBeGreaterThan(0);
    const [from, to] = [(block + 1) * 512, (block + 1) * 512 + late.bytes.length];
    expect(to, 'other blobs after the late one in the archive').toBeLessThan(reference.length - 4096);
    const snap = r.snapshot ?? Buffer.alloc(0);
    expect(snap.length).toBe(reference.length);
    expect(snap.subarray(0, from).equals(reference.subarray(0, from))).toBe(true);
    expect(snap.subarray(to).equals(reference.subarray(to))).toBe(true);
  }, 60_000);

  it('gzip: the same, in stored blocks; the stream written after the fetches is byte-identical', async () => {
    proxy.clear();
    const lateDir = await prepare('gzip-late');
    const ref = await run(lateDir, false, undefined, 'gzip');
    expect(ref.code, ref.stderr).toBe(0);
    const gz = await readFile(join(lateDir, 'out.tar.gz'));
    const late = lateLayer();
    const r = await runStalled('gzip-per-blob', late.digest, 'gzip');
    const dir = join(env.work.dir, 'gzip-per-blob');
    execFileSync('cmp', [join(dir, 'out.tar.gz'), join(lateDir, 'out.tar.gz')]);
    execFileSync('gzip', ['-t', join(dir, 'out.tar.gz')]);
    // The late layer's stored blocks: its first bytes follow the first block's 5-byte header; it takes its bytes
    // plus 5 per 65535. While it was stalled, the temp file held everything else but the gzip trailer (the final
    // empty block and CRC/ISIZE, 13 bytes, written once every copy is done).
    const from = gz.indexOf(late.bytes.subarray(0, 4096)) - 5;
    expect(from).toBeGreaterThan(0);
    const to = from + late.bytes.length + 5 * Math.ceil(late.bytes.length / 65535);
    const end = gz.length - 13;
    expect(to, 'other blobs after the late one in the archive').toBeLessThan(end - 4096);
    const snap = r.snapshot ?? Buffer.alloc(0);
    expect(snap.length).toBe(end);
    expect(snap.subarray(0, from).equals(gz.subarray(0, from))).toBe(true);
    expect(snap.subarray(to).equals(gz.subarray(to, end))).toBe(true);
  }, 60_000);

  it('zstd: the same, in raw frames; the stream written after the fetches is byte-identical', async () => {
    proxy.clear();
    const lateDir = await prepare('zstd-late');
    const ref = await run(lateDir, false, undefined, 'zstd');
    expect(ref.code, ref.stderr).toBe(0);
    const zst = await readFile(join(lateDir, 'out.tar.zst'));
    const late = lateLayer();
    const r = await runStalled('zstd-per-blob', late.digest, 'zstd');
    const dir = join(env.work.dir, 'zstd-per-blob');
    execFileSync('cmp', [join(dir, 'out.tar.zst'), join(lateDir, 'out.tar.zst')]);
    execFileSync('zstd', ['-q', '-t', join(dir, 'out.tar.zst')]);
    // The late layer's raw frame: a 6-byte frame header and a 3-byte block header before its first bytes, 3 more per
    // 128 KiB block, the empty last block and the checksum (7 bytes) after. While it was stalled the temp file held
    // every other byte of the artifact (nothing is written after the copies: the frames after it were already out).
    const from = zst.indexOf(late.bytes.subarray(0, 4096)) - 9;
    expect(from).toBeGreaterThan(0);
    const to = from + 6 + late.bytes.length + 3 * Math.ceil(late.bytes.length / (128 * 1024)) + 7;
    expect(to, 'other blobs after the late one in the archive').toBeLessThan(zst.length - 4096);
    const snap = r.snapshot ?? Buffer.alloc(0);
    expect(snap.length).toBe(zst.length);
    expect(snap.subarray(0, from).equals(zst.subarray(0, from))).toBe(true);
    expect(snap.subarray(to).equals(zst.subarray(to))).toBe(true);
  }, 60_000);

  it('a layer that falls back to the second source: the early archive is dropped and written again, as without it', async () => {
    const small = (fixtures[1] as FixtureIndex).images[0]?.layers[0]?.descriptor.digest as string;
    const results: Buffer[] = [];
    for (const early of [false, true]) {
      proxy.clear();
      proxy.add({ method: 'GET', path: `/blobs/${small}`, times: Infinity, fault: { kind: 'status', status: 404 } });
      throttleLayers(); // after the 404: the first rule that matches a request applies
      const dir = await prepare(early ? 'fallback-early' : 'fallback-late', true);
      proxy.seen.length = 0;
      const r = await run(dir, early);
      expect(r.code, r.stderr).toBe(0);
      if (early) expect(r.partialWhileFetching).toBe(true);
      expect(await leftovers(dir)).toEqual([]);
      const out = await readFile(join(dir, 'out.tar'));
      const inv = execFileSync('tar', ['-xOf', join(dir, 'out.tar'), 'kko/inventory.json']).toString();
      expect(inv).toContain(env.reg.host); // the image whose layer fell back names the second source
      results.push(out);
    }
    expect((results[1] as Buffer).equals(results[0] as Buffer)).toBe(true);
  }, 60_000);
});
