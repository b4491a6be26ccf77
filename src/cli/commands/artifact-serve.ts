import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export type ServeCliOptions = {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  htpasswd?: string;
  namespaceOverride?: string;
  key?: string;
  base?: string;
  json?: boolean;
  catalogDir?: string[];
};

const SERVE_HELP = `
Examples:
  $ kko artifact serve kubekey-artifact.tar.gz --listen 127.0.0.1:5000
  $ kko artifact serve kubekey-artifact.tar.gz --listen :5000 --tls-cert reg.crt --tls-key reg.key --htpasswd htpasswd
  $ kko artifact serve 'kubekey-artifact.tar.gz.part-*' --listen 127.0.0.1:0 --json   # prints {"event":"listening",…}
  $ kko artifact serve /data/kk-art --listen 127.0.0.1:5000                            # an imported directory
  $ kko artifact serve kubekey-artifact-delta.tar.gz --base kubekey-artifact-v1.28.8.tar.gz --listen :5000  # a delta
  $ skopeo inspect --tls-verify=false docker://127.0.0.1:5000/calico/cni:v3.27.3
  $ kko mirror render --registry 127.0.0.1:5000 -m manifest.yaml --format containerd --plain-http -o certs.d

A read-only OCI registry straight from the artifact: nothing is unpacked or copied. The artifact is verified first,
as \`kko artifact verify\` does (one pass; an artifact that fails is refused), then blobs are read in place.
Names: the upstream repository paths (calico/cni, library/pause; containerd's ?ns=<upstream host> picks the
registry), which are also the names kk pushes without namespaceOverride, and docker.io/calico/cni. Tags: <tag> is
a multi-arch index (the upstream one when the artifact kept it whole), <tag>-<arch> the per-arch manifest (kk's).
--namespace-override NS also serves NS/<name> (kk's flattened names, e.g. kubesphereio/cni).

Stops on SIGINT/SIGTERM: stops accepting, lets requests in flight finish (up to 10 s), exits 130/143.
An imported directory (kko artifact import ART --dir DIR) is served in place too: pass DIR (or DIR/images, or kk's
kubekey/images); kko/inventory.json beside the layout adds the upstream indexes.

A .tar.gz that kko did not write (GNU tar -z, Go's archive/tar + gzip, kk's own) has its layers deflated: it cannot
be read in place, and serve refuses it (exit 2) naming the fix (kko artifact images push reads it in order as it is):
  $ kko artifact import kubekey-artifact.tar.gz --dir /data/kk-art && kko artifact serve /data/kk-art --listen :5000
  $ gunzip -k kubekey-artifact.tar.gz && kko artifact serve kubekey-artifact.tar --listen :5000

A delta artifact (export --base / --have) is served only with its base (--base OLD_ART, verified too: the blobs
the delta leaves out are read from it); alone it is refused (exit 2).

Exit codes: 1 the artifact fails verification or the address cannot be used, 2 bad flags, a directory that is no
imported artifact, a .tar.gz whose layers are deflated, or a delta without its base.
`;

export function registerArtifactServe(artifact: Command, ctx: CommandContext): void {
  artifact
    .command('serve')
    .description('serve an artifact as a read-only OCI registry, in place (no unpacking)')
    .argument(
      '<artifact>',
      'kko or kk artifact: .tar.gz, .tar.zst, .tar, the first part / a quoted ART.part-* pattern, or an imported directory',
    )
    .requiredOption('--listen <addr>', 'HOST:PORT to listen on (port 0: a free port)', '127.0.0.1:5000')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (with --tls-key)')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option('--htpasswd <file>', 'require basic auth from these users (bcrypt entries, as htpasswd -B writes)')
    .option('--namespace-override <ns>', 'also serve every image as <ns>/<name> (kk namespaceOverride names)')
    .option('--key <pub>', 'require the artifact to be signed with this public key (PEM), as artifact verify --key')
    .option(
      '--catalog-dir <dir>',
      'extra add-on descriptors for verification (repeatable; also KKO_CATALOG_DIR)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--base <old-artifact>', 'serve a delta artifact with its base: the blobs it leaves out are read from OLD')
    .option('--json', 'print the listening address as one JSON line on stdout (for scripts)')
    .addHelpText('after', SERVE_HELP)
    .action(async (art: string, o: ServeCliOptions) => {
      return (await import('../actions/artifact-serve.js')).runServe(art, o, ctx);
    });
}
