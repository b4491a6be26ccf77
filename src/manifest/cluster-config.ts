import { isMap, type Document } from 'yaml';
import { isKkoError, KkoError, type Issue } from '../errors.js';
import type { AuthEntry as KkAuthEntry } from './schema.js';
import { parseRegistryLocation, type NamespaceRewrite } from './push-name.js';
import { CONTAINER_MANAGERS, ETCD_TYPES, type AddonChoice, type ClusterChoices, type Cni } from '../catalog/choices.js';
import { ARCHES } from '../catalog/schema.js';
import { quoteValue } from '../util/safe-text.js';
import { documentValue, parseYaml, readTextFile } from '../util/yaml-doc.js';
import { withVPrefix } from '../util/version.js';

// What a kk Cluster config (kind: Cluster, plus an optional ks-installer ClusterConfiguration) says
// about the images and binaries kk will ask for. Only the fields that matter here are read; the one
// reader serves `manifest create --cluster` and `manifest validate --cluster`.
// registry.privateRegistry and namespaceOverride decide the names kk pushes to and nodes pull from.
// auth: registry.auths[<host part of privateRegistry>]'s TLS settings (kk looks the entry up by that key).
export type RegistryAuthFacts = { plainHTTP?: boolean; skipTLSVerify?: boolean; certsPath?: string };
// auths: every registry.auths entry (credentials included: held in memory, never printed or stored).
export type RegistryFacts = {
  privateRegistry: string;
  namespaceOverride?: string;
  namespaceRewrite?: NamespaceRewrite;
  auth?: RegistryAuthFacts;
  auths?: Record<string, KkAuthEntry>;
};
export type ClusterFacts = { choices: Partial<ClusterChoices>; registry?: RegistryFacts; issues: Issue[] };

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const bool = (v: unknown, dflt: boolean): boolean => (typeof v === 'boolean' ? v : dflt);
const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

const PLUGINS: Record<string, Cni> = {
  calico: 'calico',
  cilium: 'cilium',
  flannel: 'flannel',
  kubeovn: 'kube-ovn',
  'kube-ovn': 'kube-ovn',
  hybridnet: 'hybridnet',
  none: 'none',
  '': 'none',
};

type Ctx = { file: string; issues: Issue[] };
function bad(ctx: Ctx, path: string, message: string, hint?: string): void {
  ctx.issues.push({
    severity: 'error',
    code: 'CLUSTER_CONFIG',
    message,
    file: ctx.file,
    path,
    ...(hint ? { hint } : {}),
  });
}

// kk's value, else its default (SetDefaultClusterSpec), checked against what kko can package.
function oneOf<T extends string>(ctx: Ctx, path: string, raw: string, dflt: T, allowed: readonly T[]): T {
  const value = raw || dflt;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  bad(ctx, path, `${quoteValue(value)} is not one of ${allowed.join(', ')}`);
  return dflt;
}

function networkChoices(ctx: Ctx, spec: Obj): Pick<ClusterChoices, 'cni' | 'calicoTypha'> {
  const net = obj(spec.network);
  const plugin = text(net.plugin ?? 'calico');
  const cni = PLUGINS[plugin];
  if (!cni)
    bad(
      ctx,
      'spec.network.plugin',
      `network.plugin ${quoteValue(plugin)} is not one kk v3 deploys`,
      'calico, cilium, flannel, kubeovn, hybridnet or none',
    );
  const cnis: Cni[] = [cni ?? 'none'];
  if (bool(obj(net.multusCNI).enabled, false)) cnis.push('multus');
  const calico = obj(net.calico);
  const hosts = new Set<string>();
  const roles = obj(spec.roleGroups);
  for (const role of ['control-plane', 'master', 'worker'])
    for (const h of (roles[role] as unknown[]) ?? []) hosts.add(String(h));
  const typha = bool(obj(calico.typha).enabled, false) || bool(calico.enableTypha, false) || hosts.size > 50;
  return { cni: cnis, calicoTypha: cni === 'calico' && typha };
}

// hosts[].arch: empty means amd64 (default.go SetDefaultHostsCfg); kk refuses anything but amd64/arm64.
function hostArches(ctx: Ctx, spec: Obj): ClusterChoices['arches'] {
  const out = new Set<ClusterChoices['arches'][number]>();
  ((spec.hosts as unknown[]) ?? []).forEach((h, i) => {
    out.add(oneOf(ctx, `spec.hosts[${i}].arch`, text(obj(h).arch), 'amd64', ARCHES));
  });
  return [...out];
}

