import type { Command } from 'commander';
import { CNIS, ETCD_TYPES, LBS } from '../../catalog/choices.js';
import { collectList, type CommandContext } from '../context.js';
import { ZONE_HELP, kkVersionHelp } from './help-texts.js';

export type CreateOptions = {
  withKubernetes?: string[];
  arch?: string[];
  cni?: string[];
  lb?: string;
  withLocalStorage?: boolean;
  nodelocaldns?: boolean;
  kubeProxy?: boolean;
  cluster?: string;
  etcdType?: string;
  containerManager?: string;
  calicoTypha?: boolean;
  withKata?: boolean;
  withNfd?: boolean;
  withRegistry?: boolean;
  withKubesphere?: string | boolean;
  withoutKubesphere?: boolean;
  withoutKubesphare?: boolean;
  ksComponents?: string[];
  addon?: string[];
  kkVersion?: string;
  zone?: string;
  name: string;
  output?: string;
  force?: boolean;
  split?: string;
  catalogDir?: string[];
  json?: boolean;
};

// --no-nodelocaldns / --no-kube-proxy default to true; only a value typed on the command line overrides --cluster.
function explicitOnly(o: CreateOptions, cmd: Command): CreateOptions {
  const out = { ...o };
  for (const key of ['nodelocaldns', 'kubeProxy'] as const)
    if (cmd.getOptionValueSource(key) !== 'cli') delete out[key];
  return out;
}

const EXAMPLES = `
Examples:
  $ kko manifest create --with-kubernetes v1.28.12                       # k8s only, calico, amd64, to stdout
  $ kko manifest create --with-kubernetes v1.28.12 --arch amd64,arm64 --cni cilium --lb kube-vip -o manifest.yaml
  $ KKZONE=cn kko manifest create --with-kubernetes v1.28.12 --kk-version v3.1.12
  $ kko manifest create --cluster config-sample.yaml -o manifest.yaml        # choices from kk create config's file
  $ kko manifest create --cluster config-sample.yaml --arch amd64,arm64     # … with a flag overriding the file
  $ kko manifest create --with-kubernetes v1.26.15 --with-kubesphere v3.4.1 --ks-components devops,logging
  $ kko manifest create --with-kubernetes v1.28.12 --split layers/          # base-k8s.yaml, addon-network.yaml, …
  $ kko manifest create --with-kubernetes v1.28.12 --catalog-dir ./addons --addon my-addon@v1.0.0
`;

export function registerCreate(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('create')
    .description('write a lean KubeKey Manifest with exactly the images and binaries the cluster needs')
    .option('--cluster <file>', 'take every choice from a kk cluster config (kk create config), flags override')
    .option('--with-kubernetes <versions>', 'Kubernetes version(s), comma-separated (v optional)', collectList)
    .option('--arch <arch>', 'amd64 | arm64 (repeatable or comma list; default amd64)', collectList)
    .option(
      '--cni <plugin>',
      `CNI: ${CNIS.join(' | ')} (add multus on top, e.g. calico,multus; default calico)`,
      collectList,
    )
    .option('--lb <type>', `internal load balancer: ${LBS.join(' | ')} (default none)`)
    .option('--with-local-storage', 'OpenEBS local PV (implied by KubeSphere)')
    .option('--no-nodelocaldns', 'without NodeLocal DNSCache')
    .option('--no-kube-proxy', 'without kube-proxy')
    .option('--etcd-type <type>', `${ETCD_TYPES.join(' | ')} (default kubekey; kubeadm adds the etcd image)`)
    .option(
      '--container-manager <cm>',
      'containerd | docker (default as kk create config: containerd from v1.24, docker below)',
    )
    .option('--calico-typha', 'calico typha (kk enables it above 50 nodes)')
    .option('--with-kata', 'Kata Containers (containerd only)')
    .option('--with-nfd', 'node-feature-discovery')
    .option('--with-registry', 'package docker-registry, harbor and docker-compose (kk init registry)')
    .option('--with-kubesphere [version]', 'add KubeSphere as a plugin (default: newest known)')
    .option(
      '--ks-components <groups>',
      'KubeSphere component groups (core and monitoring always; e.g. devops,logging,grafana)',
      collectList,
    )
    .option('--without-kubesphere', 'Kubernetes only (the default)')
    .option('--without-kubesphare', '(alias of --without-kubesphere)')
    .option(
      '--addon <name@version[:groups]>',
      'an add-on component from the catalog or --catalog-dir (repeatable)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--catalog-dir <dir>',
      'extra add-on descriptors (repeatable; also KKO_CATALOG_DIR)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--kk-version <version>', kkVersionHelp())
    .option('--zone <zone>', ZONE_HELP)
    .option('--name <name>', 'metadata.name', 'sample')
    .option('-o, --output <file>', 'write to FILE (default stdout)')
    .option('--force', 'overwrite existing files')
    .option('--split <dir>', 'write layered manifests (base-k8s.yaml, addon-*.yaml) into DIR')
    .option('--json', 'print a JSON summary {file(s), images} (needs -o FILE or --split DIR)')
    .addHelpText('after', EXAMPLES)
    .action(async (o: CreateOptions, cmd: Command) =>
      (await import('../actions/manifest-create.js')).runCreate(explicitOnly(o, cmd), ctx),
    );
  manifest.commands
    .find((c) => c.name() === 'create')
    ?.options.find((opt) => opt.long === '--without-kubesphare')
    ?.hideHelp();
}
