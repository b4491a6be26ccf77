import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

const create = (...args: string[]) => runCli(['manifest', 'create', '--kk-version', 'v3.1.12', ...args], { cwd: dir });

describe('kko manifest create', () => {
  it('writes a kk Manifest to stdout with classes and recorded choices', async () => {
    const r = await create('--with-kubernetes', 'v1.28.12');
    expect(r.code).toBe(0);
    const m = parse(r.stdout);
    expect(m.apiVersion).toBe('kubekey.kubesphere.io/v1alpha2');
    expect(m.kind).toBe('Manifest');
    expect(m.spec.images).toHaveLength(11);
    expect(m.spec.components).toEqual({
      helm: { version: 'v3.18.5' },
      cni: { version: 'v1.2.0' },
      etcd: { version: 'v3.5.24' },
      containerRuntimes: [{ type: 'containerd', version: '1.7.13' }], // kk create config's choice for ≥ v1.24
      crictl: { version: 'v1.29.0' },
      calicoctl: { version: 'v3.27.4' },
    });
    expect(m.spec.kko.cluster.containerManager).toBe('containerd');
    expect(m.spec.kko.kkVersion).toBe('v3.1.12');
    expect(m.spec.kko.imageClasses['docker.io/calico/node:v3.27.4']).toBe('network');
    expect(r.stdout).toContain('- docker.io/kubesphere/pause:3.9 # k8s-core');
  });

  it('is deterministic byte for byte', async () => {
    const args = [
      '--with-kubernetes',
      'v1.27.16,v1.28.12',
      '--arch',
      'amd64',
      '--arch',
      'arm64',
      '--with-kubesphere',
      'v3.4.1',
      '--ks-components',
      'core,devops',
    ];
    const a = await create(...args);
    const b = await create(...args);
    expect(a.code).toBe(2); // v1.27 is outside KubeSphere v3.4.1's range
    const ok = [
      '--with-kubernetes',
      'v1.25.16,v1.26.15',
      '--arch',
      'amd64,arm64',
      '--with-kubesphere',
      'v3.4.1',
      '--ks-components',
      'core,devops',
    ];
    const c = await create(...ok);
    const d = await create(...ok);
    expect(c.code).toBe(0);
    expect(c.stdout).toBe(d.stdout);
    expect(a.stderr).toContain('does not support Kubernetes v1.27.16');
    expect(b.stdout).toBe('');
  });

  it('KKZONE=cn and --zone cn switch every image to the cn mirror; the flag wins over the env', async () => {
    const env = await runCli(['manifest', 'create', '--kk-version', 'v3.1.12', '--with-kubernetes', 'v1.28.12'], {
      env: { KKZONE: 'cn' },
      cwd: dir,
    });
    const images: string[] = parse(env.stdout).spec.images;
    expect(images.every((i) => i.startsWith('registry.cn-beijing.aliyuncs.com/kubesphereio/'))).toBe(true);
    const flag = await runCli(
      ['manifest', 'create', '--kk-version', 'v3.1.12', '--with-kubernetes', 'v1.28.12', '--zone', 'default'],
      { env: { KKZONE: 'cn' }, cwd: dir },
    );
    expect(parse(flag.stdout).spec.images[0]).toBe('docker.io/kubesphere/pause:3.9');
    const bad = await runCli(['manifest', 'create', '--kk-version', 'v3.1.12', '--with-kubernetes', 'v1.28.12'], {
      env: { KKZONE: 'mars' },
      cwd: dir,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('KKZONE');
  });

  it('-o writes the file, refuses to overwrite without --force, and --force overwrites', async () => {
    const out = join(dir, 'm.yaml');
    expect((await create('--with-kubernetes', 'v1.28.12', '-o', out)).code).toBe(0);
    const first = await readFile(out, 'utf8');
    await writeFile(out, 'keep me');
    const again = await create('--with-kubernetes', 'v1.28.12', '-o', out);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/file exists[\s\S]*--force/);
    expect(await readFile(out, 'utf8')).toBe('keep me');
    expect((await create('--with-kubernetes', 'v1.28.12', '-o', out, '--force')).code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(first);
  });

  it('--with-registry adds the registry switches; --container-manager docker swaps the runtime', async () => {
    const m = parse(
      (await create('--with-kubernetes', 'v1.28.12', '--with-registry', '--container-manager', 'docker')).stdout,
    );
    expect(m.spec.components['docker-registry']).toEqual({ version: '2' });
    expect(m.spec.components.harbor).toEqual({ version: 'v2.10.2' });
    expect(m.spec.components['docker-compose']).toEqual({ version: 'v2.26.1' });
    expect(m.spec.components.containerRuntimes).toEqual([{ type: 'docker', version: '24.0.9' }]);
  });

  it.each([
    ['v1.23.17', 'docker', '24.0.9'],
    ['v1.24.17', 'containerd', '1.7.13'],
    ['v1.23.17,v1.28.12', 'containerd', '1.7.13'], // the newest version decides
  ])('the default container manager for %s is %s, as kk create config writes it', async (k8s, type, version) => {
    const m = parse((await create('--with-kubernetes', k8s)).stdout);
    expect(m.spec.components.containerRuntimes).toEqual([{ type, version }]);
    expect(m.spec.kko.cluster.containerManager).toBe(type);
  });

  it('accepts Kubernetes versions without the leading v, as kk does', async () => {
    const bare = await create('--with-kubernetes', '1.28.12');
    expect(bare.code).toBe(0);
    expect(bare.stdout).toBe((await create('--with-kubernetes', 'v1.28.12')).stdout);
  });

  it('without --kk-version assumes the newest release and says so on stderr', async () => {
    const r = await runCli(['manifest', 'create', '--with-kubernetes', 'v1.28.12'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/notice: targeting kk v3\.1\.12/);
  });

  it('uses the version of a kk found on PATH', async () => {
    const bin = join(dir, 'bin');
    await import('node:fs/promises').then((fs) => fs.mkdir(bin));
    await writeFile(
      join(bin, 'kk'),
      '#!/bin/sh\necho \'kk version: &version.Info{Major:"3", Minor:"1", GitVersion:"v3.1.5", GitCommit:"8347277"}\'\n',
      { mode: 0o755 },
    );
    const r = await runCli(['manifest', 'create', '--with-kubernetes', 'v1.28.12'], {
      cwd: dir,
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(r.code).toBe(0);
    expect(parse(r.stdout).spec.kko.kkVersion).toBe('v3.1.5');
    expect(r.stderr).toContain('kk v3.1.5 (the kk found on PATH)');
  });

  it('accepts the --without-kubesphare spelling', async () => {
    const r = await create('--with-kubernetes', 'v1.28.12', '--without-kubesphare');
    expect(r.code).toBe(0);
    expect(parse(r.stdout).spec.kko.addons).toEqual([]);
  });

  it.each([
    [['--with-kubernetes', 'v1.28.99'], /not supported by kk v3\.1\.12[\s\S]*nearest supported: .*v1\.28\.15/],
    [['--with-kubernetes', 'v1.28.12', '--cni', 'weave'], /--cni: unknown value "weave"[\s\S]*calico/],
    [['--with-kubernetes', 'v1.28.12', '--arch', 'ppc64le'], /--arch: unknown value/],
    [['--with-kubernetes', 'v1.28.12', '--arch', ''], /--arch: unknown value ""/],
    [['--with-kubernetes', 'v1.28.12', '--cni', 'multus'], /multus runs on top/],
    [['--with-kubernetes', 'v1.28.12', '--cni', 'calico,cilium'], /one CNI plugin/],
    [['--with-kubernetes', 'v1.28.12', '--with-kubesphere', '--without-kubesphere'], /contradict/],
    [['--with-kubernetes', 'v1.28.12', '--ks-components', 'devops'], /needs --with-kubesphere/],
    [['--with-kubernetes', 'v1.28.12', '--with-kata', '--container-manager', 'docker'], /containerd/],
    [['--with-kubernetes', 'v1.23.17', '--with-kata'], /containerd/],
    [['--with-kubernetes', 'v1.28.12', '--cni', 'flannel', '--calico-typha'], /--calico-typha needs --cni calico/],
    [['--with-kubernetes', 'v1.26.15', '--with-kubesphere', 'v9.9.9'], /unknown kubesphere version "v9\.9\.9"/],
    [
      ['--with-kubernetes', 'v1.26.15', '--with-kubesphere', 'v3.4.1', '--ks-components', 'core,bogus'],
      /group "bogus"/,
    ],
    [['--with-kubernetes', 'v1.28.12', '--kk-version', 'v2.0.0'], /unknown KubeKey release/],
    [['--with-kubernetes', 'v1.28.12', '--name', 'Bad Name'], /--name/],
    [['--with-kubernetes', 'v1.28.12', '--addon', 'nope'], /NAME@VERSION/],
    [['--with-kubernetes', 'v1.28.12', '--addon', 'ghost@v1'], /unknown add-on component "ghost"/],
    [[], /--with-kubernetes is required/],
    [['--with-kubernetes', 'v1.28.12', '--bogus-flag'], /unknown option/],
  ])('bad input %j → exit 2, clear message, no file written', async (args, message) => {
    const r = await runCli(['manifest', 'create', ...args, '-o', join(dir, 'out.yaml')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('--split and merge', () => {
  it('writes valid layered manifests that merge back byte for byte', async () => {
    const args = [
      '--with-kubernetes',
      'v1.26.15',
      '--lb',
      'haproxy',
      '--with-kubesphere',
      'v3.4.1',
      '--arch',
      'amd64,arm64',
    ];
    const whole = await create(...args);
    const split = await create(...args, '--split', 'layers');
    expect(split.code).toBe(0);
    const files = (await readdir(join(dir, 'layers'))).sort();
    expect(files).toEqual([
      'addon-ks.yaml',
      'addon-lb.yaml',
      'addon-network.yaml',
      'addon-storage.yaml',
      'base-k8s.yaml',
    ]);
    for (const f of files) {
      const v = await runCli(
        ['manifest', 'validate', '-f', join(dir, 'layers', f), '--kk-version', 'v3.1.12', '--json'],
        { cwd: dir },
      );
      const schemaErrors = JSON.parse(v.stdout).issues.filter((i: { code: string }) =>
        ['SCHEMA', 'YAML_SYNTAX', 'IMAGE_NAME'].includes(i.code),
      );
      expect(schemaErrors).toEqual([]);
    }
    const base = parse(await readFile(join(dir, 'layers', 'base-k8s.yaml'), 'utf8'));
    expect(Object.keys(base.spec.components)).toContain('etcd');
    const network = parse(await readFile(join(dir, 'layers', 'addon-network.yaml'), 'utf8'));
    expect(network.spec.images.every((i: string) => i.includes('/calico/'))).toBe(true);
    const merged = await runCli(['manifest', 'merge', ...files.reverse().map((f) => join('layers', f))], { cwd: dir });
    expect(merged.code).toBe(0);
    expect(merged.stdout).toBe(whole.stdout);
  });

  it('the layers together validate clean; one layer alone reports what is missing', async () => {
    await create('--with-kubernetes', 'v1.28.12', '--split', 'l');
    const all = await runCli(['manifest', 'validate', '-f', 'l/base-k8s.yaml', '-f', 'l/addon-network.yaml'], {
      cwd: dir,
    });
    expect(all.code).toBe(0);
    const alone = await runCli(['manifest', 'validate', '-f', 'l/base-k8s.yaml', '--json'], { cwd: dir });
    expect(alone.code).toBe(2);
    const missing = JSON.parse(alone.stdout).issues.filter((i: { code: string }) => i.code === 'MISSING_IMAGE');
    expect(missing).toHaveLength(4);
  });

  it('merge refuses inputs that disagree on a component version', async () => {
    await create('--with-kubernetes', 'v1.28.12', '-o', 'a.yaml');
    await runCli(['manifest', 'create', '--kk-version', 'v3.1.5', '--with-kubernetes', 'v1.28.12', '-o', 'b.yaml'], {
      cwd: dir,
    });
    const r = await runCli(['manifest', 'merge', 'a.yaml', 'b.yaml', '-o', 'c.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/helm|etcd|different clusters/);
    expect((await readdir(dir)).sort()).toEqual(['a.yaml', 'b.yaml']);
  });
});

// What `kk create config --with-kubernetes v1.28.12 --with-kubesphere v3.4.1` writes, with choices changed.
const KK_CONFIG = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: sample
spec:
  hosts:
  - {name: node1, address: 172.16.0.2, internalAddress: 172.16.0.2, user: ubuntu, password: "x"}
  - {name: node2, address: 172.16.0.3, internalAddress: 172.16.0.3, user: ubuntu, password: "x", arch: arm64}
  roleGroups:
    etcd: [node1]
    control-plane: [node1]
    worker: [node1, node2]
    registry: [node1]
  controlPlaneEndpoint:
    internalLoadbalancer: haproxy
    domain: lb.kubesphere.local
    port: 6443
  kubernetes:
    version: 1.26.15
    containerManager: containerd
    nodelocaldns: false
    disableKubeProxy: true
    kata: {enabled: true}
    nodeFeatureDiscovery: {enabled: true}
  etcd:
    type: kubeadm
  network:
    plugin: calico
    multusCNI:
      enabled: true
  registry:
    type: harbor
    privateRegistry: ""
---
apiVersion: installer.kubesphere.io/v1alpha1
kind: ClusterConfiguration
metadata:
  name: ks-installer
  namespace: kubesphere-system
  labels:
    version: v3.4.1
spec:
  common:
    opensearch: {enabled: true, dashboard: {enabled: false}}
    es: {enabled: false}
  alerting: {enabled: false}
  devops: {enabled: true}
  logging: {enabled: true}
  events: {enabled: false}
  monitoring:
    grafana: {enabled: true}
`;

describe('manifest create --cluster', () => {
  it('takes every choice from the kk Cluster and the KubeSphere ClusterConfiguration', async () => {
    await writeFile(join(dir, 'config.yaml'), KK_CONFIG);
    const r = await create('--cluster', 'config.yaml');
    expect(r.code).toBe(0);
    const m = parse(r.stdout);
    expect(m.spec.kubernetesDistributions).toEqual([{ type: 'kubernetes', version: 'v1.26.15' }]);
    expect(m.spec.arches).toEqual(['amd64', 'arm64']);
    expect(m.spec.kko.cluster).toEqual({
      cni: ['calico', 'multus'],
      lb: 'haproxy',
      etcdType: 'kubeadm',
      containerManager: 'containerd',
      localStorage: true,
      nodelocaldns: false,
      kubeProxy: false,
      calicoTypha: false,
      kata: true,
      nfd: true,
      registry: true,
    });
    expect(m.spec.kko.addons).toEqual([
      { name: 'kubesphere', version: 'v3.4.1', groups: ['grafana', 'devops', 'logging', 'opensearch'] },
    ]);
    const images: string[] = m.spec.images;
    for (const want of [
      'kubesphere/multus-cni',
      'library/haproxy:',
      'kubesphere/etcd:',
      'kata-deploy',
      'node-feature-discovery',
      'grafana/grafana',
      'opensearchproject/opensearch:',
      'prom/prometheus',
      'ks-jenkins',
      'fluent-bit',
    ]) {
      expect(images.some((i) => i.includes(want))).toBe(true);
    }
    for (const absent of ['k8s-dns-node-cache', 'kube-proxy', 'thanos', 'kube-events', 'opensearch-dashboards'])
      expect(images.some((i) => i.includes(absent))).toBe(false);
    expect(m.spec.components.harbor).toBeDefined();
    expect(m.spec.components.containerRuntimes).toEqual([{ type: 'containerd', version: '1.7.13' }]);
  });

  it('flags override the file', async () => {
    await writeFile(join(dir, 'config.yaml'), KK_CONFIG.replace('nodelocaldns: false', 'nodelocaldns: true'));
    const r = await create(
      '--cluster',
      'config.yaml',
      '--arch',
      'amd64',
      '--lb',
      'kube-vip',
      '--no-nodelocaldns',
      '--without-kubesphere',
      '--with-kubernetes',
      'v1.28.12',
    );
    expect(r.code).toBe(0);
    const m = parse(r.stdout);
    expect(m.spec.arches).toEqual(['amd64']);
    expect(m.spec.kubernetesDistributions).toEqual([{ type: 'kubernetes', version: 'v1.28.12' }]);
    expect(m.spec.kko.cluster).toMatchObject({
      lb: 'kube-vip',
      nodelocaldns: false,
      kubeProxy: false,
      etcdType: 'kubeadm',
      kata: true,
      localStorage: false,
    });
    expect(m.spec.kko.addons).toEqual([]);
  });

  it('an empty containerManager is docker, as kk reads a Cluster config; an absent version is kk’s default', async () => {
    const text = KK_CONFIG.split('---')[0]!
      .replace('containerManager: containerd', 'containerManager: ""')
      .replace('    version: 1.26.15\n', '')
      .replace('    kata: {enabled: true}\n', '');
    await writeFile(join(dir, 'config.yaml'), text);
    const m = parse((await create('--cluster', 'config.yaml')).stdout);
    expect(m.spec.components.containerRuntimes).toEqual([{ type: 'docker', version: '24.0.9' }]);
    expect(m.spec.kubernetesDistributions).toEqual([{ type: 'kubernetes', version: 'v1.23.17' }]);
    expect(m.spec.kko.cluster.localStorage).toBe(false);
  });

  it('a value kko cannot package is an input error naming the field', async () => {
    await writeFile(
      join(dir, 'config.yaml'),
      KK_CONFIG.replace('containerManager: containerd', 'containerManager: crio'),
    );
    const r = await create('--cluster', 'config.yaml', '-o', 'out.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config\.yaml.*spec\.kubernetes\.containerManager.*"crio"/);
    expect((await readdir(dir)).sort()).toEqual(['config.yaml']);
  });
});

describe('KubeSphere groups', () => {
  it('--ks-components core,devops keeps monitoring (ks-installer always installs it) and stays lean', async () => {
    const m = parse(
      (await create('--with-kubernetes', 'v1.26.15', '--with-kubesphere', 'v3.4.1', '--ks-components', 'core,devops'))
        .stdout,
    );
    const images: string[] = m.spec.images;
    expect(images.filter((i) => m.spec.kko.imageClasses[i] === 'kubesphere-monitoring')).toHaveLength(10);
    expect(images.some((i) => /grafana|thanos|opensearch/.test(i))).toBe(false);
  });
});

it('counts ./kk in the working directory as the installed kk (where kk’s installer puts it)', async () => {
  await writeFile(
    join(dir, 'kk'),
    '#!/bin/sh\necho \'kk version: &version.Info{Major:"3", Minor:"1", GitVersion:"v3.1.7", GitCommit:"x"}\'\n',
    { mode: 0o755 },
  );
  const r = await runCli(['manifest', 'create', '--with-kubernetes', 'v1.28.12'], {
    cwd: dir,
    env: { PATH: '/usr/bin:/bin' },
  });
  expect(r.code).toBe(0);
  expect(parse(r.stdout).spec.kko.kkVersion).toBe('v3.1.7');
  expect(r.stderr).toContain('kk v3.1.7 (the kk found in the working directory)');
});
