import { beforeAll, describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import type { Catalog } from './catalog.js';
import { defaultChoices, type ClusterChoices } from './choices.js';
import { loadCatalog } from './load.js';
import { addonGroups, selectImages } from './select.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const refs = (c: Partial<ClusterChoices> & { kkVersion: string }): string[] =>
  selectImages(catalog, { ...defaultChoices(c.kkVersion, ['v1.28.12']), ...c }).map((i) => i.ref);

// kubekey.md §5.3 "Minimal image set for a default k8s-only cluster" (calico without typha, nodelocaldns, no LB).
const minimal = (calico: string): string[] => [
  'docker.io/kubesphere/pause:3.9',
  'docker.io/kubesphere/kube-apiserver:v1.28.12',
  'docker.io/kubesphere/kube-controller-manager:v1.28.12',
  'docker.io/kubesphere/kube-scheduler:v1.28.12',
  'docker.io/kubesphere/kube-proxy:v1.28.12',
  'docker.io/coredns/coredns:1.9.3',
  'docker.io/kubesphere/k8s-dns-node-cache:1.22.20',
  `docker.io/calico/kube-controllers:${calico}`,
  `docker.io/calico/cni:${calico}`,
  `docker.io/calico/node:${calico}`,
  `docker.io/calico/pod2daemon-flexvol:${calico}`,
];

describe.each([
  ['v3.1.5', 'v3.27.3', 'v3.5.13'],
  ['v3.1.12', 'v3.27.4', 'v3.5.24'],
])('kk %s', (kkVersion, calico, etcd) => {
  const base = (): string[] => refs({ kkVersion });
  const added = (c: Partial<ClusterChoices>): string[] => refs({ kkVersion, ...c }).filter((r) => !base().includes(r));
  const removed = (c: Partial<ClusterChoices>): string[] => base().filter((r) => !refs({ kkVersion, ...c }).includes(r));

  it('default k8s-only set for v1.28.12 equals kk minimal set', () => {
    expect(base()).toEqual(minimal(calico));
  });

  it.each([
    [{ cni: ['cilium'] }, ['docker.io/cilium/cilium:v1.15.3', 'docker.io/cilium/operator-generic:v1.15.3']],
    [{ cni: ['flannel'] }, ['docker.io/flannel/flannel:v0.21.3', 'docker.io/flannel/flannel-cni-plugin:v1.1.2']],
    [{ cni: ['kube-ovn'] }, ['docker.io/kubeovn/kube-ovn:v1.10.10']],
    [{ cni: ['hybridnet'] }, ['docker.io/hybridnetdev/hybridnet:v0.8.6']],
    [{ cni: ['calico', 'multus'] }, ['docker.io/kubesphere/multus-cni:v3.8']],
    [{ calicoTypha: true }, [`docker.io/calico/typha:${calico}`]],
    [{ lb: 'haproxy' }, ['docker.io/library/haproxy:2.9.6-alpine']],
    [{ lb: 'kube-vip' }, ['docker.io/plndr/kube-vip:v0.7.2']],
    [{ localStorage: true }, ['docker.io/openebs/provisioner-localpv:3.3.0', 'docker.io/openebs/linux-utils:3.3.0']],
    [{ etcdType: 'kubeadm' }, [`docker.io/kubesphere/etcd:${etcd}`]],
    [{ kata: true, containerManager: 'containerd' }, ['docker.io/kubesphere/kata-deploy:stable']],
    [{ nfd: true }, ['docker.io/kubesphere/node-feature-discovery:v0.10.0']],
  ] as Array<[Partial<ClusterChoices>, string[]]>)('%j adds exactly its images', (choice, want) => {
    expect(added(choice).sort()).toEqual([...want].sort());
  });

  it('a non-calico CNI drops exactly the calico images; none drops all network images', () => {
    expect(removed({ cni: ['cilium'] })).toEqual(minimal(calico).filter((r) => r.includes('/calico/')));
    expect(refs({ kkVersion, cni: ['none'] }).filter((r) => catalog.classify(r) === 'network')).toEqual([]);
  });

  it('--no-nodelocaldns / --no-kube-proxy drop exactly their image', () => {
    expect(removed({ nodelocaldns: false })).toEqual(['docker.io/kubesphere/k8s-dns-node-cache:1.22.20']);
    expect(removed({ kubeProxy: false })).toEqual(['docker.io/kubesphere/kube-proxy:v1.28.12']);
  });

  it('zone cn rewrites every ref to the kubesphereio mirror', () => {
    const cn = refs({ kkVersion, zone: 'cn', localStorage: true, lb: 'haproxy' });
    expect(cn.length).toBe(base().length + 3);
    for (const r of cn) expect(r).toMatch(/^registry\.cn-beijing\.aliyuncs\.com\/kubesphereio\/[^/]+:[^/]+$/);
    expect(cn).toContain('registry.cn-beijing.aliyuncs.com/kubesphereio/haproxy:2.9.6-alpine');
  });
});

describe('pause and coredns follow the Kubernetes minor (kubekey.md §5.2)', () => {
  it.each([
    ['v1.20.10', 'docker', '3.2', '1.6.9'],
    ['v1.20.10', 'containerd', '3.4.1', '1.8.0'],
    ['v1.22.17', 'docker', '3.5', '1.8.0'],
    ['v1.23.17', 'docker', '3.6', '1.8.6'],
    ['v1.24.17', 'docker', '3.7', '1.8.6'],
    ['v1.25.16', 'docker', '3.8', '1.9.3'],
    ['v1.33.4', 'docker', '3.9', '1.9.3'],
  ] as const)('%s with %s → pause %s, coredns %s', (k8s, cm, pause, coredns) => {
    const out = selectImages(catalog, { ...defaultChoices('v3.1.12', [k8s]), containerManager: cm }).map((i) => i.ref);
    expect(out).toContain(`docker.io/kubesphere/pause:${pause}`);
    expect(out).toContain(`docker.io/coredns/coredns:${coredns}`);
  });
});

describe('KubeSphere plugin', () => {
  const ks = (groups: string[], kubernetes = ['v1.26.15']) =>
    selectImages(catalog, { ...defaultChoices('v3.1.12', kubernetes), addons: [{ name: 'kubesphere', version: 'v3.4.1', groups }] });

  it('default groups are core and monitoring, and KubeSphere brings OpenEBS', () => {
    const out = ks([]);
    const classes = new Set(out.filter((i) => i.origin === 'kubesphere').map((i) => i.class));
    expect([...classes].sort()).toEqual(['kubesphere-core', 'kubesphere-monitoring']);
    expect(out.map((i) => i.ref)).toContain('docker.io/openebs/provisioner-localpv:3.3.0');
    expect(out.map((i) => i.ref)).toContain('docker.io/kubesphere/kubectl:v1.22.0');
  });

  it('each group adds only its own images', () => {
    const core = new Set(ks(['core']).map((i) => i.ref));
    const devops = ks(['core', 'devops']).filter((i) => !core.has(i.ref));
    expect(devops.length).toBeGreaterThan(10);
    expect(new Set(devops.map((i) => i.class))).toEqual(new Set(['kubesphere-devops']));
  });

  it('kubectl tag follows each Kubernetes minor', () => {
    const out = ks(['core'], ['v1.21.14', 'v1.26.15']).map((i) => i.ref);
    expect(out).toContain('docker.io/kubesphere/kubectl:v1.21.0');
    expect(out).toContain('docker.io/kubesphere/kubectl:v1.22.0');
  });

  it.each([['v1.28.12'], ['v1.20.10']])('refuses incompatible Kubernetes %s', (k8s) => {
    expect(() => ks(['core'], [k8s])).toThrow(KkoError);
    try {
      ks(['core'], [k8s]);
    } catch (err) {
      expect((err as KkoError).code).toBe('INCOMPATIBLE');
    }
  });

  const refs = (groups: string[], version = 'v3.4.1', kubernetes = ['v1.26.15']) =>
    selectImages(catalog, { ...defaultChoices('v3.1.12', kubernetes), addons: [{ name: 'kubesphere', version, groups }] }).map((i) => i.ref);

  it('monitoring is always there (ks-installer always installs it); grafana and thanos only on their switches', () => {
    const lean = refs(['devops']);
    expect(lean).toContain('docker.io/prom/prometheus:v2.39.1');
    expect(lean).toContain('docker.io/kubesphere/notification-manager:v2.3.0');
    expect(lean.filter((r) => /grafana|thanos|configmap-reload/.test(r))).toEqual([]);
    expect(refs(['grafana']).filter((r) => !refs([]).includes(r))).toEqual(['docker.io/grafana/grafana:8.3.3']);
    expect(refs(['alerting'])).toContain('docker.io/thanosio/thanos:v0.31.0');
  });

  it('logging brings Fluent Bit and the default log store (v3.4: OpenSearch), not events or auditing', () => {
    const out = refs(['logging']);
    expect(out).toContain('docker.io/kubesphere/fluentbit-operator:v0.14.0');
    expect(out).toContain('docker.io/opensearchproject/opensearch:2.6.0');
    expect(out.filter((r) => /kube-events|kube-auditing|elasticsearch|opensearch-dashboards/.test(r))).toEqual([]);
    const es = refs(['logging', 'elasticsearch']);
    expect(es).toContain('docker.io/kubesphere/elasticsearch-curator:v5.7.6');
    expect(es.filter((r) => r.includes('opensearch'))).toEqual([]);
    expect(refs(['events'])).toContain('docker.io/kubesphere/kube-events-ruler:v0.6.0');
    expect(refs(['auditing']).filter((r) => r.includes('kube-events'))).toEqual([]);
    expect(refs(['events'], 'v3.3.2', ['v1.23.17'])).toContain('docker.io/kubesphere/elasticsearch-oss:6.8.22');
  });

  it('unknown group is an input error', () => {
    expect(() => ks(['nope'])).toThrow(/component group "nope"/);
  });
});

// A group name comes from spec.kko.addons[].groups or --addon NAME@VERSION:GROUP: quoted, cut and escaped.
describe('addonGroups: an unknown hostile group', () => {
  it.each([
    ['a 1 MB name', `g${MB_TEXT}`],
    ['control characters', CONTROL_TEXT],
  ])('%s', async (_what, group) => {
    const catalog = await loadCatalog();
    const [name, c] = [...catalog.components.entries()][0] as [string, ReturnType<Catalog['component']>];
    const version = c.spec.versions[0] as Parameters<typeof addonGroups>[0];
    const m = await messageOf(() => addonGroups(version, { name, version: version.version, groups: [group] }));
    expect(m).toMatch(/^unknown \S+ \S+ component group "/);
    expectSafeText(m);
  });
});
