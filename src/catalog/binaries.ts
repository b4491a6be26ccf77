import type { Catalog } from './catalog.js';
import type { KubeKeyProfile } from './schema.js';

type Versioned = { readonly version: string } | null | undefined;

// The parts of a manifest that decide kk's binaries (a KkManifest fits). Declared here, not imported from
// manifest/, which sits above the catalog.
export type BinaryNeeds = {
  readonly spec: {
    readonly arches?: readonly string[] | null;
    readonly kubernetesDistributions?: ReadonlyArray<{ readonly type: string; readonly version: string }> | null;
    readonly components?: {
      readonly etcd?: Versioned;
      readonly cni?: Versioned;
      readonly helm?: Versioned;
      readonly crictl?: Versioned;
      readonly calicoctl?: Versioned;
      readonly containerRuntimes?: ReadonlyArray<{ readonly type: string; readonly version: string }> | null;
      readonly 'docker-registry'?: Versioned;
      readonly harbor?: Versioned;
      readonly 'docker-compose'?: Versioned;
    } | null;
  };
};

// One file kk puts in (and looks for in) the artifact: kubekey/artifact/<path>.
export type BinaryItem = {
  id: string; // kk's binary id: kubeadm, etcd, kubecni, calicoctl, …
  component: string; // key in checksums.json
  version: string;
  arch: string;
  path: string; // relative to the artifact root, exactly kk's layout
  url: string; // the upstream (default zone) URL
  sha256: string | undefined; // of the file as stored (helm: the extracted binary)
  extract?: string; // member to extract from the downloaded archive (helm)
};

const ALIAS: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64' };
const GH = 'https://github.com';

type Spec = { id: string; component?: string; dir: string; file: string; url: string; extract?: string };

// kk v3 files.NewKubeBinary: artifact file name, directory and upstream URL of each binary id.
function binarySpec(id: string, v: string, arch: string, profile: KubeKeyProfile): Spec {
  const alias = ALIAS[arch] ?? arch;
  const kubeBase =
    profile.features.kubeBinaryUrl === 'dlk8s' ? 'https://dl.k8s.io/release' : 'https://storage.googleapis.com/kubernetes-release/release';
  switch (id) {
    case 'kubeadm':
    case 'kubelet':
    case 'kubectl':
      return { id, dir: `kube/${v}/${arch}`, file: id, url: `${kubeBase}/${v}/bin/linux/${arch}/${id}` };
    case 'etcd':
      return { id, dir: `etcd/${v}/${arch}`, file: `etcd-${v}-linux-${arch}.tar.gz`, url: `${GH}/coreos/etcd/releases/download/${v}/etcd-${v}-linux-${arch}.tar.gz` };
    case 'kubecni':
      return { id, dir: `cni/${v}/${arch}`, file: `cni-plugins-linux-${arch}-${v}.tgz`, url: `${GH}/containernetworking/plugins/releases/download/${v}/cni-plugins-linux-${arch}-${v}.tgz` };
    case 'helm':
      return { id, dir: `helm/${v}/${arch}`, file: 'helm', url: `https://get.helm.sh/helm-${v}-linux-${arch}.tar.gz`, extract: `linux-${arch}/helm` };
    case 'docker':
      return { id, dir: `docker/${v}/${arch}`, file: `docker-${v}.tgz`, url: `https://download.docker.com/linux/static/stable/${alias}/docker-${v}.tgz` };
    case 'cri-dockerd':
      return { id, dir: `cri-dockerd/${v}/${arch}`, file: `cri-dockerd-${v}.tgz`, url: `${GH}/Mirantis/cri-dockerd/releases/download/v${v}/cri-dockerd-${v}.${arch}.tgz` };
    case 'crictl':
      return { id, dir: `crictl/${v}/${arch}`, file: `crictl-${v}-linux-${arch}.tar.gz`, url: `${GH}/kubernetes-sigs/cri-tools/releases/download/${v}/crictl-${v}-linux-${arch}.tar.gz` };
    case 'containerd':
      return { id, dir: `containerd/${v}/${arch}`, file: `containerd-${v}-linux-${arch}.tar.gz`, url: `${GH}/containerd/containerd/releases/download/v${v}/containerd-${v}-linux-${arch}.tar.gz` };
    case 'runc':
      return { id, dir: `runc/${v}/${arch}`, file: `runc.${arch}`, url: `${GH}/opencontainers/runc/releases/download/${v}/runc.${arch}` };
    case 'calicoctl':
      return { id, dir: `cni/${v}/${arch}`, file: 'calicoctl', url: `${GH}/projectcalico/calico/releases/download/${v}/calicoctl-linux-${arch}` };
    case 'registry':
      return { id, dir: `registry/registry/${v}/${arch}`, file: `registry-${v}-linux-${arch}.tar.gz`, url: `${GH}/kubesphere/kubekey/releases/download/v2.0.0-alpha.1/registry-${v}-linux-${arch}.tar.gz` };
    case 'harbor':
      return { id, dir: `registry/harbor/${v}/${arch}`, file: `harbor-offline-installer-${v}.tgz`, url: `${GH}/goharbor/harbor/releases/download/${v}/harbor-offline-installer-${v}.tgz` };
    case 'compose': {
      const file = profile.features.composeFileName === 'alias' ? `docker-compose-linux-${alias}` : 'docker-compose-linux-x86_64';
      return { id, dir: `registry/compose/${v}/${arch}`, file, url: `${GH}/docker/compose/releases/download/${v}/docker-compose-linux-${alias}` };
    }
    default:
      throw new Error(`unknown kk binary id ${id}`);
  }
}

