import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/reference/index.js';
import { fixtureSet, pushIndex, type FixtureIndex } from '../support/builders.js';
import { run } from '../support/exec.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli } from '../cli/run-cli.js';

// #12 item 5 on real parts: one distribution registry as the source (behind the fault proxy, which counts every
// request) and distribution registries as targets (each behind its own proxy, for faults); skopeo is the referee.
const fx = fixtureSet({ baseSize: 96 * 1024, layerSize: 32 * 1024 });
const MANIFEST = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64, arm64]
  images:
  - docker.io/kubesphere/pause:3.9
  - docker.io/library/pause-d:1
`;

type Target = { reg: TestRegistry; proxy: FaultProxy; host: string };
let src: ProxiedRegistry;
let dir: string;
let mf: string;
let mirrors: string;
const targets: Target[] = [];

async function startTarget(): Promise<Target> {
  const reg = await startRegistry({ mode: 'plain' });
  const proxy = await startFaultProxy({ upstream: reg.url });
  const t = { reg, proxy, host: proxy.host };
  targets.push(t);
  return t;
}

const sync = (args: string[]) =>
  runCli([
    'sync',
    '-m',
    mf,
    '--plain-http',
    '--mirror-config',
    mirrors,
    '--cache',
    join(dir, 'cache'),
    '--retries',
    '0',
    ...args,
  ]);
const inspectRaw = async (name: string): Promise<string> =>
  sha256Digest(Buffer.from(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`])));

// Every name kk's push gives the two images on `host`, with the digest the source has under it.
function expectedNames(host: string): Array<[string, string]> {
  const of = (repo: string, tag: string, index: FixtureIndex): Array<[string, string]> => [
    [`${host}/${repo}:${tag}`, index.manifest.descriptor.digest],
    [`${host}/${repo}:${tag}-amd64`, index.images[0]?.manifest.descriptor.digest ?? ''],
    [`${host}/${repo}:${tag}-arm64`, index.images[1]?.manifest.descriptor.digest ?? ''],
  ];
  return [...of('kubesphere/pause', '3.9', fx.pause), ...of('library/pause-d', '1', fx.pauseDocker)];
}

// How many times each blob was GET from the source (through its proxy).
function sourceBlobGets(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of src.proxy.seen) {
    const m = /\/blobs\/(sha256:[a-f0-9]{64})/.exec(r.path);
    if (r.method === 'GET' && m) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + 1);
  }
  return out;
}

const uniqueBlobs = (): Set<string> =>
  new Set(
    [fx.pause, fx.pauseDocker].flatMap((i) =>
      i.images.flatMap((img) => [img.config, ...img.layers].map((b) => b.descriptor.digest)),
    ),
  );
const events = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  src = await startProxiedRegistry('kko-sync-', async (c) => {
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(c, 'library/pause-d', '1', fx.pauseDocker);
    await pushIndex(c, 'kubesphereio/pause', '3.9', fx.pause); // kk's cn form of kubesphere/pause
  });
  dir = src.work.dir;
  mf = join(dir, 'manifest.yaml');
  mirrors = join(dir, 'mirrors.yaml');
  await writeFile(mf, MANIFEST);
  await writeFile(
    mirrors,
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "${src.proxy.host}", plainHTTP: true}], upstream: false}\n`,
  );
}, 120_000);

afterAll(async () => {
  for (const t of targets) {
    await t.proxy.stop();
    await t.reg.stop();
  }
  await src?.stop();
});

describe('kko sync to two real registries', () => {
  let a: Target;
  let b: Target;

  beforeAll(async () => {
    a = await startTarget();
    b = await startTarget();
  }, 60_000);

  it('gives every kk name on both targets the source digest, fetching each source blob exactly once', async () => {
    src.proxy.clear();
    const r = await sync(['--to', a.host, '--to', b.host, '--json']);
    expect(r.code, r.stderr).toBe(0);
    for (const t of [a, b])
      for (const [name, digest] of expectedNames(t.host)) expect(await inspectRaw(name), name).toBe(digest);
    const gets = sourceBlobGets();
    expect(new Set(gets.keys())).toEqual(uniqueBlobs());
    for (const [digest, n] of gets) expect(n, digest).toBe(1);
    const done = events(r.stdout).filter((e) => e.type === 'target-done');
    expect(done.map((e) => e.target).sort()).toEqual([a.host, b.host].sort());
    for (const e of done) {
      expect(e).toMatchObject({ images: 2, failed: 0, names: 6, present: 0 });
      expect((e.copied as number) + (e.mounted as number)).toBeGreaterThanOrEqual(uniqueBlobs().size);
    }
  }, 120_000);

  it('a second sync sends no blob bytes and fetches no source blob', async () => {
    src.proxy.clear();
    a.proxy.clear();
    const r = await sync(['--to', a.host, '--to', b.host, '--json']);
    expect(r.code, r.stderr).toBe(0);
    for (const e of events(r.stdout).filter((x) => x.type === 'target-done'))
      expect(e).toMatchObject({ copied: 0, mounted: 0, bytesSent: 0, failed: 0 });
    expect(sourceBlobGets().size).toBe(0);
    expect(a.proxy.count({ method: 'PATCH' }) + a.proxy.count({ method: 'POST' })).toBe(0);
  }, 120_000);

  it('prints a per-target report without --json', async () => {
    const r = await sync(['--to', a.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${a.host}: 2 image(s) synced, 0 failed; 6 name(s) put; blobs 0 sent`);
  }, 60_000);
});

