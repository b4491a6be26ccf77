import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { buildLayer, buildMultiArch, fixtureSet, pushImage, pushIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import type { TestRegistry } from '../support/registry.js';
import { exportArgs } from '../support/cli-args.js';
import { runCli } from '../cli/run-cli.js';

const sh = promisify(execFile);
const fx = fixtureSet({ baseSize: 256 * 1024, layerSize: 64 * 1024 });
let reg: TestRegistry;
let proxy: FaultProxy;
let env: ProxiedRegistry;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  env = await startProxiedRegistry('kko-export-', async (c) => {
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(c, 'kubesphere/pause-docker', '3.9', fx.pauseDocker);
    await pushImage(c, 'kubesphere/kube-apiserver', 'v1.28.12', fx.apiserver);
    await pushIndex(c, 'calico/lonely', 'v1', fx.pretender);
    const base = buildLayer('calico-base', 128 * 1024);
    const multi = (name: string) => buildMultiArch(name, { layerSize: 32 * 1024, base: { amd64: base } });
    await pushIndex(c, 'calico/node', 'v3.27.3', multi('calico-node'));
    await pushIndex(c, 'calico/cni', 'v3.27.3', multi('calico-cni'));
    // kk's cn naming: everything flattened under kubesphereio/
    await pushIndex(c, 'kubesphereio/pause', '3.9', fx.pause);
    await pushIndex(c, 'kubesphereio/node', 'v3.27.3', multi('calico-node'));
  });
  ({ reg, proxy, work } = env);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const manifest = (images: string[], arches = ['amd64', 'arm64']) => `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [${arches.join(', ')}]
  images:
${images.map((i) => `  - ${i}`).join('\n')}
`;

// docker.io → the loopback registry (optionally behind the fault proxy first).
const mirrors = (locations: string[]) => `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
registries:
- prefix: docker.io
  mirrors:
${locations.map((l) => `  - {location: ${l}, plainHTTP: true}`).join('\n')}
  upstream: false
`;

async function setup(name: string, images: string[], locations = [reg.host], arches?: string[]) {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'm.yaml'), manifest(images, arches));
  await writeFile(join(dir, 'mirrors.yaml'), mirrors(locations));
  return dir;
}

const exportIn = (dir: string, ...extra: string[]) =>
  runCli(exportArgs('out.tar.gz', {}, '--json', ...extra), { cwd: dir, env: { HOME: dir } });