function fromCluster(ctx: Ctx, spec: Obj): Partial<ClusterChoices> {
  const k8s = obj(spec.kubernetes);
  const lb = text(obj(spec.controlPlaneEndpoint).internalLoadbalancer);
  const reg = obj(spec.registry);
  const registryHosts = (obj(spec.roleGroups).registry as unknown[] | undefined) ?? [];
  const out: Partial<ClusterChoices> = {
    ...networkChoices(ctx, spec),
    lb: lb === 'haproxy' || lb === 'kube-vip' ? lb : 'none',
    etcdType: oneOf(ctx, 'spec.etcd.type', text(obj(spec.etcd).type), 'kubekey', ETCD_TYPES),
    // An absent or empty containerManager is docker (v3.1.12 cmd/kk/apis/kubekey/v1alpha2/default.go:319-320).
    containerManager: oneOf(
      ctx,
      'spec.kubernetes.containerManager',
      text(k8s.containerManager),
      'docker',
      CONTAINER_MANAGERS,
    ),
    nodelocaldns: bool(k8s.nodelocaldns, true),
    kubeProxy: !bool(k8s.disableKubeProxy, false),
    kata: bool(obj(k8s.kata).enabled, false),
    nfd: bool(obj(k8s.nodeFeatureDiscovery).enabled, false),
    // kk init registry runs on roleGroups.registry hosts; registry.type picks harbor or registry "2".
    registry: registryHosts.length > 0 || text(reg.type) !== '',
  };
  // kk adds the "v" (cmd/kk/pkg/common/loader.go:266); an absent version is kk's DefaultKubeVersion (the caller's).
  if (text(k8s.version)) out.kubernetes = [withVPrefix(text(k8s.version))];
  const arches = hostArches(ctx, spec);
  if (arches.length > 0) out.arches = arches;
  return out;
}

// ks-installer ClusterConfiguration → the kubesphere add-on and its component groups (catalog/addons/kubesphere.yaml).
// core and monitoring are required, so they need no switch. opensearch exists from ks v3.4 (roles/common/tasks).
function fromKsConfig(doc: Obj): AddonChoice {
  const spec = obj(doc.spec);
  const version = withVPrefix(text(obj(obj(doc.metadata).labels).version) || 'v3.4.1');
  const on = (...path: string[]): boolean =>
    bool(
      path.reduce<unknown>((o, k) => obj(o)[k], spec),
      false,
    );
  const switches: Array<[string, boolean]> = [
    ['grafana', on('monitoring', 'grafana', 'enabled')],
    ['alerting', on('alerting', 'enabled')],
    ['devops', on('devops', 'enabled')],
    ['logging', on('logging', 'enabled')],
    ['events', on('events', 'enabled')],
    ['auditing', on('auditing', 'enabled')],
    ['servicemesh', on('servicemesh', 'enabled')],
    ['openpitrix', on('openpitrix', 'store', 'enabled')],
    ['kubeedge', on('edgeruntime', 'enabled') || on('kubeedge', 'enabled')],
    ['gatekeeper', on('gatekeeper', 'enabled')],
    ['weave-scope', text(obj(obj(spec.network).topology).type) === 'weave-scope'],
  ];
  const groups = switches.filter(([, enabled]) => enabled).map(([name]) => name);
  // The log store is installed only for logging, events, auditing or servicemesh (common-install.yaml).
  if (groups.some((g) => ['logging', 'events', 'auditing', 'servicemesh'].includes(g)) && !version.startsWith('v3.3')) {
    if (on('common', 'opensearch', 'enabled')) groups.push('opensearch');
    if (on('common', 'opensearch', 'enabled') && on('common', 'opensearch', 'dashboard', 'enabled'))
      groups.push('opensearch-dashboards');
    if (on('common', 'es', 'enabled')) groups.push('elasticsearch');
  }
  return { name: 'kubesphere', version, groups };
}

const REGISTRY = 'spec.registry';

// registry.namespaceRewrite {policy, src[], dest} (v3.1.8+): kk warns and ignores a policy other than changePrefix
// (images.go:121), so kko does too; a dest or src kk would turn into a bad image name is refused.
function namespaceRewrite(ctx: Ctx, raw: unknown): NamespaceRewrite | undefined {
  if (raw === undefined || raw === null) return undefined;
  const path = `${REGISTRY}.namespaceRewrite`;
  const rw = obj(raw);
  const policy = text(rw.policy);
  const src = Array.isArray(rw.src) ? rw.src.map(text) : [];
  const dest = text(rw.dest).replace(/^\/+|\/+$/g, '');
  if (policy !== 'changePrefix') {
    ctx.issues.push({
      severity: 'warning',
      code: 'CLUSTER_CONFIG',
      message: `policy ${quoteValue(policy)} is not changePrefix: kk ignores the rewrite ("namespace rewrite action not specified")`,
      file: ctx.file,
      path: `${path}.policy`,
      hint: 'policy: changePrefix',
    });
    return { policy, src, dest };
  }
  if (!Array.isArray(rw.src) || src.some((x) => x === ''))
    bad(ctx, `${path}.src`, 'src must be a list of non-empty namespaces', 'src: [kubesphere, calico]');
  if (!dest || !isNamespace(dest))
    bad(
      ctx,
      `${path}.dest`,
      `dest ${quoteValue(text(rw.dest))} is not a registry namespace (lower-case path segments)`,
      'dest: mirror or dest: team/mirror',
    );
  return { policy, src, dest };
}