describe('kko sync with one failing target', () => {
  it('completes the healthy target, exits 1 naming the failed one, and tags nothing partial there', async () => {
    const good = await startTarget();
    const bad = await startTarget();
    const layer = (fx.pause.images[1]?.layers.at(-1)?.descriptor.digest ?? '').slice('sha256:'.length);
    bad.proxy.add({ method: 'PUT', path: layer, times: Infinity, fault: { kind: 'status', status: 500 } });
    const r = await sync(['--to', good.host, '--to', bad.host]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`syncing docker.io/kubesphere/pause:3.9 to ${bad.host}`);
    expect(r.stderr).not.toContain(`to ${good.host}:`);
    for (const [name, digest] of expectedNames(good.host)) expect(await inspectRaw(name), name).toBe(digest);
    // The other image made it to the failing target; the broken one has no tag at all.
    for (const [name, digest] of expectedNames(bad.host).filter(([n]) => n.includes('pause-d')))
      expect(await inspectRaw(name)).toBe(digest);
    for (const tag of ['3.9', '3.9-arm64'])
      await expect(inspectRaw(`${bad.host}/kubesphere/pause:${tag}`)).rejects.toThrow();
  }, 120_000);

  it('a server error on every request of a target fails that target only', async () => {
    const good = await startTarget();
    const down = await startTarget();
    down.proxy.add({ path: '/v2/', times: Infinity, fault: { kind: 'status', status: 500 } });
    const r = await sync(['--to', down.host, '--to', good.host, '--json']);
    expect(r.code).toBe(1);
    const done = events(r.stdout).filter((e) => e.type === 'target-done');
    expect(done.find((e) => e.target === good.host)).toMatchObject({ images: 2, failed: 0 });
    expect(done.find((e) => e.target === down.host)).toMatchObject({ images: 0, failed: 2 });
    expect(r.stderr).toContain(`to ${down.host}`);
  }, 120_000);
});

