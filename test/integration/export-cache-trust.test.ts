import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/index.js';
import { planDownloads, type DownloadPlan } from '../../src/download/index.js';
import { exportArtifact, type ExportEvent } from '../../src/export/index.js';
import { parseManifestText, type KkManifest } from '../../src/manifest/index.js';
import { loadMirrorPolicy, type EffectivePolicy } from '../../src/mirror/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { buildLayer, buildMultiArch, pushIndex, seededBytes, type FixtureIndex } from '../support/builders.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startFileServer, type FileServer } from '../support/file-server.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// The cache is verified, not trusted by its file sizes: a cached image blob, kk binary or ISO whose bytes changed
// on disk (same size or not) is dropped and fetched again, and the artifact carries the right bytes.
const sh = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const CRICTL = seededBytes('crictl-tarball', 200_000);
const ISO = seededBytes('iso', 400_000);
const ISO_URL = 'https://github.com/kubesphere/kubekey/releases/download/v3.1.5/ubuntu-20.04-debs-amd64.iso';

let work: string;
let reg: TestRegistry;
let proxy: FaultProxy;
let files: FileServer;
let manifest: KkManifest;
let downloads: DownloadPlan;
let policy: EffectivePolicy;
let index: FixtureIndex;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kko-trust-'));
  reg = await startRegistry({ mode: 'plain' });
  proxy = await startFaultProxy({ upstream: reg.url });
  files = await startFileServer(join(work, 'srv'));
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  index = buildMultiArch('trust', { layerSize: 96 * 1024, base: { amd64: buildLayer('trust-base', 256 * 1024) } });
  await pushIndex(c, 'kubesphere/trust', 'v1', index);
  await c.close();
  const text = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64]
  components:
    crictl: {version: v1.29.0}
  operatingSystems:
  - {arch: amd64, type: linux, id: ubuntu, version: "20.04", repository: {iso: {url: "${ISO_URL}", checksum: "${sha(ISO)}"}}}
  images:
  - docker.io/kubesphere/trust:v1
`;
  const r = parseManifestText(text, join(work, 'manifest.yaml'));
  if (!r.parsed) throw new Error(JSON.stringify(r.issues));
  manifest = r.parsed.manifest;
  const catalog = await loadCatalog({ builtinDir: new URL('../../catalog/', import.meta.url).pathname });
  const plan = planDownloads(catalog, catalog.profile('v3.1.5'), [r.parsed]);
  // the test catalog's checksum is the fixture's
  downloads = { ...plan, binaries: plan.binaries.map((b) => ({ ...b, sha256: sha(CRICTL) })) };
  for (const [url, bytes] of [
    [plan.binaries[0]?.url as string, CRICTL],
    [ISO_URL, ISO],
  ] as const) {
    const u = new URL(url);
    await mkdir(dirname(join(files.root, u.host, u.pathname)), { recursive: true });
    await writeFile(join(files.root, u.host, u.pathname), bytes);
  }
  await writeFile(
    join(work, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
registries:
- {prefix: docker.io, mirrors: [{location: "${proxy.host}", plainHTTP: true}], upstream: false}
downloads:
- {prefix: "https://github.com/", mirrors: [{location: "${files.url}/github.com/"}], upstream: false}
`,
  );
  policy = await loadMirrorPolicy({ configFile: join(work, 'mirrors.yaml'), env: {} });
}, 120_000);

