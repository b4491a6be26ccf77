import type { Command } from 'commander';
import { collectList, type CommandContext } from '../context.js';
import { addNetworkOptions, type NetworkOptions } from './artifact.js';
import { KK_IN_MANIFEST, kkVersionHelp } from './help-texts.js';

export type SyncOptions = NetworkOptions & {
  manifest: string[];
  to: string[];
  arch?: string[];
  plainHttp?: boolean;
  certDir?: string;
  skipTlsVerify?: boolean;
  concurrency: string;
  dryRun?: boolean;
  json?: boolean;
  kkVersion?: string;
  kkPushNames?: boolean;
};

const HELP = `
Examples:
  $ kko sync -m manifest.yaml --to registry-a.local:5000 --to registry-b.local:5000
  $ kko sync -m manifest.yaml --to harbor.example.com/kubesphereio --cert-dir /etc/docker/certs.d/harbor.example.com
  $ kko sync -m manifest.yaml --to 10.0.0.5:5000 --plain-http --arch amd64 --dry-run
  $ kko sync -m base.yaml -m addons.yaml --to reg.local:5000 --json > sync.ndjson

Each image goes to <registry>/<namespace>/<name>:<tag>-<arch> per arch and its index to :<tag>, under the names the
NODES WILL PULL, by the rule of \`kko artifact images push\` (see its --help): the namespace is kk's default one for a
kk image (e.g. registry.k8s.io/pause → kubesphere/pause), the image's own for any other; --to HOST/path puts path in
place of the namespace (kk's namespaceOverride). --kk-push-names gives exactly kk's own push names instead (for
kk v3.1.7+ that ignores the path, as kk's push ignores namespaceOverride). The kk release: --kk-version, else the
manifests' spec.kko.kkVersion, ./kk or kk on PATH, else the newest. Sources are read through the
mirror policy as export reads them; every source blob is fetched once (into the --cache) for all targets, and each
target is sent only the blobs it lacks. Credentials: kk's registry.auths in the manifest, then docker / containers
auth files. Exit codes: 0 every target complete, 1 an image failed on some target (named; the others complete),
2 invalid input (a bad --to, --arch or manifest).
`;

export function registerSync(program: Command, ctx: CommandContext): void {
  addNetworkOptions(
    program
      .command('sync')
      .description("copy the manifest's images from their sources straight to one or more registries, with kk's names")
      .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('--to <host[/path]>', 'target registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option(
        '--arch <arch>',
        "amd64 | arm64 (repeatable or comma list; default: the manifests' spec.arches)",
        collectList,
      )
      .option('--plain-http', 'talk plain HTTP to the targets')
      .option('--cert-dir <dir>', "the targets' certs.d folder: *.crt CAs, *.cert + *.key client certificates")
      .option('--skip-tls-verify', "do not check the targets' TLS certificates")
      .option('--concurrency <n>', 'images in flight per target', '4')
      .option('--kk-version <v>', kkVersionHelp(KK_IN_MANIFEST))
      .option('--kk-push-names', "create exactly the names kk's own push creates, even where nodes pull others")
      .option('--dry-run', 'list what would be copied where, without touching the network')
      .option('--json', 'NDJSON events on stdout (resolved, image-done, image-failed, target-done, done)'),
  )
    .addHelpText('after', HELP)
    .action(async (o: SyncOptions) => (await import('../actions/sync.js')).runSync(o, ctx));
}