describe('kko sync input checks', () => {
  it.each([
    [['--to', 'http://reg.local:5000'], 'without a scheme'],
    [['--to', 'reg.local:5000/ns/pause:3.9'], 'not a tag or digest'],
    [['--to', 'registry/ns'], 'not a registry host'],
    [['--to', 'reg.local:5000/Bad_Path'], '--to'],
    [['--to', 'reg.local:5000', '--to', 'reg.local:5000/'], 'given twice'],
    [[], 'no target registry'],
    [['--to', 'reg.local:5000', '--arch', 'mips'], '--arch'],
    [['--to', 'reg.local:5000', '--concurrency', '0'], '--concurrency'],
  ])('%j exits 2 naming the flag', async (args, text) => {
    const r = await sync(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(text);
    expect(r.stderr).toMatch(/--to|--arch|--concurrency/);
  });

  it('--dry-run lists each image with its sources and its names on every target, without the network', async () => {
    src.proxy.clear();
    const r = await sync([
      '--to',
      'reg-a.local:5000',
      '--to',
      'reg-b.local/kubesphereio',
      '--arch',
      'amd64',
      '--dry-run',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`docker.io/kubesphere/pause:3.9  <-  ${src.proxy.host}/kubesphere/pause:3.9 (mirror)`);
    expect(r.stdout).toContain(
      '  -> reg-a.local:5000/kubesphere/pause:3.9-amd64, reg-a.local:5000/kubesphere/pause:3.9\n',
    );
    expect(r.stdout).toContain('  -> reg-b.local/kubesphereio/pause-d:1-amd64, reg-b.local/kubesphereio/pause-d:1\n');
    expect(r.stdout).not.toContain('arm64');
    expect(src.proxy.seen).toHaveLength(0);
  });
});

// The names sync creates are push's (manifest/push-name.ts pushedRepository): those the nodes pull. kk's cn form
// of a kk image (registry.cn-beijing.aliyuncs.com/kubesphereio/pause) is pulled as <registry>/kubesphere/pause, where
// kk's own push (the old sync naming) puts it at <registry>/kubesphereio/pause; --kk-push-names gives kk's names.
describe('kko sync names by the push rule', () => {
  const CN = 'registry.cn-beijing.aliyuncs.com';
  let cnManifest: string;
  let cnMirrors: string;
  const syncCn = (args: string[]) =>
    runCli([
      'sync',
      '-m',
      cnManifest,
      '--plain-http',
      '--mirror-config',
      cnMirrors,
      '--cache',
      join(dir, 'cache'),
      '--retries',
      '0',
      '--arch',
      'amd64',
      ...args,
    ]);

  beforeAll(async () => {
    cnManifest = join(dir, 'cn-manifest.yaml');
    cnMirrors = join(dir, 'cn-mirrors.yaml');
    await writeFile(cnManifest, MANIFEST.replace('docker.io/kubesphere/pause:3.9', `${CN}/kubesphereio/pause:3.9`));
    await writeFile(
      cnMirrors,
      `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n${['docker.io', CN].map((p) => `- {prefix: ${p}, mirrors: [{location: "${src.proxy.host}", plainHTTP: true}], upstream: false}\n`).join('')}`,
    );
  });

  it.each([
    [[], 'reg.local:5000', 'reg.local:5000/kubesphere/pause'],
    [['--kk-push-names'], 'reg.local:5000', 'reg.local:5000/kubesphereio/pause'],
    [[], 'reg.local:5000/ns', 'reg.local:5000/ns/pause'],
    // kk ≤ v3.1.6 applies namespaceOverride on push, v3.1.7+ does not (docs/kubekey-facts.md §9)
    [['--kk-push-names', '--kk-version', 'v3.1.5'], 'reg.local:5000/ns', 'reg.local:5000/ns/pause'],
    [['--kk-push-names', '--kk-version', 'v3.1.12'], 'reg.local:5000/ns', 'reg.local:5000/kubesphereio/pause'],
  ])('--dry-run %j --to %s names the cn pause %s', async (flags, to, repo) => {
    const r = await syncCn(['--to', to, '--dry-run', '--kk-version', 'v3.1.12', ...flags]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`  -> ${repo}:3.9-amd64, ${repo}:3.9\n`);
  });

  it('a real sync puts the pull names (skopeo reads them with the source digests), not kk push names', async () => {
    const t = await startTarget();
    const r = await syncCn(['--to', t.host, '--kk-version', 'v3.1.12']);
    expect(r.code, r.stderr).toBe(0);
    expect(await inspectRaw(`${t.host}/kubesphere/pause:3.9-amd64`)).toBe(
      fx.pause.images[0]?.manifest.descriptor.digest,
    );
    expect(await inspectRaw(`${t.host}/kubesphere/pause:3.9`)).toBeTruthy();
    await expect(inspectRaw(`${t.host}/kubesphereio/pause:3.9`)).rejects.toThrow();
    const kk = await syncCn(['--to', t.host, '--kk-version', 'v3.1.12', '--kk-push-names']);
    expect(kk.code, kk.stderr).toBe(0);
    expect(await inspectRaw(`${t.host}/kubesphereio/pause:3.9-amd64`)).toBe(
      fx.pause.images[0]?.manifest.descriptor.digest,
    );
  }, 120_000);
});
