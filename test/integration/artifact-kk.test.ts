import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog, planBinaries, type Catalog } from '../../src/catalog/index.js';
import { planDownloads } from '../../src/download/index.js';
import { exportArtifact } from '../../src/export/index.js';
import { parseManifestText, type ParsedManifest } from '../../src/manifest/index.js';
import { loadMirrorPolicy } from '../../src/mirror/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushIndex, seededBytes, tarOf } from '../support/builders.js';
import { startFileServer, type FileServer } from '../support/file-server.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli } from '../cli/run-cli.js';
import { runImport, runVerify } from '../../src/cli/actions/artifact-read.js';
import type { CommandContext } from '../../src/cli/context.js';
import { isKkoError } from '../../src/errors.js';
import { catalogWithBinaries } from '../support/catalog.js';

// The whole artifact kk consumes: images, every binary and an ISO, from loopback servers that the mirror
// policy puts in place of docker.io and the real download hosts; the test catalog carries the fixtures' sha256.
const sh = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const HOSTS = ['dl.k8s.io', 'storage.googleapis.com', 'github.com', 'get.helm.sh', 'download.docker.com'];
const fx = fixtureSet({ baseSize: 64 * 1024 });
const ISO = seededBytes('ubuntu-iso', 300_000);

// kubekey.md §3.7: what kk v3.1.x finds in an artifact for this manifest (kubeadm etc. per version and arch).
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
  'repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso',
  'images/oci-layout',
  'images/index.json',
];