const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('kko artifact export (real registry)', () => {
  const IMAGES = [
    'docker.io/kubesphere/pause:3.9',
    'docker.io/kubesphere/pause-docker:3.9',
    'docker.io/calico/node:v3.27.3',
    'docker.io/calico/cni:v3.27.3',
  ];

  it('exports every image × arch into one OCI layout that skopeo reads and pushes, digests intact', async () => {
    const dir = await setup('ok', IMAGES);
    const r = await exportIn(dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.type === 'image-done')).toHaveLength(8);
    await sh('tar', ['xzf', 'out.tar.gz', '-C', '.'], { cwd: dir });
    const index = JSON.parse(await readFile(join(dir, 'images/index.json'), 'utf8'));
    const names = index.manifests.map(
      (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
    );
    expect(names).toEqual([...names].sort());
    expect(names).toContain('docker.io/kubesphere/pause:3.9-arm64');
    expect(
      index.manifests.every((m: { mediaType: string }) => m.mediaType === 'application/vnd.oci.image.manifest.v1+json'),
    ).toBe(true);
    // skopeo (containers/image, as kk) reads the Docker-list image converted to OCI, for the right arch
    const inspect = JSON.parse(
      (await sh('skopeo', ['inspect', `oci:${join(dir, 'images')}:docker.io/kubesphere/pause-docker:3.9-arm64`]))
        .stdout,
    );
    expect(inspect.Architecture).toBe('arm64');
    const want = fx.pauseDocker.images[1]?.layers.map((l) => l.descriptor.digest);
    expect(inspect.Layers).toEqual(want);
    // and pushes it; the layer digests that arrive equal the source's
    await sh('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${join(dir, 'images')}:docker.io/calico/node:v3.27.3-arm64`,
      `docker://${reg.host}/pushed/node:v3.27.3-arm64`,
    ]);
    const c = new RegistryClient(reg.host, { plainHTTP: true });
    const pushed = JSON.parse((await c.getManifest('pushed/node', 'v3.27.3-arm64')).bytes.toString());
    const src = JSON.parse((await c.getManifest('calico/node', 'v3.27.3')).bytes.toString());
    const arm = src.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === 'arm64');
    const srcArm = JSON.parse((await c.getManifest('calico/node', arm.digest)).bytes.toString());
    expect(pushed.layers.map((l: { digest: string }) => l.digest)).toEqual(
      srcArm.layers.map((l: { digest: string }) => l.digest),
    );
    // kk's push path: every index.json entry copied with containers/image to <registry>/<ns>/<name>:<tag>-<arch>
    for (const name of names as string[]) {
      const m = /^docker\.io\/(.+):([^:]+)$/.exec(name);
      await sh('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${join(dir, 'images')}:${name}`,
        `docker://${reg.host}/kk-push/${m?.[1]}:${m?.[2]}`,
      ]);
    }
    expect(await c.listTags('kk-push/kubesphere/pause-docker')).toEqual(['3.9-amd64', '3.9-arm64']);
    await c.close();
    const inv = JSON.parse(await readFile(join(dir, 'kko/inventory.json'), 'utf8'));
    expect(inv.images).toHaveLength(8);
    expect(inv.images[0].source.registry).toBe(reg.host);
  });

  it('a re-run fetches nothing and writes byte-identical output; --compress none is a plain tar', async () => {
    const dir = await setup('again', IMAGES);
    expect((await exportIn(dir)).code).toBe(0);
    const first = await readFile(join(dir, 'out.tar.gz'));
    const again = await exportIn(dir, '--force');
    expect(again.code).toBe(0);
    const done = events(again.stdout).find((e) => e.type === 'done');
    expect(done?.fetchedBytes).toBe(0);
    expect((await readFile(join(dir, 'out.tar.gz'))).equals(first)).toBe(true);
    const refused = await exportIn(dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--force');
    expect((await exportIn(dir, '--force', '--compress', 'none', '-o', 'out.tar')).code).toBe(0);
    const { stdout } = await sh('tar', ['tf', 'out.tar'], { cwd: dir });
    expect(stdout.split('\n').slice(0, 3)).toEqual(['kko/SHA256SUMS', 'kko/inventory.json', 'kko/manifest.json']);
  });

  it('refuses a single-arch image for another arch, and an index entry that lies about its arch', async () => {
    const dir = await setup('wrongarch', [
      'docker.io/kubesphere/kube-apiserver:v1.28.12',
      'docker.io/calico/lonely:v1',
      'docker.io/calico/cni:v3.27.3',
    ]);
    const r = await exportIn(dir, '--keep-going');
    expect(r.code).toBe(1);
    const failed = events(r.stdout).filter((e) => e.type === 'image-failed');
    expect(failed.map((e) => [e.ref, e.arch, e.code]).sort()).toEqual([
      ['docker.io/calico/lonely:v1', 'arm64', 'WRONG_PLATFORM'],
      ['docker.io/kubesphere/kube-apiserver:v1.28.12', 'arm64', 'WRONG_PLATFORM'],
    ]);
    expect(r.stderr).toMatch(/kube-apiserver:v1\.28\.12 \(arm64\)[\s\S]*single-platform image for linux\/amd64/);
    expect(r.stderr).toMatch(/lonely:v1 \(arm64\)[\s\S]*index entry claims it/);
    expect(r.stderr).toContain('nothing was written');
    await expect(readFile(join(dir, 'out.tar.gz'))).rejects.toThrow();
  });

  it('falls back from a failing mirror and a corrupt mirror to a healthy one, recording who served', async () => {
    proxy.clear();
    proxy.add({ path: '/v2/kubesphere/pause/manifests', times: Infinity, fault: { kind: 'status', status: 503 } });
    proxy.add({
      path: /\/v2\/calico\/node\/blobs\/sha256:/,
      method: 'GET',
      times: Infinity,
      fault: { kind: 'corrupt' },
    });
    const dir = await setup(
      'fallback',
      ['docker.io/kubesphere/pause:3.9', 'docker.io/calico/node:v3.27.3'],
      [proxy.host, reg.host],
    );
    const r = await exportIn(dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const done = events(r.stdout).filter((e) => e.type === 'image-done');
    expect(new Set(done.map((e) => e.source))).toEqual(
      new Set([`${reg.host}/kubesphere/pause:3.9`, `${reg.host}/calico/node:v3.27.3`]),
    );
    // the failing mirror was asked once per try (1 + 4 retries), shared by both arches, and not again for the layers
    expect(proxy.count({ method: 'GET', path: '/v2/kubesphere/pause/manifests' })).toBe(5);
    proxy.clear();
  });

  it('KKZONE=cn: a manifest in kk cn form pulls through its mirror chain (down → corrupt → healthy)', async () => {
    proxy.clear();
    proxy.add({ path: /\/blobs\/sha256:/, method: 'GET', times: Infinity, fault: { kind: 'corrupt' } });
    const dir = join(work.dir, 'cn');
    await mkdir(dir, { recursive: true });
    const created = await runCli(
      ['manifest', 'create', '--kk-version', 'v3.1.12', '--with-kubernetes', 'v1.28.12', '-o', 'full.yaml'],
      { cwd: dir, env: { KKZONE: 'cn' } },
    );
    expect(created.code).toBe(0);
    const full = await readFile(join(dir, 'full.yaml'), 'utf8');
    expect(full).toContain('registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9');
    // keep the two images the fixture registry holds, in their kk cn names
    await writeFile(
      join(dir, 'm.yaml'),
      manifest([
        'registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9',
        'registry.cn-beijing.aliyuncs.com/kubesphereio/node:v3.27.3',
      ]),
    );
    await writeFile(
      join(dir, 'mirrors.yaml'),
      `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
registries:
- prefix: registry.cn-beijing.aliyuncs.com
  mirrors:
  - {location: 127.0.0.1:9, plainHTTP: true}
  - {location: ${proxy.host}, plainHTTP: true}
  - {location: ${reg.host}, plainHTTP: true}
  upstream: false
`,
    );
    const r = await runCli(exportArgs('out.tar.gz', {}, '--json', '--retries', '0'), {
      cwd: dir,
      env: { HOME: dir, KKZONE: 'cn' },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const done = events(r.stdout).filter((e) => e.type === 'image-done');
    expect(done).toHaveLength(4);
    expect(new Set(done.map((e) => e.source))).toEqual(
      new Set([`${reg.host}/kubesphereio/pause:3.9`, `${reg.host}/kubesphereio/node:v3.27.3`]),
    );
    await sh('tar', ['xzf', 'out.tar.gz'], { cwd: dir });
    const names = JSON.parse(await readFile(join(dir, 'images/index.json'), 'utf8')).manifests.map(
      (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
    );
    expect(names).toContain('registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9-arm64');
    proxy.clear();
  });

  it('when every source fails, the error lists each source and why', async () => {
    proxy.clear();
    proxy.add({ path: '/v2/', times: Infinity, fault: { kind: 'status', status: 500 } });
    const dir = await setup('allfail', ['docker.io/kubesphere/pause:3.9'], [proxy.host, '127.0.0.1:9'], ['amd64']);
    const r = await exportIn(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /every source failed:\n {2}1\) 127\.0\.0\.1:\d+\/kubesphere\/pause:3\.9 \(mirror\): .*500[\s\S]*\n {2}2\) 127\.0\.0\.1:9\/kubesphere\/pause:3\.9 \(mirror\): /,
    );
    proxy.clear();
  });

  it('--dry-run prints the plan with sources in order, and touches no network', async () => {
    const dir = await setup('dry', ['docker.io/kubesphere/pause:3.9'], ['127.0.0.1:1', reg.host]);
    const r = await runCli(
      ['artifact', 'export', '-m', 'm.yaml', '--mirror-config', 'mirrors.yaml', '--dry-run', '--json'],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.images.map((i: { refName: string }) => i.refName)).toEqual([
      'docker.io/kubesphere/pause:3.9-amd64',
      'docker.io/kubesphere/pause:3.9-arm64',
    ]);
    expect(plan.images[0].sources.map((s: { registry: string }) => s.registry)).toEqual(['127.0.0.1:1', reg.host]);
  });
});

describe('kko precheck and manifest validate --online (real registry)', () => {
  it('reports each image × arch, the unique bytes and free disk; a wrong arch is a failure at its line', async () => {
    const dir = await setup('precheck', [
      'docker.io/kubesphere/pause:3.9',
      'docker.io/calico/node:v3.27.3',
      'docker.io/kubesphere/kube-apiserver:v1.28.12',
    ]);
    const r = await runCli(
      ['precheck', '-m', 'm.yaml', '--mirror-config', 'mirrors.yaml', '--cache', 'cache', '-o', 'out.tar.gz', '--json'],
      { cwd: dir, env: { HOME: dir } },
    );
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout);
    expect(
      rep.images
        .filter((i: { ok: boolean }) => !i.ok)
        .map((i: { ref: string; arch: string; code: string }) => [i.ref, i.arch, i.code]),
    ).toEqual([['docker.io/kubesphere/kube-apiserver:v1.28.12', 'arm64', 'WRONG_PLATFORM']]);
    // unique bytes: every config and layer of the five resolvable image×arch, shared base counted once
    const blobs = new Map<string, number>();
    const child = (idx: typeof fx.pause, arch: string) =>
      idx.images.find((i) => i.manifest.descriptor.platform?.architecture === arch);
    for (const img of [child(fx.pause, 'amd64'), child(fx.pause, 'arm64'), fx.apiserver])
      for (const b of [img!.config, ...img!.layers]) blobs.set(b.descriptor.digest, b.descriptor.size);
    expect(rep.totalBytes).toBeGreaterThan([...blobs.values()].reduce((a, b) => a + b, 0));
    expect(rep.disks[0].freeBytes).toBeGreaterThan(0);
    // nothing but configs was downloaded
    const cached = await import('node:fs/promises').then((fs) => fs.readdir(join(dir, 'cache/blobs/sha256')));
    expect(cached.length).toBeLessThanOrEqual(6);
    const v = await runCli(
      [
        'manifest',
        'validate',
        '-f',
        'm.yaml',
        '--online',
        '--mirror-config',
        'mirrors.yaml',
        '--cache',
        'cache',
        '--json',
        '--kk-version',
        'v3.1.12',
      ],
      { cwd: dir, env: { HOME: dir } },
    );
    const issues = JSON.parse(v.stdout).issues as Array<{ code: string; path?: string; line?: number }>;
    expect(issues.find((i) => i.code === 'WRONG_PLATFORM')).toMatchObject({ path: 'spec.images[2]', line: 9 });
    expect(issues.some((i) => i.code === 'SIZE_ESTIMATE')).toBe(true);
  });
});

