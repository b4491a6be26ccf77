import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlobCache } from '../../src/cache/index.js';
import {
  loadCatalog,
  planBinaries,
  type BinaryItem,
  type Catalog,
  type KubeKeyProfile,
} from '../../src/catalog/index.js';
import {
  assertBinaryChecksums,
  fetchBinary,
  fetchIso,
  HttpDownloader,
  planDownloads,
  type DownloadDeps,
  type FetchFn,
  type HttpDownloaderOptions,
} from '../../src/download/index.js';
import { parseManifestText, type KkManifest } from '../../src/manifest/index.js';
import { loadMirrorPolicy, type EffectivePolicy } from '../../src/mirror/index.js';
import { seededBytes, tarOf } from '../support/builders.js';
import { startFileServer, type FileServer } from '../support/file-server.js';

// kk binaries and OS ISOs fetched from a loopback file server that the mirror policy puts in place of the
// real download hosts; the test catalog carries the fixtures' sha256. No request may leave 127.0.0.1.

const sh = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const HOSTS = [
  'dl.k8s.io',
  'storage.googleapis.com',
  'github.com',
  'get.helm.sh',
  'download.docker.com',
  'kubernetes-helm.pek3b.qingstor.com',
];
const ISO_URL = 'https://github.com/kubesphere/kubekey/releases/download/v3.1.9/ubuntu-20.04-debs-amd64.iso';

// kubekey.md §3.7: the binaries in kk's artifact for this manifest.
const KK_PATHS = [
  'kube/v1.28.12/amd64/kubeadm',
  'kube/v1.28.12/amd64/kubelet',
  'kube/v1.28.12/amd64/kubectl',
  'etcd/v3.5.13/amd64/etcd-v3.5.13-linux-amd64.tar.gz',
  'cni/v1.2.0/amd64/cni-plugins-linux-amd64-v1.2.0.tgz',
  'cni/v3.27.3/amd64/calicoctl',
  'helm/v3.14.3/amd64/helm',
  'crictl/v1.29.0/amd64/crictl-v1.29.0-linux-amd64.tar.gz',
  'docker/24.0.9/amd64/docker-24.0.9.tgz',
  'cri-dockerd/0.3.10/amd64/cri-dockerd-0.3.10.tgz',
  'containerd/1.7.13/amd64/containerd-1.7.13-linux-amd64.tar.gz',
  'runc/v1.1.12/amd64/runc.amd64',
  'registry/registry/2/amd64/registry-2-linux-amd64.tar.gz',
  'registry/harbor/v2.10.1/amd64/harbor-offline-installer-v2.10.1.tgz',
  'registry/compose/v2.26.1/amd64/docker-compose-linux-x86_64',
];

const manifestYaml = (spec: string): string => `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64]
${spec}`;

const FULL = readFileSync(new URL('../fixtures/manifests/kk-v3.1.5-binaries.yaml', import.meta.url), 'utf8');

function parse(text: string, file = 'manifest.yaml'): KkManifest {
  const { parsed, issues } = parseManifestText(text, file);
  if (!parsed) throw new Error(`bad test manifest: ${JSON.stringify(issues)}`);
  return parsed.manifest;
}

let work: string;
let server: FileServer;
let catalog: Catalog;
let profile: KubeKeyProfile;
let policy: EffectivePolicy;
const payload = new Map<string, Buffer>(); // artifact path → the bytes kk stores there
const offLoopback: string[] = [];
const downloaders: HttpDownloader[] = [];

// The file the loopback server serves for an upstream URL: srv/<host><path>.
function servedFile(url: string, root = server.root): string {
  const u = new URL(url);
  return join(root, u.host, u.pathname);
}

async function put(file: string, data: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, data);
}