// The artifact file of one spec, with its catalog sha256 (undefined when the catalog has none).
function itemOf(catalog: Catalog, s: Spec, version: string, arch: string): BinaryItem {
  const component = s.component ?? s.id;
  return { id: s.id, component, version, arch, path: `${s.dir}/${s.file}`, url: s.url, sha256: catalog.checksum(component, arch, version), ...(s.extract ? { extract: s.extract } : {}) };
}

// Every binary id binarySpec knows, for the reverse lookup below.
const BINARY_IDS = ['kubeadm', 'kubelet', 'kubectl', 'etcd', 'kubecni', 'helm', 'docker', 'cri-dockerd', 'crictl', 'containerd', 'runc', 'calicoctl', 'registry', 'harbor', 'compose'] as const;

// The version and arch a kk artifact path names: <dir>/<version>/<arch>/<file>, registry/<id>/<version>/<arch>/<file>.
function pathCoordinates(path: string): { version: string; arch: string } | undefined {
  const s = path.split('/');
  if (s[0] === 'registry' && s.length === 5) return { version: s[2] as string, arch: s[3] as string };
  if (s[0] !== 'registry' && s.length === 4) return { version: s[1] as string, arch: s[2] as string };
  return undefined;
}

// The reverse of planBinaries for one path: which kk binary (and so which catalog sha256) an artifact path holds,
// tried against every kk profile (the compose file name differs by release). Undefined: not a path kk writes.
export function binaryAtPath(catalog: Catalog, path: string): BinaryItem | undefined {
  const at = pathCoordinates(path);
  if (!at) return undefined;
  for (const version of [...catalog.kkVersions].reverse()) {
    const profile = catalog.profile(version);
    for (const id of BINARY_IDS) {
      const s = binarySpec(id, at.version, at.arch, profile);
      if (`${s.dir}/${s.file}` !== path) continue;
      return itemOf(catalog, s, at.version, at.arch);
    }
  }
  return undefined;
}

// The binaries kk's ArtifactDownload puts in an artifact for this manifest (cmd/kk/pkg/binaries/tasks.go), in kk's order.
export function planBinaries(catalog: Catalog, profile: KubeKeyProfile, manifest: BinaryNeeds): BinaryItem[] {
  const spec = manifest.spec;
  const c = spec.components ?? {};
  const wanted: Array<[string, string, boolean?]> = [];
  for (const d of spec.kubernetesDistributions ?? []) {
    if (d.type === 'kubernetes') for (const id of ['kubeadm', 'kubelet', 'kubectl']) wanted.push([id, d.version]);
  }
  if (c.etcd?.version) wanted.push(['etcd', c.etcd.version]);
  if (c.cni?.version) wanted.push(['kubecni', c.cni.version]);
  if (c.helm?.version) wanted.push(['helm', c.helm.version]);
  if (c.crictl?.version) wanted.push(['crictl', c.crictl.version]);
  if (c.calicoctl?.version) wanted.push(['calicoctl', c.calicoctl.version]);
  const runtimes = new Map((c.containerRuntimes ?? []).map((r) => [`${r.type}@${r.version}`, r]));
  for (const r of runtimes.values()) {
    if (r.type === 'docker') wanted.push(['docker', r.version], ['cri-dockerd', profile.defaults['cri-dockerd']]);
    if (r.type === 'containerd') wanted.push(['containerd', r.version], ['runc', profile.defaults.runc]);
  }
  // Registry components are on/off switches: kk always fetches its own default versions.
  if (c['docker-registry']?.version) wanted.push(['registry', profile.defaults.registry]);
  if (c.harbor?.version) wanted.push(['harbor', profile.defaults.harbor, true]);
  if (c['docker-compose']?.version) wanted.push(['compose', profile.defaults.compose, true], ['docker', profile.defaults.docker, true]);
  const out: BinaryItem[] = [];
  const seen = new Set<string>();
  for (const arch of spec.arches ?? []) {
    for (const [id, version, amd64Only] of wanted) {
      if (amd64Only && arch !== 'amd64') continue; // kk skips harbor/compose on arm64 with a warning
      const s = binarySpec(id, version, arch, profile);
      const path = `${s.dir}/${s.file}`;
      if (seen.has(path)) continue;
      seen.add(path);
      out.push(itemOf(catalog, s, version, arch));
    }
  }
  return out;
}

