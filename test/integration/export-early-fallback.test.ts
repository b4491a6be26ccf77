import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { buildImage, buildMultiArch, pushImage, pushIndex, type FixtureImage } from '../support/builders.js';
import { exportArgs, jsonEvents, manifestYaml, mirrorPolicyYaml } from '../support/cli-args.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli } from '../cli/run-cli.js';
import { mkdir, writeFile } from 'node:fs/promises';

// #10 review: an image's layers start while its config is checked. When the config says the source is the wrong
// platform, the next source must be tried at once: the wrong image's layers are stopped, not downloaded in full.
// Two real registries: the first (behind the fault proxy) has a single-platform amd64 image under the name, the
// second the multi-arch index.
const MiB = 1024 * 1024;
let first: ProxiedRegistry;
let proxy: FaultProxy;
let second: TestRegistry;
let wrong: FixtureImage;

beforeAll(async () => {
  wrong = buildImage({ name: 'wrong-amd', platform: { os: 'linux', architecture: 'amd64' }, layerSize: 2 * MiB });
  first = await startProxiedRegistry('kko-early-fallback-', async (c) => {
    await pushImage(c, 'kubesphere/tool', 'v1', wrong);
  });
  proxy = first.proxy;
  second = await startRegistry({ mode: 'plain' });
  const c = new RegistryClient(second.host, { plainHTTP: true });
  try {
    await pushIndex(c, 'kubesphere/tool', 'v1', buildMultiArch('tool-good', { layerSize: 64 * 1024 }));
  } finally {
    await c.close();
  }
}, 120_000);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
});

async function blobsIn(cache: string): Promise<string[]> {
  return readdir(join(cache, 'blobs', 'sha256')).catch(() => []);
}

describe('export: early layers of a wrong-platform source', () => {
  it('are stopped when the config check fails; the next source serves the image without waiting for them', async () => {
    proxy.clear();
    const STALL = 30_000;
    const layer = wrong.layers[0]?.descriptor.digest ?? '';
    proxy.add({ method: 'GET', path: `/blobs/${layer}`, times: Infinity, fault: { kind: 'stall', ms: STALL } });
    const dir = join(first.work.dir, 'wrong-first');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'm.yaml'), manifestYaml(['docker.io/kubesphere/tool:v1'], ['arm64']));
    await writeFile(
      join(dir, 'mirrors.yaml'),
      `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors:\n` +
        `  - {location: ${proxy.host}, plainHTTP: true}\n  - {location: ${second.host}, plainHTTP: true}\n` +
        `  upstream: false\n`,
    );
    const started = Date.now();
    const r = await runCli(exportArgs('out.tar', {}, '--compress', 'none', '--json'), {
      cwd: dir,
      env: { HOME: dir },
    });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.count({ method: 'GET', path: `/blobs/${layer}` })).toBe(1); // it was started early
    const done = jsonEvents(r.stdout).filter((e) => e.type === 'image-done');
    expect(done.map((e) => e.source)).toEqual([`${second.host}/kubesphere/tool:v1`]);
    expect(seconds).toBeLessThan(STALL / 1000 / 2);
    expect(await blobsIn(join(dir, 'cache'))).not.toContain(layer.slice('sha256:'.length));
  }, 90_000);
});

// The 'resolved' events' cachedBytes (progress, the free-disk warning) count what the cache held before the run.
describe('export: early layers and the running totals', () => {
  it('a cold cache reports nothing cached, though layers arrive while configs are checked', async () => {
    const dir = join(first.work.dir, 'cold');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'm.yaml'), manifestYaml(['docker.io/kubesphere/tool:v1']));
    await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(second.host));
    const r = await runCli(exportArgs('out.tar', {}, '--compress', 'none', '--json'), { cwd: dir, env: { HOME: dir } });
    expect(r.code, r.stderr).toBe(0);
    const resolved = jsonEvents(r.stdout).filter((e) => e.type === 'resolved');
    expect(resolved.at(-1)).toMatchObject({ images: 2, of: 2, cachedBytes: 0 });
    // and a warm one all of it
    const again = await runCli(exportArgs('out.tar', {}, '--compress', 'none', '--json', '--force'), {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(again.code, again.stderr).toBe(0);
    const last = jsonEvents(again.stdout)
      .filter((e) => e.type === 'resolved')
      .at(-1);
    expect(last?.cachedBytes).toBe(last?.totalBytes);
    expect(last?.totalBytes).toBeGreaterThan(0);
  }, 60_000);
});