let work: string;
let reg: TestRegistry;
let files: FileServer;
let catalog: Catalog;
let parsed: ParsedManifest;
let artifact: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kko-kk-'));
  reg = await startRegistry({ mode: 'plain' });
  files = await startFileServer(join(work, 'srv'));
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await c.close();
  // kk's binaries for v1.28.12 (shared fixture), plus an ISO and an image
  const text = `${await readFile(new URL('../fixtures/manifests/kk-v3.1.5-binaries.yaml', import.meta.url), 'utf8')}  operatingSystems:
  - arch: amd64
    type: linux
    id: ubuntu
    version: "20.04"
    repository:
      iso: {url: "https://github.com/kubesphere/kubekey/releases/download/v3.1.5/ubuntu-20.04-debs-amd64.iso", checksum: "${sha(ISO)}"}
  images:
  - docker.io/kubesphere/pause:3.9
`;
  const r = parseManifestText(text, join(work, 'manifest.yaml'));
  if (!r.parsed) throw new Error(JSON.stringify(r.issues));
  parsed = r.parsed;
  // test catalog: the real one with the fixtures' checksums
  const real = await loadCatalog();
  const fixtures: Array<{ path: string; data: Buffer }> = [];
  for (const item of planBinaries(real, real.profile('v3.1.5'), parsed.manifest)) {
    const bytes = seededBytes(item.path, 20_000);
    const served = item.extract ? gzipSync(tarOf([{ name: item.extract, data: bytes }])) : bytes;
    const u = new URL(item.url);
    await mkdir(dirname(join(files.root, u.host, u.pathname)), { recursive: true });
    await writeFile(join(files.root, u.host, u.pathname), served);
    fixtures.push({ path: item.path, data: bytes });
  }
  const isoUrl = new URL('https://github.com/kubesphere/kubekey/releases/download/v3.1.5/ubuntu-20.04-debs-amd64.iso');
  await mkdir(dirname(join(files.root, isoUrl.host, isoUrl.pathname)), { recursive: true });
  await writeFile(join(files.root, isoUrl.host, isoUrl.pathname), ISO);
  catalog = await catalogWithBinaries(join(work, 'catalog'), fixtures);
  // mirror policy: docker.io → the registry; every download host → the file server
  const port = new URL(files.url).port;
  await writeFile(
    join(work, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
registries:
- {prefix: docker.io, mirrors: [{location: "${reg.host}", plainHTTP: true}], upstream: false}
downloads:
${HOSTS.map((h) => `- {prefix: "https://${h}/", mirrors: [{location: "http://127.0.0.1:${port}/${h}/"}], upstream: false}`).join('\n')}
`,
  );
  const policy = await loadMirrorPolicy({ configFile: join(work, 'mirrors.yaml'), env: {} });
  artifact = join(work, 'kubekey-artifact.tar.gz');
  const report = await exportArtifact({
    manifests: [parsed.manifest],
    policy,
    cacheDir: join(work, 'cache'),
    output: artifact,
    env: {},
    downloads: planDownloads(catalog, catalog.profile('v3.1.5'), [parsed]),
    profile: catalog.profile('v3.1.5'),
  });
  if (report.failures.length > 0) throw new Error(String(report.failures[0]?.error));
}, 120_000);

afterAll(async () => {
  await files?.stop();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a complete kk artifact', () => {
  it('plain `tar xzf` gives every path kk v3.1.x expects, with the right bytes (sha256sum -c)', async () => {
    const out = join(work, 'untar');
    await mkdir(out);
    await sh('tar', ['xzf', artifact, '-C', out]);
    for (const p of KK_PATHS) await expect(readFile(join(out, p)), p).resolves.toBeInstanceOf(Buffer);
    expect((await readFile(join(out, 'repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso'))).equals(ISO)).toBe(true);
    const { stdout } = await sh('sha256sum', ['--quiet', '-c', 'kko/SHA256SUMS'], { cwd: out });
    expect(stdout).toBe('');
    const inv = JSON.parse(await readFile(join(out, 'kko/inventory.json'), 'utf8'));
    expect(inv.binaries.map((b: { path: string }) => b.path).sort()).toEqual(
      KK_PATHS.filter((p) => !p.startsWith('images/') && !p.startsWith('repository/')).sort(),
    );
    expect(inv.kk).toMatchObject({
      version: 'v3.1.5',
      defaults: { etcd: 'v3.5.13', helm: 'v3.14.3' },
      imageTags: { calico: 'v3.27.3' },
    });
    expect(inv.isos).toMatchObject([
      { path: 'repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso', verified: true, size: ISO.length },
    ]);
    // every binary row carries the stored file's size, so a reader can refuse a wrong entry from its header alone
    for (const b of inv.binaries as Array<{ path: string; size: number }>)
      expect(b.size, b.path).toBe((await stat(join(out, b.path))).size);
    // every images/index.json entry is pushable by containers/image (kk's push path)
    const index = JSON.parse(await readFile(join(out, 'images/index.json'), 'utf8'));
    for (const m of index.manifests) {
      const name = m.annotations['org.opencontainers.image.ref.name'] as string;
      await sh('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${join(out, 'images')}:${name}`,
        `docker://${reg.host}/pushed/${name
          .split('/')
          .slice(1)
          .join('/')
          .replace(/:([^:]+)$/, ':$1')}`,
      ]);
    }
  });

  it("kko artifact verify passes; inspect lists images and binaries; import lays out kk's work dir", async () => {
    const v = await withCatalog((ctx) => runVerify({ artifact, json: true, catalog }, ctx));
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as { kind: string; anchors: Record<string, number>; unanchored: string[] };
    expect(report).toMatchObject({ kind: 'kko', anchors: { catalog: 15, manifest: 1 }, unanchored: [] }); // every binary by the catalog, the ISO by the user's checksum
    const i = await runCli(['artifact', 'inspect', artifact, '--json']);
    expect(i.code).toBe(0);
    expect(JSON.stringify(JSON.parse(i.stdout))).toContain('kube/v1.28.12/amd64/kubeadm'.split('/')[0]);
    const dir = join(work, 'kubekey');
    const imp = await withCatalog((ctx) => runImport({ artifact, dir, catalog }, ctx));
    expect(imp.code).toBe(0);
    for (const p of KK_PATHS) await expect(readFile(join(dir, p)), p).resolves.toBeInstanceOf(Buffer);
    const md5 = createHash('md5')
      .update(await readFile(artifact))
      .digest('hex');
    expect(await readFile(join(dir, 'artifact.md5'), 'utf8')).toBe(md5);
  });

  it('with the shipped catalog, every made-up binary is corrupt although the inventory and SHA256SUMS agree with it', async () => {
    const v = await runCli(['artifact', 'verify', artifact]);
    expect(v.code).toBe(1);
    const corrupt = v.stdout.split('\n').filter((l) => l.startsWith('corrupt: '));
    expect(corrupt.map((l) => l.split(' ')[1]).sort()).toEqual(
      KK_PATHS.filter((p) => !p.startsWith('images/') && !p.startsWith('repository/')).sort(),
    );
    expect(corrupt.every((l) => l.endsWith('(kko catalog))'))).toBe(true);
    const dir = join(work, 'kubekey-real-catalog');
    expect((await runCli(['artifact', 'import', artifact, '--dir', dir])).code).toBe(1);
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });

  it('a truncated crictl with its SHA256SUMS line (and inventory row) rewritten fails verify and import', async () => {
    const src = join(work, 'retar');
    await mkdir(src);
    await sh('tar', ['xzf', artifact, '-C', src]);
    const crictl = 'crictl/v1.29.0/amd64/crictl-v1.29.0-linux-amd64.tar.gz';
    const cut = (await readFile(join(src, crictl))).subarray(0, 1000);
    await writeFile(join(src, crictl), cut);
    const old = createHash('sha256').update(seededBytes(crictl, 20_000)).digest('hex');
    // a careful forger: the inventory row, its SHA256SUMS line and the crictl line all agree with the cut file
    const inv = join(src, 'kko/inventory.json');
    const invBefore = await readFile(inv);
    const doc = JSON.parse(invBefore.toString('utf8'));
    for (const b of doc.binaries) if (b.path === crictl) Object.assign(b, { sha256: sha(cut), size: cut.length });
    await writeFile(inv, JSON.stringify(doc, null, 2));
    const sums = join(src, 'kko/SHA256SUMS');
    await writeFile(
      sums,
      (await readFile(sums, 'utf8')).replaceAll(old, sha(cut)).replace(sha(invBefore), sha(await readFile(inv))),
    );
    const forged = join(work, 'forged.tar.gz');
    await sh('tar', ['czf', forged, '-C', src, '.']);
    const v = await withCatalog((ctx) => runVerify({ artifact: forged, catalog }, ctx));
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`corrupt: ${crictl} (sha256 want ${old} got ${sha(cut)} (kko catalog))`);
    const dir = join(work, 'kubekey-forged');
    const imp = await withCatalog((ctx) => runImport({ artifact: forged, dir, catalog }, ctx));
    expect(imp.code).toBe(1);
    expect(imp.stderr).toContain(`corrupt: ${crictl}`);
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });
});

