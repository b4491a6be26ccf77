import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, tempDir } from './run-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

type JsonIssue = {
  severity: string;
  code: string;
  path?: string;
  file?: string;
  line?: number;
  col?: number;
  message: string;
};
const validate = async (args: string[]) => {
  const r = await runCli(['manifest', 'validate', ...args, '--json'], { cwd: dir });
  return {
    ...r,
    json: JSON.parse(r.stdout || '{}') as {
      valid: boolean;
      issues: JsonIssue[];
      kkVersion: string | null;
      choices: string | null;
    },
  };
};
const write = async (name: string, text: string | Uint8Array) => {
  await writeFile(join(dir, name), text);
  return join(dir, name);
};

const GOOD = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata:
  name: sample
spec:
  arches: [amd64]
  kubernetesDistributions:
  - {type: kubernetes, version: v1.28.12}
  components:
    helm: {version: v3.14.3}
    cni: {version: v1.2.0}
    etcd: {version: v3.5.13}
    containerRuntimes:
    - {type: containerd, version: 1.7.13}
    crictl: {version: v1.29.0}
    calicoctl: {version: v3.27.3}
  images:
  - docker.io/kubesphere/pause:3.9
  - docker.io/kubesphere/kube-apiserver:v1.28.12
  - docker.io/kubesphere/kube-controller-manager:v1.28.12
  - docker.io/kubesphere/kube-scheduler:v1.28.12
  - docker.io/kubesphere/kube-proxy:v1.28.12
  - docker.io/coredns/coredns:1.9.3
  - docker.io/kubesphere/k8s-dns-node-cache:1.22.20
  - docker.io/calico/kube-controllers:v3.27.3
  - docker.io/calico/cni:v3.27.3
  - docker.io/calico/node:v3.27.3
  - docker.io/calico/pod2daemon-flexvol:v3.27.3
