import { describe, expect, it } from 'vitest';
import { formatReference, parseReference } from '../reference/index.js';
import { loadMirrorPolicy } from './policy.js';
import { resolveDownloadSources, resolveImageSources } from './resolve.js';
import { CN_IMAGE_NAMESPACE, CN_IMAGE_REGISTRY, imageRefForZone } from './zone-ref.js';

const cn = await loadMirrorPolicy({ zone: 'cn', env: {} });
const def = await loadMirrorPolicy({ zone: 'default', env: {} });
const QS = 'https://kubernetes-release.pek3b.qingstor.com';

// kubekey.md §3.3: every kk binary URL (default form) and its KKZONE=cn form, with sample versions/arches.
const KK_BINARIES: [string, string, string][] = [
  [
    'kubeadm (≤v3.1.6)',
    'https://storage.googleapis.com/kubernetes-release/release/v1.28.12/bin/linux/amd64/kubeadm',
    `${QS}/release/v1.28.12/bin/linux/amd64/kubeadm`,
  ],
  [
    'kubelet (v3.1.7+)',
    'https://dl.k8s.io/release/v1.28.12/bin/linux/arm64/kubelet',
    `${QS}/release/v1.28.12/bin/linux/arm64/kubelet`,
  ],
  [
    'etcd',
    'https://github.com/coreos/etcd/releases/download/v3.5.13/etcd-v3.5.13-linux-amd64.tar.gz',
    `${QS}/etcd/release/download/v3.5.13/etcd-v3.5.13-linux-amd64.tar.gz`,
  ],
  [
    'kubecni',
    'https://github.com/containernetworking/plugins/releases/download/v1.2.0/cni-plugins-linux-amd64-v1.2.0.tgz',
    'https://containernetworking.pek3b.qingstor.com/plugins/releases/download/v1.2.0/cni-plugins-linux-amd64-v1.2.0.tgz',
  ],
  [
    'docker',
    'https://download.docker.com/linux/static/stable/aarch64/docker-24.0.9.tgz',
    'https://mirrors.aliyun.com/docker-ce/linux/static/stable/aarch64/docker-24.0.9.tgz',
  ],
  [
    'cri-dockerd',
    'https://github.com/Mirantis/cri-dockerd/releases/download/v0.3.10/cri-dockerd-0.3.10.amd64.tgz',
    `${QS}/cri-dockerd/releases/download/v0.3.10/cri-dockerd-0.3.10.amd64.tgz`,
  ],
  [
    'crictl',
    'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.29.0/crictl-v1.29.0-linux-amd64.tar.gz',
    `${QS}/cri-tools/releases/download/v1.29.0/crictl-v1.29.0-linux-amd64.tar.gz`,
  ],
  [
    'containerd',
    'https://github.com/containerd/containerd/releases/download/v1.7.13/containerd-1.7.13-linux-arm64.tar.gz',
    `${QS}/containerd/containerd/releases/download/v1.7.13/containerd-1.7.13-linux-arm64.tar.gz`,
  ],
  [
    'runc',
    'https://github.com/opencontainers/runc/releases/download/v1.1.12/runc.amd64',
    `${QS}/opencontainers/runc/releases/download/v1.1.12/runc.amd64`,
  ],
  [
    'calicoctl',
    'https://github.com/projectcalico/calico/releases/download/v3.27.4/calicoctl-linux-amd64',
    `${QS}/projectcalico/calico/releases/download/v3.27.4/calicoctl-linux-amd64`,
  ],
  [
    'registry',
    'https://github.com/kubesphere/kubekey/releases/download/v2.0.0-alpha.1/registry-2-linux-arm64.tar.gz',
    `${QS}/registry/2/registry-2-linux-arm64.tar.gz`,
  ],
  [
    'harbor',
    'https://github.com/goharbor/harbor/releases/download/v2.10.1/harbor-offline-installer-v2.10.1.tgz',
    `${QS}/harbor/releases/download/v2.10.1/harbor-offline-installer-v2.10.1.tgz`,
  ],
  [
    'compose',
    'https://github.com/docker/compose/releases/download/v2.26.1/docker-compose-linux-x86_64',
    `${QS}/docker/compose/releases/download/v2.26.1/docker-compose-linux-x86_64`,
  ],
];

