import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMultiArch, pushIndex, type FixtureIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { exportArgs, writeExportInputs } from '../support/cli-args.js';
import { runCli } from '../cli/run-cli.js';

// Resolution on a busy link (#10): every image's manifests and config are requested once, and they never wait for a
// connection slot that a long layer body holds (the small-request slots of the transport, configs without a blob
// slot). Real distribution registry behind the fault proxy; the layers are throttled so each holds its slot ~0.9 s.
const MiB = 1024 * 1024;
const NAMES = ['one', 'two', 'three', 'four'];
let env: ProxiedRegistry;
let proxy: FaultProxy;
let images: Map<string, FixtureIndex>;

beforeAll(async () => {
  images = new Map(NAMES.map((n) => [n, buildMultiArch(`rs-${n}`, { layerSize: 1.25 * MiB })]));
  env = await startProxiedRegistry('kko-resolve-', async (c) => {
    for (const [n, idx] of images) await pushIndex(c, `kubesphere/${n}`, 'v1', idx);
  });
  proxy = env.proxy;
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const all = () => [...images.values()].flatMap((idx) => idx.images);
const layerDigests = () => all().flatMap((i) => i.layers.map((l) => l.descriptor.digest));

async function prepare(name: string): Promise<string> {
  const dir = join(env.work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeExportInputs(
    dir,
    NAMES.map((n) => `docker.io/kubesphere/${n}:v1`),
    { host: proxy.host },
  );
  return dir;
}

describe('export: resolution is not held up by layer downloads', () => {
  it('with 2 connections and slow layers, every image resolves before the first layer is done; one request per document', async () => {
    proxy.clear();
    // ~0.9 s per layer, and one image's tag answers 200 ms late: by then the other images' layers hold both
    // connections and more wait in line. Without slots of their own, that image's child manifests and configs
    // queued behind those layers.
    proxy.add({
      method: 'GET',
      path: new RegExp(layerDigests().join('|')),
      times: Infinity,
      fault: { kind: 'throttle', bytesPerSecond: 1_500_000 },
    });
    proxy.add({ method: 'GET', path: '/kubesphere/four/manifests/v1', fault: { kind: 'stall', ms: 200 } });
    const dir = await prepare('slow-layers');
    const r = await runCli(exportArgs('out.tar', {}, '--compress', 'none', '--concurrency', '2', '--json'), {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; images?: number; of?: number });
    const lastResolved = events.findIndex((e) => e.type === 'resolved' && e.images === e.of);
    const firstDone = events.findIndex((e) => e.type === 'image-done');
    expect(lastResolved).toBeGreaterThanOrEqual(0);
    expect(lastResolved).toBeLessThan(firstDone);

    // Round trips per image: one GET of the tag (shared by both arches), then per arch one GET of the child manifest,
    // one of the config and one per layer; no HEAD, no ping, no second read of anything.
    const seen = proxy.seen.map((s) => `${s.method} ${s.path}`);
    const expected = [
      ...NAMES.map((n) => `GET /v2/kubesphere/${n}/manifests/v1`),
      ...NAMES.flatMap((n) =>
        (images.get(n) as FixtureIndex).images.flatMap((img) => [
          `GET /v2/kubesphere/${n}/manifests/${img.manifest.descriptor.digest}`,
          `GET /v2/kubesphere/${n}/blobs/${img.config.descriptor.digest}`,
          ...img.layers.map((l) => `GET /v2/kubesphere/${n}/blobs/${l.descriptor.digest}`),
        ]),
      ),
    ];
    expect([...seen].sort()).toEqual([...expected].sort());
  }, 60_000);

  it("an image's layers are requested while its config is on the way, not after it arrived", async () => {
    proxy.clear();
    // Every config answers 1 s late. Layers that waited for their image's config would be asked for after it.
    const STALL = 1000;
    const configs = all().map((i) => i.config.descriptor.digest);
    proxy.add({
      method: 'GET',
      path: new RegExp(configs.join('|')),
      times: Infinity,
      fault: { kind: 'stall', ms: STALL },
    });
    const dir = await prepare('stalled-configs');
    const r = await runCli(exportArgs('out.tar', {}, '--compress', 'none', '--concurrency', '16', '--json'), {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(r.code, r.stderr).toBe(0);
    const at = (digest: string): number => proxy.seen.find((s) => s.path.endsWith(`/blobs/${digest}`))?.at ?? NaN;
    for (const img of all()) {
      const config = at(img.config.descriptor.digest);
      const layer = Math.min(...img.layers.map((l) => at(l.descriptor.digest)));
      expect(layer - config, img.manifest.descriptor.digest).toBeLessThan(STALL / 2);
    }
  }, 60_000);
});