`;

describe('kko manifest validate', () => {
  it('the manifest kk v3.1.5 writes (kubekey.md §1.2) loads and validates against v3.1.5', async () => {
    const r = await validate([
      '-f',
      join(FIXTURES, 'manifests/kk-v3.1.5-with-registry.yaml'),
      '--kk-version',
      'v3.1.5',
    ]);
    expect(r.code).toBe(0);
    expect(r.json.valid).toBe(true);
    expect(r.json.choices).toBe('inferred');
    expect(r.json.issues.filter((i) => i.severity !== 'info')).toEqual([]);
  });

  it('the kk docs example (old component versions) fails with one error per stale component and each missing image', async () => {
    const r = await validate([
      '-f',
      join(FIXTURES, 'manifests/kk-docs-quickstart-v1.21.5.yaml'),
      '--kk-version',
      'v3.1.5',
    ]);
    expect(r.code).toBe(2);
    const versions = r.json.issues.filter((i) => i.code === 'COMPONENT_VERSION').map((i) => i.path);
    expect(versions).toEqual([
      'spec.components.helm.version',
      'spec.components.cni.version',
      'spec.components.etcd.version',
      'spec.components.calicoctl.version',
      'spec.components.containerRuntimes[0].version',
      'spec.components.crictl.version',
    ]);
    const helm = r.json.issues.find((i) => i.path === 'spec.components.helm.version');
    expect([helm?.line, helm?.col]).toEqual([32, 16]);
    expect(r.json.issues.filter((i) => i.code === 'MISSING_IMAGE').map((i) => i.message.split(' ')[2])).toEqual([
      'docker.io/calico/cni:v3.27.3',
      'docker.io/calico/kube-controllers:v3.27.3',
      'docker.io/calico/node:v3.27.3',
      'docker.io/calico/pod2daemon-flexvol:v3.27.3',
      'docker.io/kubesphere/k8s-dns-node-cache:1.22.20',
    ]);
  });

  it('a kko-written manifest validates clean against its recorded choices', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.8',
        '--with-kubernetes',
        'v1.30.4',
        '--cni',
        'cilium',
        '--lb',
        'kube-vip',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    const r = await validate(['-f', 'm.yaml']);
    expect(r.code).toBe(0);
    expect(r.json.kkVersion).toBe('v3.1.8');
    expect(r.json.choices).toBe('recorded');
    expect(r.json.issues).toEqual([]);
  });

  it('--cluster: completeness against a kk cluster config (haproxy, containerd)', async () => {
    const f = await write('m.yaml', GOOD);
    const r = await validate([
      '-f',
      f,
      '--kk-version',
      'v3.1.5',
      '--cluster',
      join(FIXTURES, 'manifests/kk-cluster-config.yaml'),
    ]);
    expect(r.code).toBe(2);
    expect(r.json.choices).toBe('cluster');
    const missing = r.json.issues.filter((i) => i.code === 'MISSING_IMAGE').map((i) => i.message.split(' ')[2]);
    expect(missing).toEqual(['docker.io/library/haproxy:2.9.6-alpine']);
  });

  it('Kubernetes 1.28.12 without the v reads as v1.28.12, with a note at its line', async () => {
    const r = await validate([
      '-f',
      await write('m.yaml', GOOD.replace('version: v1.28.12}', 'version: 1.28.12}')),
      '--kk-version',
      'v3.1.5',
    ]);
    expect(r.code).toBe(0);
    expect(r.json.issues.filter((i) => i.code === 'UNKNOWN_VERSION')).toEqual([]);
    expect(r.json.issues.filter((i) => i.code === 'VERSION_PREFIX').map((i) => [i.severity, i.path, i.line])).toEqual([
      ['info', 'spec.kubernetesDistributions[0].version', 8],
    ]);
  });

  it('KubeSphere monitoring is required: a manifest without it fails even with --ks-components core,devops', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.26.15',
        '--with-kubesphere',
        'v3.4.1',
        '--ks-components',
        'core,devops',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    const text = (await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'm.yaml'), 'utf8')))
      .split('\n')
      .filter((l) => !l.includes('# kubesphere-monitoring'))
      .join('\n');
    const r = await validate(['-f', await write('lean.yaml', text)]);
    expect(r.code).toBe(2);
    const missing = r.json.issues.filter((i) => i.code === 'MISSING_IMAGE').map((i) => i.message.split(' ')[2]);
    expect(missing).toHaveLength(10);
    expect(missing).toContain('docker.io/prom/prometheus:v2.39.1');
  });

  it('--cluster with a ClusterConfiguration: its switches decide the KubeSphere groups', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.26.15',
        '--with-kubesphere',
        'v3.4.1',
        '-o',
        'm.yaml',
      ],
      { cwd: dir },
    );
    const config = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: sample}
spec:
  hosts: [{name: node1, address: 10.0.0.2}]
  roleGroups: {etcd: [node1], control-plane: [node1], worker: [node1]}
  kubernetes: {version: v1.26.15, containerManager: containerd}
---
apiVersion: installer.kubesphere.io/v1alpha1
kind: ClusterConfiguration
metadata: {name: ks-installer, labels: {version: v3.4.1}}
spec:
  alerting: {enabled: true}
  monitoring: {grafana: {enabled: false}}
`;
    const r = await validate(['-f', 'm.yaml', '--cluster', await write('config.yaml', config)]);
    expect(r.json.issues.filter((i) => i.code === 'MISSING_IMAGE').map((i) => i.message.split(' ')[2])).toEqual([
      'docker.io/thanosio/thanos:v0.31.0',
    ]);
  });

  it('reports kk rule violations with positions: short names, digests, arches, runtimes, duplicates, mixed distributions', async () => {
    const bad = GOOD.replace('arches: [amd64]', 'arches: [amd64, s390x]')
      .replace(
        '  - docker.io/kubesphere/pause:3.9\n',
        '  - docker.io/kubesphere/pause:3.9\n  - redis:5\n  - docker.io/library/nginx@sha256:' +
          'a'.repeat(64) +
          '\n  - docker.io/kubesphere/pause:3.9\n',
      )
      .replace('- {type: containerd, version: 1.7.13}', '- {type: crio, version: 1.7.13}')
      .replace(
        '  - {type: kubernetes, version: v1.28.12}\n',
        '  - {type: kubernetes, version: v1.28.12}\n  - {type: k3s, version: v1.24.7}\n',
      );
    const r = await validate(['-f', await write('bad.yaml', bad), '--kk-version', 'v3.1.5']);
    expect(r.code).toBe(2);
    const by = (code: string) => r.json.issues.filter((i) => i.code === code);
    expect(by('IMAGE_NAME').map((i) => [i.path, i.line])).toEqual([
      ['spec.images[1]', 20],
      ['spec.images[2]', 21],
    ]);
    expect(by('DUPLICATE_IMAGE').map((i) => [i.severity, i.path])).toEqual([['warning', 'spec.images[3]']]);
    expect(by('ARCH').map((i) => [i.path, i.line, i.col])).toEqual([['spec.arches[1]', 6, 19]]);
    expect(by('RUNTIME').map((i) => i.path)).toEqual(['spec.components.containerRuntimes[0].type']);
    expect(by('DISTRIBUTION_TYPES')).toHaveLength(1);
  });

  it('unknown Kubernetes version names the nearest supported ones', async () => {
    const r = await validate([
      '-f',
      await write('m.yaml', GOOD.replaceAll('v1.28.12', 'v1.28.13')),
      '--kk-version',
      'v3.1.5',
    ]);
    const issue = r.json.issues.find((i) => i.code === 'UNKNOWN_VERSION');
    expect(issue?.path).toBe('spec.kubernetesDistributions[0].version');
    const human = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--kk-version', 'v3.1.5'], { cwd: dir });
    expect(human.stderr).toMatch(/nearest supported: v1\.28\.10, v1\.28\.11, v1\.28\.12/);
  });

  it.each([
    ['bad YAML', 'apiVersion: x\n  bad: [\n', 'YAML_SYNTAX', undefined],
    [
      'wrong apiVersion and kind',
      GOOD.replace('kubekey.kubesphere.io/v1alpha2', 'v1').replace('kind: Manifest', 'kind: Cluster'),
      'SCHEMA',
      'apiVersion',
    ],
    [
      'a number where kk wants a string',
      GOOD.replace('helm: {version: v3.14.3}', 'helm: {version: 3}'),
      'SCHEMA',
      'spec.components.helm.version',
    ],
    ['images not a list', GOOD.replace(/ {2}images:[\s\S]*$/, '  images: docker.io/a/b:1\n'), 'SCHEMA', 'spec.images'],
    ['empty file', '', 'SCHEMA', undefined],
    ['two documents', `${GOOD}---\n${GOOD}`, 'SCHEMA', undefined],
  ])('%s → exit 2 with a positioned issue', async (_name, text, code, path) => {
    const r = await validate(['-f', await write('m.yaml', text)]);
    expect(r.code).toBe(2);
    const issue = r.json.issues.find((i) => i.code === code && i.severity === 'error');
    expect(issue).toBeDefined();
    if (path) expect(issue?.path).toBe(path);
    expect(issue?.file).toBe(join(dir, 'm.yaml'));
    expect(issue?.line).toBeGreaterThan(0);
  });

  it('says "expected a string, got number" for a wrong type and "missing" only for a missing field', async () => {
    const text = GOOD.replace('cni: {version: v1.2.0}', 'cni: {version: 1.2}').replace(
      'helm: {version: v3.14.3}',
      'helm: {}',
    );
    const r = await validate(['-f', await write('m.yaml', text)]);
    const by = (path: string) => r.json.issues.find((i) => i.path === path && i.code === 'SCHEMA')?.message;
    expect(by('spec.components.cni.version')).toBe('expected a string, got number (quote it: "1.2")');
    expect(by('spec.components.helm.version')).toBe('required field is missing (expected string)');
  });

  it('collects every problem, not only the first', async () => {
    const text = GOOD.replace('helm: {version: v3.14.3}', 'helm: {version: 3}')
      .replace('cni: {version: v1.2.0}', 'cni: {version: 1.2}')
      .replace('name: sample', 'name: 7');
    const r = await validate(['-f', await write('m.yaml', text)]);
    expect(
      r.json.issues
        .filter((i) => i.code === 'SCHEMA')
        .map((i) => i.path)
        .sort(),
    ).toEqual(['metadata.name', 'spec.components.cni.version', 'spec.components.helm.version']);
  });

  it('unknown fields are warnings (kk ignores them) with a position', async () => {
    const r = await validate([
      '-f',
      await write('m.yaml', GOOD.replace('  images:', '  imagez: []\n  images:')),
      '--kk-version',
      'v3.1.5',
    ]);
    expect(r.code).toBe(0);
    const w = r.json.issues.find((i) => i.code === 'UNKNOWN_FIELD');
    expect(w).toMatchObject({ severity: 'warning', path: 'spec.imagez', line: 17, col: 3 });
  });

  it.each([
    ['missing file', async () => join(dir, 'nope.yaml'), /no such file/],
    [
      'a directory',
      async () => {
        await mkdir(join(dir, 'd'));
        return join(dir, 'd');
      },
      /is a directory/,
    ],
    [
      'binary garbage',
      async () => write('g.yaml', Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3])),
      /binary content/,
    ],
    ['invalid UTF-8', async () => write('u.yaml', Uint8Array.from([0x61, 0x3a, 0x20, 0xff, 0xfe])), /not valid UTF-8/],
    ['a huge file', async () => write('h.yaml', 'a'.repeat(17 * 1024 * 1024)), /larger than the/],
  ])('%s → exit 2, one clear message, no stack trace', async (_n, make, message) => {
    const f = await make();
    const r = await runCli(['manifest', 'validate', '-f', f], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(f);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('KubeSphere on an unsupported Kubernetes is an error (recorded add-on)', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.26.15',
        '--with-kubesphere',
        'v3.4.1',
        '-o',
        'ks.yaml',
      ],
      { cwd: dir },
    );
    const { readFile } = await import('node:fs/promises');
    const text = (await readFile(join(dir, 'ks.yaml'), 'utf8')).replaceAll('v1.26.15', 'v1.28.12');
    const r = await validate(['-f', await write('ks2.yaml', text)]);
    expect(r.code).toBe(2);
    expect(r.json.issues.map((i) => i.code)).toContain('INCOMPATIBLE');
  });

  it('an unknown add-on is reported once, at its spec.kko.addons[i] entry (file:line:col)', async () => {
    await runCli(
      [
        'manifest',
        'create',
        '--kk-version',
        'v3.1.12',
        '--with-kubernetes',
        'v1.26.15',
        '--with-kubesphere',
        'v3.4.1',
        '-o',
        'ks.yaml',
      ],
      { cwd: dir },
    );
    const { readFile } = await import('node:fs/promises');
    const text = (await readFile(join(dir, 'ks.yaml'), 'utf8')).replace(/name: kubesphere\b/, 'name: ghost');
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('name: ghost')) + 1;
    expect(line).toBeGreaterThan(0);
    const file = await write('ghost.yaml', text);
    const r = await validate(['-f', file]);
    expect(r.code).toBe(2);
    const unknown = r.json.issues.filter((i) => i.message.includes('unknown add-on component "ghost"'));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({ path: 'spec.kko.addons[0]', file });
    expect(unknown[0]?.line).toBe(line);
    const plain = await runCli(['manifest', 'validate', '-f', file], { cwd: dir });
    expect(plain.stderr).toContain(`${file}:${line}:`);
  });
});

