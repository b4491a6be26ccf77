import { isMap, type Document } from 'yaml';
import { KkoError, type Issue } from '../errors.js';
import type { AddonChoice, ClusterChoices, Cni } from '../catalog/choices.js';
import { documentValue, parseYaml, readTextFile } from '../util/yaml-doc.js';

// What a kk Cluster config (kind: Cluster, plus an optional ks-installer ClusterConfiguration) says
// about the images and binaries kk will ask for. Only the fields that matter here are read.
// registry.privateRegistry and namespaceOverride decide the names kk pushes to and nodes pull from.
export type RegistryFacts = { privateRegistry: string; namespaceOverride?: string };
export type ClusterFacts = { choices: Partial<ClusterChoices>; registry?: RegistryFacts; issues: Issue[] };

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const bool = (v: unknown, dflt: boolean): boolean => (typeof v === 'boolean' ? v : dflt);

const PLUGINS: Record<string, Cni> = { calico: 'calico', cilium: 'cilium', flannel: 'flannel', kubeovn: 'kube-ovn', 'kube-ovn': 'kube-ovn', hybridnet: 'hybridnet', none: 'none', '': 'none' };

function fromCluster(spec: Obj, file: string, issues: Issue[]): Partial<ClusterChoices> {
  const k8s = obj(spec.kubernetes);
  const net = obj(spec.network);
  const plugin = String(net.plugin ?? 'calico');
  const cni = PLUGINS[plugin];
  if (!cni) issues.push({ severity: 'error', code: 'CLUSTER_CONFIG', message: `network.plugin "${plugin}" is not one kk v3 deploys`, file, path: 'spec.network.plugin' });
  const cnis: Cni[] = [cni ?? 'none'];
  if (bool(obj(net.multusCNI).enabled, false)) cnis.push('multus');
  const calico = obj(net.calico);
  const hosts = new Set<string>();
  const roles = obj(spec.roleGroups);
  for (const role of ['control-plane', 'master', 'worker']) for (const h of (roles[role] as unknown[]) ?? []) hosts.add(String(h));
  const typha = bool(obj(calico.typha).enabled, false) || bool(calico.enableTypha, false) || hosts.size > 50;
  const lb = String(obj(spec.controlPlaneEndpoint).internalLoadbalancer ?? '');
  const arches = [...new Set(((spec.hosts as unknown[]) ?? []).map((h) => String(obj(h).arch ?? 'amd64')))];
  const out: Partial<ClusterChoices> = {
    cni: cnis,
    lb: lb === 'haproxy' || lb === 'kube-vip' ? lb : 'none',
    etcdType: (String(obj(spec.etcd).type ?? 'kubekey') || 'kubekey') as ClusterChoices['etcdType'],
    containerManager: (String(k8s.containerManager ?? 'docker') || 'docker') as ClusterChoices['containerManager'],
    nodelocaldns: bool(k8s.nodelocaldns, true),
    kubeProxy: !bool(k8s.disableKubeProxy, false),
    calicoTypha: cni === 'calico' && typha,
    kata: bool(obj(k8s.kata).enabled, false),
    nfd: bool(obj(k8s.nodeFeatureDiscovery).enabled, false),
  };
  if (typeof k8s.version === 'string') out.kubernetes = [k8s.version];
  if (arches.length > 0) out.arches = arches as ClusterChoices['arches'];
  return out;
}

// ks-installer ClusterConfiguration → the kubesphere add-on and its component groups.
function fromKsConfig(doc: Obj): AddonChoice {
  const spec = obj(doc.spec);
  const version = String(obj(obj(doc.metadata).labels).version ?? 'v3.4.1');
  const on = (...path: string[]): boolean => bool(path.reduce<unknown>((o, k) => obj(o)[k], spec), false);
  const groups = ['core', 'monitoring'];
  if (on('devops', 'enabled')) groups.push('devops');
  if (on('logging', 'enabled') || on('events', 'enabled') || on('auditing', 'enabled')) groups.push('logging');
  if (on('servicemesh', 'enabled')) groups.push('servicemesh');
  if (on('openpitrix', 'store', 'enabled')) groups.push('openpitrix');
  if (on('edgeruntime', 'enabled') || on('kubeedge', 'enabled')) groups.push('kubeedge');
  if (on('gatekeeper', 'enabled')) groups.push('gatekeeper');
  return { name: 'kubesphere', version, groups };
}

// Read a kk cluster config file (kk create config output) into cluster choices.
export async function loadClusterConfig(file: string): Promise<ClusterFacts> {
  const { source, issues } = parseYaml(await readTextFile(file, 'cluster config'), file);
  if (issues.some((i) => i.severity === 'error')) return { choices: {}, issues };
  const docs = source.docs.map((d: Document.Parsed) => (isMap(d.contents) ? obj(documentValue(d)) : {}));
  const cluster = docs.find((d) => d.kind === 'Cluster');
  if (!cluster) throw new KkoError('INVALID_INPUT', `reading cluster config ${file}: no document of kind Cluster`, { hint: 'pass the file `kk create config` writes' });
  const spec = obj(cluster.spec);
  const choices = fromCluster(spec, file, issues);
  const ks = docs.find((d) => d.kind === 'ClusterConfiguration');
  if (ks) {
    choices.addons = [fromKsConfig(ks)];
    choices.localStorage = true;
  }
  const reg = obj(spec.registry);
  const privateRegistry = typeof reg.privateRegistry === 'string' ? reg.privateRegistry : '';
  const override = typeof reg.namespaceOverride === 'string' ? reg.namespaceOverride : '';
  const registry: RegistryFacts | undefined = privateRegistry ? { privateRegistry, ...(override ? { namespaceOverride: override } : {}) } : undefined;
  return { choices, issues, ...(registry ? { registry } : {}) };
}
