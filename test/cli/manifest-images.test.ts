import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, tempDir } from './run-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

describe('kko manifest images', () => {
  it('prints CLASS REF lines for a kko manifest', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.28.12',
        '--lb',
        'haproxy',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    const r = await runCli(['manifest', 'images', '-f', 'm.yaml'], { cwd: dir });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toMatch(/^k8s-core\s+docker\.io\/kubesphere\/pause:3\.9$/);
    expect(lines.at(-1)).toMatch(/^load-balancer\s+docker\.io\/library\/haproxy:2\.9\.6-alpine$/);
  });

  it('infers classes for a kk manifest from the catalog', async () => {
    const r = await runCli(
      ['manifest', 'images', '-f', join(FIXTURES, 'manifests/kk-v3.1.5-with-registry.yaml'), '--json'],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ ref: string; class: string }>;
    expect(rows).toHaveLength(25);
    const byRef = Object.fromEntries(rows.map((x) => [x.ref, x.class]));
    expect(byRef['docker.io/kubesphere/kube-apiserver:v1.28.12']).toBe('k8s-core');
    expect(byRef['docker.io/cilium/operator-generic:v1.15.3']).toBe('network');
    expect(byRef['docker.io/openebs/linux-utils:3.3.0']).toBe('storage');
    expect(byRef['docker.io/kubesphere/kata-deploy:stable']).toBe('kata');
    expect(new Set(rows.map((x) => x.class)).has('unknown')).toBe(false);
  });

  it('classes by the full repository: look-alike names elsewhere are user images', async () => {
    const text = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: m}
spec:
  arches: [amd64]
  images:
  - docker.io/mycorp/node:18
  - quay.io/myteam/redis:7
  - registry.example.com/apps/etcd:3
  - docker.io/library/nginx:1.25
  - docker.io/calico/node:v3.27.4
  - registry.cn-beijing.aliyuncs.com/kubesphereio/kube-apiserver:v1.28.12
`;
    await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'm.yaml'), text));
    const r = await runCli(['manifest', 'images', '-f', 'm.yaml', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Array<{ class: string }>).map((x) => x.class)).toEqual([
      'user',
      'user',
      'user',
      'user',
      'network',
      'k8s-core',
    ]);
  });

  it('rejects a malformed manifest with exit 2', async () => {
    const r = await runCli(['manifest', 'images', '-f', join(FIXTURES, 'addons-bad/broken.yaml')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:1:\d+: error: apiVersion/);
  });
});

describe('kko manifest diff', () => {
  it('reports added, removed and changed images and binaries', async () => {
    await runCli(['manifest', 'create', '--kk-version', 'v3.1.5', '--with-kubernetes', 'v1.27.16', '-o', 'old.yaml'], {
      cwd: dir,
    });
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.5',
        '--with-kubernetes',
        'v1.28.12',
        '--lb',
        'haproxy',
        '--no-nodelocaldns',
        '-o',
        'new.yaml',
      ],
      { cwd: dir },
    );
    const r = await runCli(['manifest', 'diff', 'old.yaml', 'new.yaml', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const changes = JSON.parse(r.stdout) as Array<{
      kind: string;
      change: string;
      name: string;
      from?: string;
      to?: string;
    }>;
    expect(changes).toContainEqual({
      kind: 'image',
      change: 'changed',
      name: 'docker.io/kubesphere/kube-apiserver',
      from: 'v1.27.16',
      to: 'v1.28.12',
    });
    expect(changes).toContainEqual({
      kind: 'image',
      change: 'added',
      name: 'docker.io/library/haproxy',
      to: '2.9.6-alpine',
    });
    expect(changes).toContainEqual({
      kind: 'image',
      change: 'removed',
      name: 'docker.io/kubesphere/k8s-dns-node-cache',
      from: '1.22.20',
    });
    expect(changes).toContainEqual({
      kind: 'binary',
      change: 'changed',
      name: 'kubeadm/amd64',
      from: 'v1.27.16',
      to: 'v1.28.12',
    });
    expect(changes.filter((c) => c.name.startsWith('docker.io/calico'))).toEqual([]);
    const human = await runCli(['manifest', 'diff', 'old.yaml', 'new.yaml'], { cwd: dir });
    expect(human.stdout).toContain('~ image  docker.io/kubesphere/kube-apiserver v1.27.16 -> v1.28.12');
    expect(human.stdout).toContain('+ image  docker.io/library/haproxy 2.9.6-alpine');
  });

  it('identical manifests have no differences', async () => {
    await runCli(['manifest', 'create', '--kk-version', 'v3.1.5', '--with-kubernetes', 'v1.28.12', '-o', 'a.yaml'], {
      cwd: dir,
    });
    const r = await runCli(['manifest', 'diff', 'a.yaml', 'a.yaml'], { cwd: dir });
    expect(r.stdout).toBe('no differences in images or binaries\n');
  });
});

describe('user add-on descriptors (--catalog-dir / KKO_CATALOG_DIR)', () => {
  const addons = join(FIXTURES, 'addons');

  it('show up in create, images and validate', async () => {
    const c = await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.28.12',
        '--catalog-dir',
        addons,
        '--addon',
        'my-addon@v1.0.0',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    expect(c.code).toBe(0);
    const img = await runCli(['manifest', 'images', '-f', 'm.yaml', '--json'], {
      cwd: dir,
      env: { KKO_CATALOG_DIR: addons },
    });
    const rows = JSON.parse(img.stdout) as Array<{ ref: string; class: string }>;
    expect(rows.filter((r) => r.class === 'ingress').map((r) => r.ref)).toEqual([
      'registry.example.com/acme/ingress-controller:v1.0.0',
      'docker.io/acme/default-backend:1.4',
    ]);
    expect(rows.some((r) => r.class === 'ingress-extras')).toBe(false);
    const v = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--json'], {
      cwd: dir,
      env: { KKO_CATALOG_DIR: addons },
    });
    expect(v.code).toBe(0);
    const split = await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.28.12',
        '--catalog-dir',
        addons,
        '--addon',
        'my-addon@v1.0.0:extras',
        '--split',
        'l',
      ],
      { cwd: dir },
    );
    expect(split.code).toBe(0);
    const layer = parse(
      await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'l', 'addon-my-addon.yaml'), 'utf8')),
    );
    expect(layer.spec.images).toEqual([
      'registry.example.com/acme/ingress-controller:v1.0.0',
      'docker.io/acme/default-backend:1.4',
      'docker.io/acme/dashboard:v1.0.0',
    ]);
  });

  it('validate without the descriptor flags the add-on as unknown; removing its image is caught with it', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.28.12',
        '--catalog-dir',
        addons,
        '--addon',
        'my-addon@v1.0.0',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    const without = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--json'], { cwd: dir });
    expect(without.code).toBe(2);
    expect(JSON.parse(without.stdout).issues.map((i: { code: string }) => i.code)).toContain('UNKNOWN_VERSION');
  });

  it('respects its Kubernetes range', async () => {
    const r = await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.31.0',
        '--catalog-dir',
        addons,
        '--addon',
        'my-addon@v1.0.0',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('my-addon v1.0.0 does not support Kubernetes v1.31.0');
  });

  it('a malformed descriptor is rejected with file:line:col for each problem', async () => {
    const r = await runCli(
      ['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--catalog-dir', join(FIXTURES, 'addons-bad')],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:4:9: error: metadata\.name: lower-case/);
    expect(r.stderr).toMatch(/broken\.yaml:11:7: error: spec\.versions\[0\]\.groups\[0\]\.imagez: unknown field/);
    expect(r.stderr).toContain('the catalog has 2 error(s)');
  });

  it('a missing --catalog-dir is an input error', async () => {
    const r = await runCli(
      ['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--catalog-dir', join(dir, 'nope')],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such directory');
  });
});