describe('ISO checksums', () => {
  it('warns when an ISO has a url or localPath but no checksum', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const text = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: s}
spec:
  arches: [amd64]
  operatingSystems:
  - arch: amd64
    id: ubuntu
    version: "22.04"
    repository:
      iso: {url: "https://github.com/kubesphere/kubekey/releases/download/v3.1.5/ubuntu-22.04-debs-amd64.iso"}
  - arch: amd64
    id: centos
    version: "7"
    repository:
      iso: {localPath: ./centos.iso, checksum: "${'a'.repeat(64)}"}
  images: []
`;
      await writeFile(join(dir, 'm.yaml'), text);
      const r = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--kk-version', 'v3.1.5', '--json'], {
        cwd: dir,
      });
      const issues = JSON.parse(r.stdout).issues.filter((i: { code: string }) => i.code === 'ISO_NO_CHECKSUM');
      expect(issues.map((i: { path: string; line: number; severity: string }) => [i.path, i.line, i.severity])).toEqual(
        [['spec.operatingSystems[0].repository.iso', 11, 'warning']],
      );
    } finally {
      await cleanup();
    }
  });
});

describe('push vs pull names with a private registry (kubekey#1954)', () => {
  const cluster = (override: string) => `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: s}
spec:
  hosts: [{name: n1, address: 10.0.0.2}]
  roleGroups: {control-plane: [n1], worker: [n1], etcd: [n1]}
  kubernetes: {version: v1.28.12, containerManager: docker}
  network: {plugin: calico}
  registry: {privateRegistry: dockerhub.kubekey.local, namespaceOverride: "${override}"}
`;
  it.each([
    ['cn refs, no override, kk v3.1.12', 'cn', '', 'v3.1.12', 11],
    ['cn refs, override kubesphereio, kk v3.1.12', 'cn', 'kubesphereio', 'v3.1.12', 0],
    [
      'docker.io refs, override kubesphereio, kk v3.1.12 (override ignored on push)',
      'default',
      'kubesphereio',
      'v3.1.12',
      11,
    ],
    [
      'docker.io refs, override kubesphereio, kk v3.1.5 (override applied on push)',
      'default',
      'kubesphereio',
      'v3.1.5',
      0,
    ],
    ['docker.io refs, no override', 'default', '', 'v3.1.12', 0],
  ])('%s → %i mismatches', async (_name, zone, override, kk, count) => {
    const { dir, cleanup } = await tempDir();
    try {
      const c = await runCli(
        ['manifest', 'create', '--kk-version', kk, '--with-kubernetes', 'v1.28.12', '--zone', zone, '-o', 'm.yaml'],
        { cwd: dir },
      );
      expect(c.code).toBe(0);
      await writeFile(join(dir, 'cluster.yaml'), cluster(override));
      const r = await runCli(['manifest', 'validate', '-f', 'm.yaml', '--cluster', 'cluster.yaml', '--json'], {
        cwd: dir,
      });
      const issues = JSON.parse(r.stdout).issues.filter((i: { code: string }) => i.code === 'PUSH_PULL_MISMATCH');
      expect(issues).toHaveLength(count);
      if (count > 0)
        expect(issues[0].message).toMatch(
          /pushes .* as dockerhub\.kubekey\.local\/\S+ but nodes will pull dockerhub\.kubekey\.local\//,
        );
    } finally {
      await cleanup();
    }
  });
});