describe('artifact output forms', () => {
  it('-o - streams the artifact to stdout (events on stderr); --compress zstd is read by tar --zstd', async () => {
    const { PassThrough } = await import('node:stream');
    const { main } = await import('../../src/cli/main.js');
    const dir = await setup('stdout', ['docker.io/kubesphere/pause:3.9'], [reg.host], ['amd64']);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    let err = '';
    const code = await main(
      ['artifact', 'export', '-m', 'm.yaml', '--mirror-config', 'mirrors.yaml', '--cache', 'cache', '-o', '-'],
      {
        stdout: () => {
          throw new Error('text on stdout would corrupt the archive');
        },
        stdoutStream: sink,
        stderr: (t) => (err += t),
        env: { HOME: dir, PATH: '' },
        cwd: dir,
        isTTY: false,
      },
    );
    expect(code).toBe(0);
    expect(err).toContain('"type":"done"');
    await writeFile(join(dir, 'piped.tar.gz'), Buffer.concat(chunks));
    const { stdout } = await sh('tar', ['tzf', 'piped.tar.gz'], { cwd: dir });
    expect(stdout.split('\n')[0]).toBe('kko/SHA256SUMS');
    expect((await exportIn(dir, '--compress', 'zstd', '-o', 'out.tar.zst')).code).toBe(0);
    const z = await sh('tar', ['--zstd', '-tf', 'out.tar.zst'], { cwd: dir });
    expect(z.stdout.split('\n').filter(Boolean).sort()).toEqual(stdout.split('\n').filter(Boolean).sort());
    const v = await runCli(['artifact', 'verify', 'out.tar.zst'], { cwd: dir });
    expect(v.code).toBe(0);
  });
});