afterAll(async () => {
  await files?.stop();
  await proxy?.stop();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

async function exportTo(dir: string, out: string, keepGoing = false) {
  const events: ExportEvent[] = [];
  const report = await exportArtifact({
    keepGoing,
    manifests: [manifest],
    policy,
    cacheDir: join(dir, 'cache'),
    output: join(dir, out),
    env: {},
    downloads,
    events: (e) => events.push(e),
    http: { retries: 0 },
  });
  return { report, events, warnings: events.flatMap((e) => (e.type === 'warning' ? [e.message] : [])) };
}

// Extract the artifact and check every entry against kko/SHA256SUMS with GNU sha256sum.
async function sha256sumCheck(artifact: string): Promise<void> {
  const out = await mkdtemp(join(work, 'x-'));
  await sh('tar', ['xzf', artifact, '-C', out]);
  const { stdout } = await sh('sha256sum', ['--quiet', '-c', 'kko/SHA256SUMS'], { cwd: out });
  expect(stdout).toBe('');
}

const amd64 = () =>
  index.images.find((i) => i.config.bytes.includes('amd64')) ?? (index.images[0] as FixtureIndex['images'][number]);
const blobFile = (dir: string, digest: string) => join(dir, 'cache/blobs/sha256', digest.replace('sha256:', ''));

async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = (b[0] as number) ^ 0x01;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

async function truncateAndPad(file: string): Promise<void> {
  const size = (await stat(file)).size;
  await truncate(file, Math.floor(size / 2));
  await truncate(file, size); // zeros up to the old size
}

async function assertCacheClean(dir: string): Promise<void> {
  const blobs = join(dir, 'cache/blobs/sha256');
  for (const hex of await readdir(blobs)) expect(sha(await readFile(join(blobs, hex))), `cache blob ${hex}`).toBe(hex);
}

describe('a corrupt cache entry is refetched, never shipped', () => {
  it('flipped byte in a layer, truncate-and-pad of another, a 9-byte crictl tarball, a flipped ISO byte: the next export refetches them and the artifact verifies', async () => {
    const dir = join(work, 'repair');
    const first = await exportTo(dir, 'a.tar.gz');
    expect(first.report.failures).toEqual([]);
    const img = amd64();
    const [base, own] = img.layers;
    await flipByte(blobFile(dir, own?.descriptor.digest as string), 1000);
    await truncateAndPad(blobFile(dir, base?.descriptor.digest as string));
    await writeFile(blobFile(dir, `sha256:${sha(CRICTL)}`), 'not a tgz'); // 9 bytes
    await flipByte(blobFile(dir, `sha256:${sha(ISO)}`), 7);
    files.clear();
    proxy.clear();
    const second = await exportTo(dir, 'b.tar.gz');
    expect(second.report.failures).toEqual([]);
    // each corrupt entry was named, dropped and fetched again (and only those)
    expect(second.warnings.filter((w) => w.startsWith('cache: '))).toHaveLength(4);
    expect(second.warnings.join('\n')).toContain(own?.descriptor.digest.slice(7));
    expect(files.count(/crictl/)).toBe(1);
    expect(files.count(/\.iso$/)).toBe(1);
    expect(proxy.count({ method: 'GET', path: own?.descriptor.digest as string })).toBe(1);
    expect(second.report.fetchedBytes).toBe(
      (own?.descriptor.size ?? 0) + (base?.descriptor.size ?? 0) + CRICTL.length + ISO.length,
    );
    await assertCacheClean(dir);
    await sha256sumCheck(join(dir, 'b.tar.gz'));
    // the repaired artifact is the same bytes as the first one
    expect((await readFile(join(dir, 'b.tar.gz'))).equals(await readFile(join(dir, 'a.tar.gz')))).toBe(true);
  }, 60_000);

  it('a corrupt cached blob whose sources are gone: the export fails naming it, and writes nothing', async () => {
    const dir = join(work, 'gone');
    expect((await exportTo(dir, 'a.tar.gz')).report.failures).toEqual([]);
    const own = amd64().layers[1];
    await flipByte(blobFile(dir, own?.descriptor.digest as string), 5);
    await writeFile(blobFile(dir, `sha256:${sha(CRICTL)}`), 'not a tgz');
    proxy.clear();
    files.clear();
    proxy.add({
      path: /\/blobs\//,
      times: Infinity,
      fault: { kind: 'status', status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}' },
    });
    files.add({ path: /crictl/, times: Infinity, fault: { kind: 'status', status: 404 } });
    // --keep-going: both failures are reported whatever order they happen in (without it the first one stops the
    // run, and which of the two that is depends on the schedule).
    const r = await exportTo(dir, 'b.tar.gz', true);
    proxy.clear();
    files.clear();
    expect(r.report.failures).toHaveLength(2);
    expect(r.report.output).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(new RegExp(`did not match ${own?.descriptor.digest}`));
    await expect(stat(join(dir, 'b.tar.gz'))).rejects.toThrow();
    expect((await readdir(dir)).filter((f) => f.includes('kko-partial'))).toEqual([]);
    // and nothing corrupt stays in the cache
    await assertCacheClean(dir);
  }, 60_000);
});