const mirrorConfig = (port: string, zone: string, extra = ''): string => `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
zone: ${zone}
downloads:
${extra}${HOSTS.map((h) => `- prefix: https://${h}/\n  mirrors: [{location: 'http://127.0.0.1:${port}/${h}/'}]\n  upstream: false`).join('\n')}
`;

async function policyFor(zone: 'default' | 'cn', extra = ''): Promise<EffectivePolicy> {
  const file = join(work, `mirrors-${zone}-${sha(Buffer.from(extra)).slice(0, 8)}.yaml`);
  await writeFile(file, mirrorConfig(new URL(server.url).port, zone, extra));
  return loadMirrorPolicy({ configFile: file, env: {} });
}

// Every request goes through here: anything but loopback is recorded and refused.
const loopbackOnly: FetchFn = (input, init) => {
  const host = new URL(String(input)).hostname;
  if (host !== '127.0.0.1') {
    offLoopback.push(String(input));
    return Promise.reject(new Error(`test tried to reach ${host}`));
  }
  return undiciFetch(input, init);
};

async function deps(
  opts: { cache?: BlobCache; policy?: EffectivePolicy; http?: HttpDownloaderOptions } = {},
): Promise<DownloadDeps> {
  const http = new HttpDownloader({
    fetch: loopbackOnly,
    baseDelayMs: 1,
    maxDelayMs: 5,
    idleTimeoutMs: 5_000,
    ...opts.http,
  });
  downloaders.push(http);
  const cache = opts.cache ?? new BlobCache(await mkdtemp(join(work, 'cache-')));
  return { cache, http, policy: opts.policy ?? policy, catalog };
}

// Fixture bytes for every binary of a manifest: random files, helm as a tarball holding linux-<arch>/helm.
async function serveFixtures(
  items: readonly BinaryItem[],
  checksums: Record<string, Record<string, Record<string, string>>>,
): Promise<void> {
  for (const item of items) {
    const size = item.id === 'kubeadm' ? 1_000_000 : 40_000 + (sha(Buffer.from(item.path)).charCodeAt(0) % 16) * 7_000;
    const bytes = seededBytes(item.path, size);
    payload.set(item.path, bytes);
    const served = item.extract
      ? gzipSync(
          tarOf([
            { name: `linux-${item.arch}/LICENSE`, data: Buffer.from('Apache-2.0\n') },
            { name: item.extract, data: bytes },
            { name: `linux-${item.arch}/README.md`, data: Buffer.from('helm\n') },
          ]),
        )
      : bytes;
    await put(servedFile(item.url), served);
    ((checksums[item.component] ??= {})[item.arch] ??= {})[item.version] = sha(bytes);
  }
}

// helm v3.9.0's tarball is made by GNU tar (directory entries, its own header layout), as upstream's are.
async function serveGnuTarHelm(checksums: Record<string, Record<string, Record<string, string>>>): Promise<void> {
  const dir = join(work, 'gnutar');
  const bytes = seededBytes('helm-v3.9.0', 70_000);
  payload.set('helm/v3.9.0/amd64/helm', bytes);
  await put(join(dir, 'linux-amd64', 'helm'), bytes);
  await put(join(dir, 'linux-amd64', 'LICENSE'), Buffer.from('Apache-2.0\n'));
  const tgz = servedFile('https://get.helm.sh/helm-v3.9.0-linux-amd64.tar.gz');
  await mkdir(dirname(tgz), { recursive: true });
  await sh('tar', ['czf', tgz, '-C', dir, 'linux-amd64']);
  ((checksums.helm ??= {}).amd64 ??= {})['v3.9.0'] = sha(bytes);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kko-download-'));
  server = await startFileServer(join(work, 'srv'));
  const catalogDir = join(work, 'catalog');
  await cp(new URL('../../catalog/', import.meta.url).pathname, catalogDir, { recursive: true });
  const real = await loadCatalog({ builtinDir: catalogDir });
  profile = real.profile('v3.1.9');
  const checksums = JSON.parse(await readFile(join(catalogDir, 'checksums.json'), 'utf8')) as Record<
    string,
    Record<string, Record<string, string>>
  >;
  await serveFixtures(planBinaries(real, profile, parse(FULL)), checksums);
  await serveGnuTarHelm(checksums);
  await writeFile(join(catalogDir, 'checksums.json'), JSON.stringify(checksums, null, 2));
  catalog = await loadCatalog({ builtinDir: catalogDir });
  policy = await policyFor('default');
}, 60_000);

afterEach(async () => {
  expect(offLoopback).toEqual([]);
  await Promise.all(downloaders.splice(0).map((d) => d.close()));
  server.clear();
});

afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const item = (path: string): BinaryItem => {
  const found = planDownloads(catalog, profile, [parse(FULL)]).binaries.find((b) => b.path === path);
  if (!found) throw new Error(`no planned binary ${path}`);
  return found;
};

describe('kk binaries', () => {
  it('plans exactly kk’s artifact paths (kubekey.md §3.7), once across manifests, each with the test catalog’s sha256', () => {
    const plan = planDownloads(catalog, profile, [parse(FULL), parse(FULL)]);
    expect(plan.binaries.map((b) => b.path).sort()).toEqual([...KK_PATHS].sort());
    expect(new Set(plan.binaries.map((b) => b.id))).toEqual(
      new Set([
        'kubeadm',
        'kubelet',
        'kubectl',
        'etcd',
        'kubecni',
        'helm',
        'crictl',
        'calicoctl',
        'docker',
        'cri-dockerd',
        'containerd',
        'runc',
        'registry',
        'harbor',
        'compose',
      ]),
    );
    for (const b of plan.binaries) expect(b.sha256).toBe(sha(payload.get(b.path) as Buffer));
  });

  it('fetches every binary kind into the cache, verified, through the mirrors; a re-run fetches 0 bytes', async () => {
    const d = await deps();
    const plan = planDownloads(catalog, profile, [parse(FULL)]);
    const first = await Promise.all(plan.binaries.map((b) => fetchBinary(b, d)));
    for (const r of first) {
      const stored = await readFile(r.path);
      expect(sha(stored)).toBe(r.item.sha256);
      expect(stored.equals(payload.get(r.item.path) as Buffer)).toBe(true);
      expect(r.path).toBe(d.cache.blobPath(`sha256:${r.item.sha256}`));
      expect(r.source).toMatchObject({ via: 'mirror', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//) });
    }
    const helm = first.find((r) => r.item.id === 'helm');
    expect(helm?.source.url).toMatch(/get\.helm\.sh\/helm-v3\.14\.3-linux-amd64\.tar\.gz$/);
    expect(await readdir(join(d.cache.root, 'tmp'))).toEqual([]); // no helm tarball or partial left behind
    server.clear();
    const again = await Promise.all(plan.binaries.map((b) => fetchBinary(b, d)));
    expect(again.reduce((n, r) => n + r.fetchedBytes, 0)).toBe(0);
    expect(again.every((r) => r.source.via === 'cache')).toBe(true);
    expect(server.count()).toBe(0);
  });

  it('extracts helm from a GNU tar tarball (directory entries) and stores the binary kk hashes', async () => {
    const m = parse(manifestYaml('  components: {helm: {version: v3.9.0}}\n'));
    const [helm] = planDownloads(catalog, profile, [m]).binaries;
    const r = await fetchBinary(helm as BinaryItem, await deps());
    expect(r.item.path).toBe('helm/v3.9.0/amd64/helm');
    expect((await readFile(r.path)).equals(payload.get('helm/v3.9.0/amd64/helm') as Buffer)).toBe(true);
  });

  it('cn zone: helm comes from kk’s raw QingStor binary first; without it, from the tarball', async () => {
    const cn = await policyFor('cn');
    const helm = item('helm/v3.14.3/amd64/helm');
    const raw = servedFile('https://kubernetes-helm.pek3b.qingstor.com/linux-amd64/v3.14.3/helm');
    await put(raw, payload.get(helm.path) as Buffer);
    const viaRaw = await fetchBinary(helm, await deps({ policy: cn }));
    expect(viaRaw.source.url).toMatch(/kubernetes-helm\.pek3b\.qingstor\.com\/linux-amd64\/v3\.14\.3\/helm$/);
    expect(server.count('get.helm.sh')).toBe(0);
    await rm(raw);
    const viaTarball = await fetchBinary(helm, await deps({ policy: cn }));
    expect(viaTarball.source.url).toMatch(/get\.helm\.sh\//);
    expect(server.requests.map((r) => r.status)).toEqual([200, 404, 200]);
  });

  it('a corrupt first mirror falls back to the second; nothing corrupt is kept', async () => {
    const etcd = item('etcd/v3.5.13/amd64/etcd-v3.5.13-linux-amd64.tar.gz');
    const good = payload.get(etcd.path) as Buffer;
    const bad = Buffer.from(good);
    bad[1000] = (bad[1000] as number) ^ 0xff;
    await put(servedFile(etcd.url, join(server.root, 'bad')), bad);
    const extra = `- prefix: https://github.com/coreos/\n  mirrors: [{location: '${server.url}/bad/github.com/coreos/'}, {location: '${server.url}/github.com/coreos/'}]\n  upstream: false\n`;
    const d = await deps({ policy: await policyFor('default', extra) });
    const r = await fetchBinary(etcd, d);
    expect(r.source.url).toBe(
      `${server.url}/github.com/coreos/etcd/releases/download/v3.5.13/etcd-v3.5.13-linux-amd64.tar.gz`,
    );
    expect((await readFile(r.path)).equals(good)).toBe(true);
    expect(server.requests.map((q) => q.path.split('/')[1])).toEqual(['bad', 'github.com']);
    expect(r.fetchedBytes).toBe(2 * good.length); // the corrupt copy was fetched once, then the good one
    expect(await readdir(join(d.cache.root, 'tmp'))).toEqual([]);
  });

  it('every source failing reports each one and keeps nothing', async () => {
    const runc = item('runc/v1.1.12/amd64/runc.amd64');
    server.add({ path: 'runc.amd64', times: Infinity, fault: { kind: 'status', status: 404 } });
    const d = await deps();
    await expect(fetchBinary(runc, d)).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      message: expect.stringContaining('HTTP 404'),
    });
    expect(await d.cache.has({ digest: `sha256:${runc.sha256}` })).toBe(false);
  });

  it('a reset mid-download resumes with Range: the server sends the file about once, not twice', async () => {
    const kubeadm = item('kube/v1.28.12/amd64/kubeadm');
    const size = (payload.get(kubeadm.path) as Buffer).length;
    server.add({ path: '/kubeadm', fault: { kind: 'reset', afterBytes: 400_000 } });
    const r = await fetchBinary(kubeadm, await deps());
    expect((await readFile(r.path)).equals(payload.get(kubeadm.path) as Buffer)).toBe(true);
    const reqs = server.requests.filter((q) => q.path.endsWith('/kubeadm'));
    expect(reqs).toHaveLength(2);
    expect(reqs[0]?.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(reqs[1]?.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(400_000);
    expect(reqs[1]?.status).toBe(206);
    expect(server.bytesServed('/kubeadm')).toBeGreaterThanOrEqual(size);
    expect(server.bytesServed('/kubeadm')).toBeLessThan(size * 1.1);
    expect(r.fetchedBytes).toBe(size);
  });

  it('a server that ignores Range after a truncated body: the first N bytes are skipped, the file is still right', async () => {
    const kubelet = item('kube/v1.28.12/amd64/kubelet');
    const data = payload.get(kubelet.path) as Buffer;
    server.add({ path: '/kubelet', fault: { kind: 'truncate', afterBytes: 20_000 } });
    server.add({ path: '/kubelet', fault: { kind: 'ignore-range' } });
    const r = await fetchBinary(kubelet, await deps());
    expect((await readFile(r.path)).equals(data)).toBe(true);
    expect(server.requests.map((q) => q.status)).toEqual([200, 200]);
    expect(server.requests[1]?.range).toMatch(/^bytes=\d+-$/);
  });

  it('a body that goes silent hits the idle timeout and resumes (kk’s curl waits forever: #2356)', async () => {
    const kubectl = item('kube/v1.28.12/amd64/kubectl');
    server.add({ path: '/kubectl', fault: { kind: 'stall', afterBytes: 16_384, ms: 3_000 } });
    const started = Date.now();
    const r = await fetchBinary(kubectl, await deps({ http: { idleTimeoutMs: 300 } }));
    expect(Date.now() - started).toBeLessThan(2_500);
    expect((await readFile(r.path)).equals(payload.get(kubectl.path) as Buffer)).toBe(true);
    expect(server.requests.map((q) => q.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
  });

  it('5xx and 429 are retried with backoff, and Retry-After is honoured', async () => {
    const calicoctl = item('cni/v3.27.3/amd64/calicoctl');
    server.add({ path: '/calicoctl', times: 2, fault: { kind: 'status', status: 503 } });
    server.add({ path: '/calicoctl', fault: { kind: 'status', status: 429, headers: { 'retry-after': '2' } } });
    const waits: number[] = [];
    const r = await fetchBinary(calicoctl, await deps({ http: { sleep: async (ms) => void waits.push(ms) } }));
    expect(r.source.via).toBe('mirror');
    expect(server.requests.map((q) => q.status)).toEqual([503, 503, 429, 200]);
    expect(waits).toHaveLength(3);
    expect(waits[2]).toBe(2_000);
  });

  it('a version without a catalog checksum is refused before any request, naming the versions the catalog knows', async () => {
    const m = parse(
      manifestYaml(
        '  kubernetesDistributions: [{type: kubernetes, version: v1.99.0}]\n  components: {etcd: {version: v3.9.9}}\n',
      ),
    );
    const plan = planDownloads(catalog, profile, [m]);
    const kubeadm = plan.binaries.find((b) => b.id === 'kubeadm') as BinaryItem;
    const etcd = plan.binaries.find((b) => b.id === 'etcd') as BinaryItem;
    const known = catalog.checksumVersions('kubeadm', 'amd64');
    const err = await fetchBinary(kubeadm, await deps()).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'UNKNOWN_VERSION',
      message: expect.stringContaining('No SHA256 found for kubeadm v1.99.0 (amd64)'),
    });
    expect((err as { hint: string }).hint).toContain(known[0]);
    expect((err as { hint: string }).hint).toContain(known.at(-1));
    await expect(fetchBinary(etcd, await deps())).rejects.toMatchObject({ hint: expect.stringContaining('v3.5.13') });
    expect(() => assertBinaryChecksums(plan.binaries, catalog)).toThrow(/No SHA256 found for 4 binaries/);
    expect(server.count()).toBe(0);
  });
});