const isNamespace = (ns: string): boolean =>
  ns.split('/').every((seg) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(seg));

// auths.<host>: what kk reads for the registry (cluster_types.go Auths, registry.DockerRegistryAuthEntries).
function authEntries(raw: unknown): Record<string, KkAuthEntry> {
  const out: Record<string, KkAuthEntry> = {};
  for (const [host, v] of Object.entries(obj(raw))) {
    const e = obj(v);
    const entry: { -readonly [K in keyof KkAuthEntry]: KkAuthEntry[K] } = {};
    if (typeof e.username === 'string') entry.username = e.username;
    if (typeof e.password === 'string') entry.password = e.password;
    if (typeof e.plainHTTP === 'boolean') entry.plainHTTP = e.plainHTTP;
    if (typeof e.skipTLSVerify === 'boolean') entry.skipTLSVerify = e.skipTLSVerify;
    if (typeof e.certsPath === 'string' && e.certsPath) entry.certsPath = e.certsPath;
    out[host] = entry;
  }
  return out;
}

function registryFacts(ctx: Ctx, spec: Obj): RegistryFacts | undefined {
  const reg = obj(spec.registry);
  const privateRegistry = typeof reg.privateRegistry === 'string' ? reg.privateRegistry.trim() : '';
  const override = typeof reg.namespaceOverride === 'string' ? reg.namespaceOverride.replace(/^\/+|\/+$/g, '') : '';
  if (!privateRegistry) return undefined;
  try {
    parseRegistryLocation(privateRegistry, 'registry.privateRegistry');
  } catch (err) {
    if (!isKkoError(err)) throw err;
    bad(ctx, `${REGISTRY}.privateRegistry`, err.message, err.hint);
  }
  if (override && !isNamespace(override))
    bad(
      ctx,
      `${REGISTRY}.namespaceOverride`,
      `${quoteValue(override)} is not a registry namespace (lower-case path segments)`,
      'e.g. namespaceOverride: kubesphereio',
    );
  const rewrite = namespaceRewrite(ctx, reg.namespaceRewrite);
  const auths = authEntries(reg.auths);
  const entry = auths[privateRegistry.split('/')[0] as string] ?? {};
  const auth: RegistryAuthFacts = {};
  if (typeof entry.plainHTTP === 'boolean') auth.plainHTTP = entry.plainHTTP;
  if (typeof entry.skipTLSVerify === 'boolean') auth.skipTLSVerify = entry.skipTLSVerify;
  if (entry.certsPath) auth.certsPath = entry.certsPath;
  return {
    privateRegistry,
    ...(override ? { namespaceOverride: override } : {}),
    ...(rewrite ? { namespaceRewrite: rewrite } : {}),
    ...(Object.keys(auth).length > 0 ? { auth } : {}),
    ...(Object.keys(auths).length > 0 ? { auths } : {}),
  };
}

// Read a kk cluster config file (kk create config output) into cluster choices.
export async function loadClusterConfig(file: string): Promise<ClusterFacts> {
  const { source, issues } = parseYaml(await readTextFile(file, 'cluster config'), file);
  if (issues.some((i) => i.severity === 'error')) return { choices: {}, issues };
  const docs = source.docs.map((d: Document.Parsed) => (isMap(d.contents) ? obj(documentValue(d)) : {}));
  const cluster = docs.find((d) => d.kind === 'Cluster');
  if (!cluster)
    throw new KkoError('INVALID_INPUT', `reading cluster config ${file}: no document of kind Cluster`, {
      hint: 'pass the file `kk create config` writes',
    });
  const spec = obj(cluster.spec);
  const choices = fromCluster({ file, issues }, spec);
  const ks = docs.find((d) => d.kind === 'ClusterConfiguration');
  if (ks) {
    choices.addons = [fromKsConfig(ks)];
    choices.localStorage = true;
  }
  const registry = registryFacts({ file, issues }, spec);
  return { choices, issues, ...(registry ? { registry } : {}) };
}