// Binaries whose cn source is not a prefix rewrite (helm: a different file; k3s: a different path) or has none.
const NOT_PREFIX_RULES: [string, string][] = [
  ['helm', 'https://get.helm.sh/helm-v3.14.3-linux-amd64.tar.gz'],
  ['k3s', 'https://github.com/k3s-io/k3s/releases/download/v1.28.12+k3s1/k3s'],
  ['k8e', 'https://github.com/xiaods/k8e/releases/download/v1.28.12+k8e2/k8e'],
  ['buildx', 'https://github.com/docker/buildx/releases/download/v0.14.0/buildx-v0.14.0.linux-amd64'],
];

describe('zone cn downloads', () => {
  it.each(KK_BINARIES)('%s: cn mirror first, upstream fallback', (_id, url, cnUrl) => {
    expect(resolveDownloadSources(url, cn).map((s) => [s.via, s.url])).toEqual([
      ['mirror', cnUrl],
      ['upstream', url],
    ]);
  });

  it.each(NOT_PREFIX_RULES)('%s: upstream only', (_id, url) => {
    expect(resolveDownloadSources(url, cn)).toEqual([{ url, via: 'upstream', skipTLSVerify: false }]);
  });

  it('every cn download rule is exercised by a kk binary URL', () => {
    const used = new Set(KK_BINARIES.flatMap(([, url]) => resolveDownloadSources(url, cn).map((s) => s.rule)));
    expect(cn.downloads.map((d) => d.prefix).filter((p) => !used.has(p))).toEqual([]);
  });
});

describe('zone default', () => {
  it.each(KK_BINARIES)('%s: upstream only', (_id, url) => {
    expect(resolveDownloadSources(url, def).map((s) => s.url)).toEqual([url]);
  });

  it.each(['redis:7', 'quay.io/calico/node:v3.27.3'])('%s: upstream only', (raw) => {
    expect(resolveImageSources(parseReference(raw), def).map((s) => s.via)).toEqual(['upstream']);
  });
});

const CN_REFS: [string, string][] = [
  ['kubesphere/kube-apiserver:v1.28.12', 'registry.cn-beijing.aliyuncs.com/kubesphereio/kube-apiserver:v1.28.12'],
  ['docker.io/calico/cni:v3.27.4', 'registry.cn-beijing.aliyuncs.com/kubesphereio/cni:v3.27.4'],
  ['redis:7', 'registry.cn-beijing.aliyuncs.com/kubesphereio/redis:7'],
  ['quay.io/tigera/operator:v1.34.0', 'registry.cn-beijing.aliyuncs.com/kubesphereio/operator:v1.34.0'],
  ['ghcr.io/kube-vip/kube-vip:v0.7.2', 'registry.cn-beijing.aliyuncs.com/kubesphereio/kube-vip:v0.7.2'],
  ['registry.k8s.io/pause:3.9', 'registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9'],
];

describe('imageRefForZone', () => {
  it.each(CN_REFS)('cn: %s → %s', (raw, expected) => {
    expect(imageRefForZone(raw, 'cn')).toBe(expected);
  });

  it.each(['kubesphere/pause:3.9', 'docker.io/calico/node:v3.27.4', 'anything goes here'])(
    'default: %s unchanged',
    (raw) => {
      expect(imageRefForZone(raw, 'default')).toBe(raw);
    },
  );

  it('cn: kk flattens whatever the registry, even one without a zone rule', () => {
    expect(imageRefForZone('gcr.io/a/b/c:1', 'cn')).toBe('registry.cn-beijing.aliyuncs.com/kubesphereio/c:1');
    expect(resolveImageSources(parseReference('gcr.io/a/b/c:1'), cn).map((s) => s.via)).toEqual(['upstream']);
  });

  it('cn: a bad reference is INVALID_REFERENCE', () => {
    expect(() => imageRefForZone('Bad/Name:1', 'cn')).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }));
  });

  it.each(CN_REFS)('agrees with the cn zone rules: %s', (raw) => {
    const [first, second] = resolveImageSources(parseReference(raw), cn);
    expect(first && formatReference(first.ref)).toBe(imageRefForZone(raw, 'cn'));
    expect(second?.via).toBe('upstream');
  });

  it('the cn zone file uses the same location', () => {
    for (const r of cn.registries)
      expect(r.mirrors).toEqual([
        expect.objectContaining({ location: `${CN_IMAGE_REGISTRY}/${CN_IMAGE_NAMESPACE}`, rewrite: 'flatten' }),
      ]);
    expect(cn.registries.map((r) => r.prefix)).toEqual(['docker.io', 'quay.io', 'ghcr.io', 'registry.k8s.io']);
  });
});