describe('OS repository ISOs', () => {
  const iso = seededBytes('ubuntu-20.04-amd64.iso', 600_000);
  const isoManifest = (repo: string): KkManifest =>
    parse(
      manifestYaml(
        `  operatingSystems:\n  - {arch: amd64, type: linux, id: ubuntu, version: "20.04", osImage: Ubuntu 20.04.6 LTS, repository: {iso: ${repo}}}\n`,
      ),
    );

  beforeAll(async () => {
    await put(servedFile(ISO_URL), iso);
  });

  it('a url with its checksum goes into the cache at kk’s repository path; a re-run fetches 0 bytes', async () => {
    const plan = planDownloads(catalog, profile, [isoManifest(`{url: '${ISO_URL}', checksum: 'sha256:${sha(iso)}'}`)]);
    expect(plan.isos.map((i) => i.path)).toEqual(['repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso']);
    const d = await deps();
    const r = await fetchIso(plan.isos[0] as (typeof plan.isos)[number], d);
    expect(r).toMatchObject({ verified: true, sha256: sha(iso), fetchedBytes: iso.length, source: { via: 'mirror' } });
    expect((await readFile(r.path)).equals(iso)).toBe(true);
    const again = await fetchIso(plan.isos[0] as (typeof plan.isos)[number], d);
    expect(again).toMatchObject({ fetchedBytes: 0, source: { via: 'cache' } });
    expect(server.count()).toBe(1);
  });

  it('a url whose bytes do not match the checksum is refused (CHECKSUM_MISMATCH) and nothing is stored', async () => {
    const wrong = sha(Buffer.from('not the iso'));
    const [planned] = planDownloads(catalog, profile, [
      isoManifest(`{url: '${ISO_URL}', checksum: '${wrong}  ubuntu-20.04-debs-amd64.iso'}`),
    ]).isos;
    const d = await deps();
    await expect(fetchIso(planned as NonNullable<typeof planned>, d)).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(await d.cache.has({ digest: `sha256:${wrong}` })).toBe(false);
    expect(await readdir(join(d.cache.root, 'tmp'))).toEqual([]);
  });

  it('a url without a checksum is stored under the digest it hashes to, marked unverified', async () => {
    const [planned] = planDownloads(catalog, profile, [isoManifest(`{url: '${ISO_URL}'}`)]).isos;
    const d = await deps();
    const r = await fetchIso(planned as NonNullable<typeof planned>, d);
    expect(r).toMatchObject({ verified: false, sha256: sha(iso), path: d.cache.blobPath(`sha256:${sha(iso)}`) });
    expect(await readdir(join(d.cache.root, 'tmp'))).toEqual([]);
  });

  it('a localPath relative to the manifest’s folder is hashed in place and checked against its checksum', async () => {
    const dir = join(work, 'manifests');
    await put(join(dir, 'isos', 'ubuntu.iso'), iso);
    const good = {
      manifest: isoManifest(`{localPath: isos/ubuntu.iso, checksum: '${sha(iso)}'}`),
      file: join(dir, 'manifest.yaml'),
    };
    const [local] = planDownloads(catalog, profile, [good]).isos;
    const r = await fetchIso(local as NonNullable<typeof local>, await deps());
    expect(r).toMatchObject({
      path: join(dir, 'isos', 'ubuntu.iso'),
      verified: true,
      fetchedBytes: 0,
      source: { via: 'local' },
    });
    const bad = {
      manifest: isoManifest(`{localPath: isos/ubuntu.iso, checksum: '${sha(Buffer.from('x'))}'}`),
      file: join(dir, 'manifest.yaml'),
    };
    const [wrong] = planDownloads(catalog, profile, [bad]).isos;
    await expect(fetchIso(wrong as NonNullable<typeof wrong>, await deps())).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    const missing = { manifest: isoManifest('{localPath: isos/nope.iso}'), file: join(dir, 'manifest.yaml') };
    const [gone] = planDownloads(catalog, profile, [missing]).isos;
    await expect(fetchIso(gone as NonNullable<typeof gone>, await deps())).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
    expect(server.count()).toBe(0);
  });
});
