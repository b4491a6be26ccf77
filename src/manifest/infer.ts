import type { Catalog } from '../catalog/catalog.js';
import type { ComponentGroup } from '../catalog/schema.js';
import { defaultChoices, type AddonChoice, type ClusterChoices, type Cni } from '../catalog/choices.js';
import { addonImageRefsFor } from '../catalog/select.js';
import { parseReference, repositoryName } from '../reference/index.js';
import type { KkManifest } from './schema.js';

// Recover cluster choices from a manifest kko did not write (a kk manifest): what its images imply.
export function inferChoices(catalog: Catalog, manifest: KkManifest, kkVersion: string): ClusterChoices {
  const names = new Set<string>();
  const nameTags = new Set<string>();
  for (const raw of manifest.spec.images ?? []) {
    try {
      const ref = parseReference(raw);
      names.add(repositoryName(ref));
      nameTags.add(`${repositoryName(ref)}:${ref.tag ?? ''}`);
    } catch {
      // invalid refs are reported by the kk rules
    }
  }
  const has = (repo: string): boolean => names.has(repo.split('/').pop() as string);
  const cni: Cni[] = [];
  const byCni: Array<[Cni, string]> = [
    ['calico', 'calico/node'],
    ['cilium', 'cilium/cilium'],
    ['flannel', 'flannel/flannel'],
    ['kube-ovn', 'kubeovn/kube-ovn'],
    ['hybridnet', 'hybridnetdev/hybridnet'],
    ['multus', 'kubesphere/multus-cni'],
  ];
  for (const [name, repo] of byCni) if (has(repo)) cni.push(name);
  if (cni.length === 0 || (cni.length === 1 && cni[0] === 'multus')) cni.unshift('none');
  const runtimes = (manifest.spec.components?.containerRuntimes ?? []).map((r) => r.type);
  const kubernetes = (manifest.spec.kubernetesDistributions ?? [])
    .filter((d) => d.type === 'kubernetes')
    .map((d) => d.version);
  const c = defaultChoices(kkVersion, kubernetes);
  return {
    ...c,
    arches: (manifest.spec.arches ?? ['amd64']) as ClusterChoices['arches'],
    cni,
    lb: has('library/haproxy') ? 'haproxy' : has('plndr/kube-vip') ? 'kube-vip' : 'none',
    localStorage: has('openebs/provisioner-localpv'),
    nodelocaldns: has('kubesphere/k8s-dns-node-cache'),
    kubeProxy: has('kubesphere/kube-proxy') || kubernetes.length === 0,
    etcdType: has('kubesphere/etcd') ? 'kubeadm' : 'kubekey',
    containerManager: runtimes.includes('containerd') && !runtimes.includes('docker') ? 'containerd' : 'docker',
    calicoTypha: has('calico/typha'),
    kata: has('kubesphere/kata-deploy'),
    nfd: has('kubesphere/node-feature-discovery'),
    registry: Boolean(manifest.spec.components?.['docker-registry']?.version),
    addons: inferAddons(catalog, nameTags, kubernetes),
  };
}

// The refs only this group carries (groups share e.g. the Fluent Bit operator); all its refs when none is its own.
function ownRefs(g: ComponentGroup, all: ComponentGroup[], refsOf: (gs: ComponentGroup[]) => string[]): string[] {
  const others = new Set(refsOf(all.filter((o) => o !== g)));
  const own = refsOf([g]).filter((r) => !others.has(r));
  return own.length > 0 ? own : refsOf([g]);
}

// An add-on version is inferred from an image only that version's required groups carry
// (e.g. ks-installer:v3.4.1); its optional groups count as chosen when any of their images is present.
function inferAddons(catalog: Catalog, nameTags: Set<string>, kubernetes: string[]): AddonChoice[] {
  const out: AddonChoice[] = [];
  const present = (ref: string): boolean => {
    const r = parseReference(ref);
    return nameTags.has(`${repositoryName(r)}:${r.tag ?? ''}`);
  };
  for (const c of catalog.components.values()) {
    const refsOf = (groups: ComponentGroup[]): string[] =>
      groups.flatMap((g) => g.images.flatMap((img) => addonImageRefsFor(img, kubernetes)));
    const requiredRefs = c.spec.versions.map((v) => new Set(refsOf(v.groups.filter((g) => g.required))));
    for (const [i, v] of c.spec.versions.entries()) {
      const unique = [...(requiredRefs[i] ?? [])].filter((r) => requiredRefs.every((set, j) => j === i || !set.has(r)));
      if (!unique.some(present)) continue;
      const groups = v.groups
        .filter((g) => !g.required && ownRefs(g, v.groups, refsOf).some(present))
        .map((g) => g.name);
      out.push({ name: c.metadata.name, version: v.version, groups });
      break;
    }
  }
  return out;
}
