import { describe, expect, it } from 'vitest';
import { loadCatalog } from './load.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

describe('built-in catalog', () => {
  it('loads all kk profiles with their Kubernetes version counts (kubekey.md §5.4)', async () => {
    const catalog = await loadCatalog();
    const counts = Object.fromEntries(catalog.kkVersions.map((v) => [v, catalog.kubernetesVersions(catalog.profile(v)).length]));
    expect(counts).toEqual({ 'v3.1.5': 153, 'v3.1.6': 155, 'v3.1.7': 163, 'v3.1.8': 181, 'v3.1.9': 185, 'v3.1.10': 189, 'v3.1.11': 199, 'v3.1.12': 199 });
    expect(catalog.newestProfile().version).toBe('v3.1.12');
  });

  it('every profile default and every supported Kubernetes version has a checksum for amd64 and arm64', async () => {
    const catalog = await loadCatalog();
    const keys: Array<[string, string]> = [['etcd', 'etcd'], ['helm', 'helm'], ['kubecni', 'kubecni'], ['crictl', 'crictl'], ['containerd', 'containerd'], ['runc', 'runc'], ['docker', 'docker'], ['cri-dockerd', 'cri-dockerd'], ['calicoctl', 'calicoctl'], ['registry', 'registry'], ['compose', 'compose']];
    for (const v of catalog.kkVersions) {
      const p = catalog.profile(v);
      for (const arch of ['amd64', 'arm64']) {
        for (const [component, key] of keys) {
          expect(catalog.checksum(component, arch, p.defaults[key as keyof typeof p.defaults] as string), `${v} ${component} ${arch}`).toMatch(/^[a-f0-9]{64}$/);
        }
        for (const k of catalog.kubernetesVersions(p)) {
          for (const bin of ['kubeadm', 'kubelet', 'kubectl']) expect(catalog.checksum(bin, arch, k), `${bin} ${k} ${arch}`).toBeDefined();
        }
      }
      expect(catalog.checksum('harbor', 'amd64', p.defaults.harbor)).toBeDefined();
    }
  });

  it('unknown kk release names the known ones', async () => {
    const catalog = await loadCatalog();
    expect(() => catalog.profile('v3.0.7')).toThrow(/unknown KubeKey release/);
    try {
      catalog.profile('v3.0.7');
    } catch (err) {
      expect((err as { hint: string }).hint).toContain('v3.1.5');
    }
  });

  it('classifies images whatever the registry form', async () => {
    const catalog = await loadCatalog();
    expect(catalog.classify('docker.io/calico/node:v3.27.3')).toBe('network');
    expect(catalog.classify('registry.cn-beijing.aliyuncs.com/kubesphereio/kube-apiserver:v1.28.12')).toBe('k8s-core');
    expect(catalog.classify('docker.io/kubesphere/ks-apiserver:v3.4.1')).toBe('kubesphere-core');
    expect(catalog.classify('docker.io/prom/prometheus:v2.39.1')).toBe('kubesphere-monitoring');
    expect(catalog.classify('docker.io/acme/unknown:1')).toBe('user');
  });

  it.each([
    ['docker.io/mycorp/node:18', 'user'],
    ['quay.io/myteam/redis:7', 'user'],
    ['registry.example.com/apps/etcd:3', 'user'],
    ['docker.io/library/nginx', 'user'],
    ['docker.io/library/redis:7', 'user'],
    ['quay.io/calico/node:v3.27.3', 'user'],
    ['docker.io/library/nginx:1.14-alpine', 'kubesphere-examples'],
    ['docker.io/library/redis:5.0.14-alpine', 'kubesphere-core'],
    ['docker.io/calico/node:v3.99.0', 'network'],
    ['registry.cn-beijing.aliyuncs.com/kubesphereio/node:v3.27.4', 'network'],
    ['registry.cn-beijing.aliyuncs.com/kubesphereio/ks-apiserver:v3.4.1', 'kubesphere-core'],
    ['docker.io/kubesphere/kubectl:v1.22.0', 'kubesphere-core'],
    ['docker.io/kubesphere/etcd:v3.5.24', 'etcd'],
  ])('classifies %s as %s by the full repository', async (ref, cls) => {
    const catalog = await loadCatalog();
    expect(catalog.classify(ref)).toBe(cls);
  });
});

// Release, add-on and version names come from the manifest (spec.kko) or flags: quoted, cut and escaped.
describe('catalog errors name hostile values safely', () => {
  it.each([
    ['a 1 MB value', `v${MB_TEXT}`],
    ['control characters', CONTROL_TEXT],
  ])('%s', async (_what, value) => {
    const catalog = await loadCatalog();
    const messages = [
      await messageOf(() => catalog.profile(value)),
      await messageOf(() => catalog.component(value)),
      await messageOf(() => catalog.componentVersion([...catalog.components.keys()][0] as string, value)),
      await messageOf(() => catalog.assertKubernetesVersion(catalog.profile('v3.1.5'), value, ['amd64'])),
    ];
    expect(messages[0]).toMatch(/^unknown KubeKey release "/);
    expect(messages[1]).toMatch(/^unknown add-on component "/);
    expect(messages[2]).toMatch(/^unknown \S+ version "/);
    expect(messages[3]).toMatch(/^Kubernetes \S.* is not supported by kk v3\.1\.5 \(amd64\)$/);
    for (const m of messages) expectSafeText(m);
  });
});
