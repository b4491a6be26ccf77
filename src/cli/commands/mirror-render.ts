import type { Command } from 'commander';
import { NODE_CONFIG_FORMATS } from '../../node-config/types.js';
import type { CommandContext } from '../context.js';
import { KK_IN_MANIFEST, kkVersionHelp } from './help-texts.js';

export type RenderFlags = {
  registry?: string;
  manifest: string[];
  format?: string;
  output?: string;
  force?: boolean;
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  ca?: string;
  namespaceOverride?: string;
  cluster?: string;
  kkVersion?: string;
  kkPushNames?: boolean;
  catalogDir?: string[];
};

const HELP = `
Formats and where they go on a node:
  containerd       DIR/<upstream>/hosts.toml (+ DIR/<registry>/hosts.toml): copy DIR to /etc/containerd/certs.d
                   (CRI: config_path = "/etc/containerd/certs.d"); ctr images pull --hosts-dir DIR works too
  docker           DIR/daemon.json: merge into /etc/docker/daemon.json (registry-mirrors serve docker.io only)
  registries.conf  DIR/registries.conf: /etc/containers/registries.conf.d/50-kko.conf (CRI-O, podman)
  kk               DIR/registry.yaml: the registry: block under spec: of the kk Cluster config
Without -o the files go to stdout. Warnings (stderr) name images a format cannot send to the registry.
Names: those \`kko artifact images push\` creates with the same -f / --registry / --namespace-override / --kk-version
(the names nodes pull: namespaceOverride, else kk's default namespace, namespaceRewrite from kk v3.1.8); with
--kk-push-names, those kk's own push creates. An image pushed under another namespace than its own can be reached
through a prefix mirror only with registries.conf; containerd and docker nodes pull it by its private name (kk's
Cluster config sets those), which the registry's own hosts.toml covers.

Examples:
  kko mirror render --registry 10.0.0.5:5000 -m manifest.yaml --format containerd --plain-http -o certs.d
  kko mirror render --registry dockerhub.kubekey.local -m manifest.yaml --format containerd --ca /etc/ssl/registry/ca.crt
  kko mirror render -f config-sample.yaml -m manifest.yaml --format docker
  kko mirror render --registry 10.0.0.5:5000/kubesphere -m manifest.yaml --format registries.conf
`;

// `kko mirror render`: node-side registry config for the manifest's upstreams (library does the rendering).
export function registerMirrorRender(mirror: Command, ctx: CommandContext): void {
  mirror
    .command('render')
    .description(
      "write containerd / docker / registries.conf / kk config that sends the manifest's registries to the local one",
    )
    .option(
      '--registry <host[:port][/path]>',
      "the local registry (kk privateRegistry); default: the --cluster config's",
    )
    .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--format <format>', NODE_CONFIG_FORMATS.join(' | '))
    .option('-o, --output <dir>', 'write the files under DIR (default stdout)')
    .option('--force', 'overwrite existing files')
    .option('--plain-http', 'the registry speaks HTTP')
    .option('--skip-tls-verify', "do not verify the registry's certificate")
    .option('--ca <file>', "absolute path of the registry's CA certificate on the nodes")
    .option('--namespace-override <ns>', 'kk registry.namespaceOverride the images were pushed with')
    .option(
      '-f, --cluster <file>',
      'kk Cluster config: privateRegistry, namespaceOverride, auths (plainHTTP, skipTLSVerify, certsPath)',
    )
    .option(
      '--kk-version <v>',
      `${kkVersionHelp(KK_IN_MANIFEST)}; its naming: namespaceOverride on push ≤ v3.1.6, namespaceRewrite from v3.1.8`,
    )
    .option(
      '--kk-push-names',
      "the images were pushed by kk itself (or kko push --kk-push-names): kk's push names, not the ones nodes pull",
    )
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .addHelpText('after', HELP)
    .action(async (flags: RenderFlags) => (await import('../actions/mirror-render.js')).renderCommand(ctx, flags));
}
