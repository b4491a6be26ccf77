import { KkoError } from '../errors.js';
import type { Zone } from '../mirror/zones.js';
import type { Arch } from './schema.js';
import { compareVersions, minorOf } from '../util/version.js';

export { ZONES } from '../mirror/zones.js';
export type { Zone };

export const CNIS = ['calico', 'cilium', 'flannel', 'kube-ovn', 'hybridnet', 'multus', 'none'] as const;
export type Cni = (typeof CNIS)[number];
export const LBS = ['haproxy', 'kube-vip', 'none'] as const;
export type LoadBalancer = (typeof LBS)[number];
export const ETCD_TYPES = ['kubekey', 'kubeadm', 'external'] as const;
export type EtcdType = (typeof ETCD_TYPES)[number];
export const CONTAINER_MANAGERS = ['containerd', 'docker'] as const;
export type ContainerManager = (typeof CONTAINER_MANAGERS)[number];

export type AddonChoice = { name: string; version: string; groups: string[] };

// Everything that decides which images and binaries a cluster needs. Recorded in the manifest (spec.kko).
export type ClusterChoices = {
  kkVersion: string;
  zone: Zone;
  kubernetes: string[];
  arches: Arch[];
  cni: Cni[];
  lb: LoadBalancer;
  localStorage: boolean;
  nodelocaldns: boolean;
  kubeProxy: boolean;
  etcdType: EtcdType;
  containerManager: ContainerManager;
  calicoTypha: boolean;
  kata: boolean;
  nfd: boolean;
  registry: boolean;
  addons: AddonChoice[];
};

// The container manager `kk create config` writes: containerd from Kubernetes v1.24 (dockershim removed), docker
// below (cmd/kk/pkg/config/generate.go:62-68). For several versions the newest decides. A Cluster config that
// leaves the field empty means docker (SetDefaultClusterSpec); cluster-config.ts applies that rule instead.
export function defaultContainerManager(kubernetes: readonly string[]): ContainerManager {
  const newest = [...kubernetes].sort(compareVersions).pop();
  return newest !== undefined && compareVersions(minorOf(newest), 'v1.24') >= 0 ? 'containerd' : 'docker';
}

// kk's defaults for a k8s-only cluster (kk create config): calico, no internal LB, nodelocaldns and kube-proxy on,
// and the container manager kk create config picks for the Kubernetes version.
export function defaultChoices(kkVersion: string, kubernetes: string[]): ClusterChoices {
  return {
    kkVersion,
    zone: 'default',
    kubernetes,
    arches: ['amd64'],
    cni: ['calico'],
    lb: 'none',
    localStorage: false,
    nodelocaldns: true,
    kubeProxy: true,
    etcdType: 'kubekey',
    containerManager: defaultContainerManager(kubernetes),
    calicoTypha: false,
    kata: false,
    nfd: false,
    registry: false,
    addons: [],
  };
}

// A combination kk cannot install. `field` is the ClusterChoices field at fault (the CLI names its flag, validate
// its spec.kko.cluster path); `code` is stable, the message the library's own wording.
export type ChoiceProblem = {
  code: 'MULTUS_ALONE' | 'TWO_CNIS' | 'TYPHA_WITHOUT_CALICO' | 'KATA_WITHOUT_CONTAINERD';
  field: 'cni' | 'calicoTypha' | 'kata';
  message: string;
  hint?: string;
};

type Checked = Pick<ClusterChoices, 'cni' | 'calicoTypha' | 'kata' | 'containerManager'>;

// The cluster-wide rules on choices: multus runs on top of exactly one CNI, one CNI plugin per cluster, calico typha
// needs calico, kata needs containerd (kk deploys kata only with containerd or crio, and kko packages no crio).
export function choiceProblems(c: Checked): ChoiceProblem[] {
  const out: ChoiceProblem[] = [];
  const plugins = c.cni.filter((x) => x !== 'multus');
  if (c.cni.includes('multus') && plugins.filter((x) => x !== 'none').length !== 1) {
    out.push({ code: 'MULTUS_ALONE', field: 'cni', message: 'multus runs on top of exactly one other CNI', hint: 'add one CNI plugin, e.g. cni: [calico, multus]' });
  } else if (plugins.length > 1) {
    out.push({ code: 'TWO_CNIS', field: 'cni', message: `one CNI plugin per cluster (got ${c.cni.join(', ')})` });
  }
  if (c.calicoTypha && !c.cni.includes('calico')) out.push({ code: 'TYPHA_WITHOUT_CALICO', field: 'calicoTypha', message: `calico typha needs the calico CNI (cni is ${c.cni.join(', ')})` });
  if (c.kata && c.containerManager !== 'containerd') {
    out.push({ code: 'KATA_WITHOUT_CONTAINERD', field: 'kata', message: `kata needs the containerd container manager, not ${c.containerManager} (kk deploys kata only with containerd or crio)` });
  }
  return out;
}

// Throws INVALID_INPUT naming every problem of choiceProblems; what buildManifest runs before selecting images.
export function assertChoices(c: Checked): void {
  const problems = choiceProblems(c);
  const first = problems[0];
  if (!first) return;
  const hint = problems.find((p) => p.hint)?.hint;
  throw new KkoError('INVALID_INPUT', `cluster choices: ${problems.map((p) => p.message).join('; ')}`, hint ? { hint } : undefined);
}