// Run a command function with a captured context and main()'s mapping of thrown errors to exit codes.
async function withCatalog(
  fn: (ctx: CommandContext) => Promise<void>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const ctx: CommandContext = {
    io: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {}, cwd: work, isTTY: false },
    setExit: (c) => void (code = c),
  };
  try {
    await fn(ctx);
  } catch (err) {
    if (!isKkoError(err)) throw err;
    stderr += `error: ${err.message}\n`;
    code = err.isInputError ? 2 : 1;
  }
  return { code, stdout, stderr };
}

describe('precheck of binaries and ISOs', () => {
  it('reports every binary and the ISO reachable (or cached) before anything is downloaded', async () => {
    const { precheck } = await import('../../src/export/index.js');
    const policy = await loadMirrorPolicy({ configFile: join(work, 'mirrors.yaml'), env: {} });
    const downloads = planDownloads(catalog, catalog.profile('v3.1.5'), [parsed]);
    const cold = await precheck({
      manifests: [parsed.manifest],
      policy,
      cacheDir: join(work, 'cold-cache'),
      env: {},
      downloads,
      catalog,
    });
    expect(cold.files.filter((f) => !f.ok)).toEqual([]);
    expect(cold.files.map((f) => f.path).sort()).toEqual(KK_PATHS.filter((p) => !p.startsWith('images/')).sort());
    expect(cold.files.every((f) => f.via === 'mirror')).toBe(true);
    const warm = await precheck({
      manifests: [parsed.manifest],
      policy,
      cacheDir: join(work, 'cache'),
      env: {},
      downloads,
      catalog,
    });
    expect(warm.files.filter((f) => f.cached).length).toBe(15);
    // a binary whose every source is gone is reported with the sources tried
    files.add({ path: /kubeadm/, times: Infinity, fault: { kind: 'status', status: 404 } });
    const gone = await precheck({
      manifests: [parsed.manifest],
      policy,
      cacheDir: join(work, 'cold-cache'),
      env: {},
      downloads,
      catalog,
    });
    files.clear();
    expect(gone.ok).toBe(false);
    expect(gone.files.find((f) => f.path.endsWith('kubeadm'))?.message).toMatch(/every source failed/);
  });
});
