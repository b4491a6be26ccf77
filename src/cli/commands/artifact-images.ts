import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { KK_IN_ARTIFACT, kkVersionHelp } from './help-texts.js';

export type TargetOptions = {
  filename?: string;
  registry?: string;
  namespaceOverride?: string;
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  certsPath?: string;
  kkVersion?: string;
  kkPushNames?: boolean;
  catalogDir?: string[];
  retries: string;
  concurrency: string;
  json?: boolean;
};
export type PushOptions = TargetOptions & {
  artifact?: string;
  imagesDir?: string;
  dryRun?: boolean;
  preserveDigests?: boolean;
  requireSignature?: boolean;
  key?: string;
  cache?: string;
  base?: string;
  verifyImages?: boolean;
  imageKey?: string;
  allowUnsigned?: string[];
  recheck?: boolean;
};
export type CheckOptions = TargetOptions & {
  artifact?: string;
  imagesDir?: string;
  manifest?: string[];
  cache?: string;
};

const PUSH_HELP = `
Names: every image goes to <registry>/<namespace>/<name>:<tag>-<arch> per arch, plus a multi-arch index at
<registry>/<namespace>/<name>:<tag>, under the names the NODES WILL PULL at install: <privateRegistry>/
<namespaceOverride, else kk's default namespace (rewritten by namespaceRewrite from kk v3.1.8)>/<name>:<tag>.
Where kk's own push would create other names (kk v3.1.7+ ignores namespaceOverride on push; a cn manifest keeps
kubesphereio) kko says so and pushes the pull names; --kk-push-names reproduces kk's push exactly.
The index at :<tag> is made over the pushed arches (the same digest on every registry); --preserve-digests puts the
upstream index instead (the upstream's digest, as signatures and digest pins expect) where the artifact kept it whole,
i.e. the export took every platform it lists.

Examples:
  $ kko artifact images push -a kubekey-artifact.tar.gz -f config-sample.yaml
  $ kko artifact images push -a kubekey-artifact.tar.gz --registry 10.0.0.5:5000 --plain-http
  $ kko artifact images push -a art.tar.gz --registry dockerhub.kubekey.local --certs-path /etc/docker/certs.d/dockerhub.kubekey.local
  $ kko artifact images push --images-dir kubekey/images -f config-sample.yaml --dry-run
  $ kko artifact images push --images-dir /data/kk-art -f config-sample.yaml   # DIR of kko artifact import --dir DIR
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --preserve-digests
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --json > push.ndjson
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --require-signature --key release.pub
  $ kko artifact images push -a art.tar.gz -f config-sample.yaml --verify-images --image-key cosign.pub

The artifact is read in place (.tar, .tar.gz as kko writes it, .tar.zst, or its parts), never unpacked. A .tar.gz or
.tar.zst another tool compressed (kk's own export, GNU tar czf) is read in order: once for its metadata, once more
sending the blobs the registry lacks as they stream by (two inflate passes; none when nothing is missing). Blobs the
registry has are skipped (HEAD), blobs another repository holds are mounted; an image's tags are put only after
all its blobs and manifests are in, so a re-run after a failure finishes the job and sends only what is missing.
A name whose tag already resolves to exactly the digest the push would put there is skipped with one HEAD (no blob
HEADs): only that digest match counts, and it trusts the registry to have checked the blobs when it took that
manifest (distribution, Harbor and zot do); --recheck HEADs every blob again.
Credentials: registry.auths of -f, then docker's config.json, then containers' auth.json.
A delta (export --base / --have) is pushed only where its base is: every blob it leaves out must already be in
the registry, in each repository that needs it (HEAD, before anything is pushed; each missing one is listed), or
--base OLD_ART gives them (it must be the delta's base; blobs come from it, read in place).
  $ kko artifact images push -a kubekey-artifact-delta.tar.gz --base kubekey-artifact-v1.28.8.tar.gz -f config.yaml
The signatures (export --verify-images) and referrers (export --with-referrers) the artifact (or an imported
directory, --images-dir) carries go to each image's repository once every image is in, with or without
--verify-images (it only re-verifies them first); each is listed under its image, counted on the total line and a
"carried" NDJSON event before "done". One already there is "present" (nothing sent) unless --recheck. A referrers
tag (sha256-<hex>) that holds an index is merged with; one that holds anything else is left as it is, with a
warning. One whose subject the registry does not hold after the push (the index push made, a Docker-typed image's
per-arch manifests, converted to OCI at export) is a warning: push with --preserve-digests to keep those digests.
Exit codes: 0 every image pushed, 1 some image failed (listed; re-run) or a delta's base is not there, 2 invalid input.
`;

const CHECK_HELP = `
Lists every name the nodes will pull (see push --help for the naming) and proves each is in the registry with the
platforms it needs (GET the manifest, platforms from its index; with -a, each platform's digest must be the
artifact's, or the index its upstream one, as --preserve-digests pushes it). Before a push it shows what is missing.
With -a or --images-dir, each signature and referrer carried is checked too (present, missing, different: its tag
holds another manifest, unlisted: not in the referrers index).

Examples:
  $ kko artifact images check -a kubekey-artifact.tar.gz -f config-sample.yaml
  $ kko artifact images check -m manifest.yaml --registry 10.0.0.5:5000 --plain-http --json

Exit codes: 0 every name (and carried manifest) present, 1 some missing or incomplete (listed), 2 invalid input.
`;

const CACHE_FLAG =
  "kko cache dir, where the artifact's verified index is kept so a re-push reads only its metadata (default $KKO_CACHE_DIR, $XDG_CACHE_HOME/kko, ~/.cache/kko)";

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option(
      '-f, --filename <file>',
      'kk Cluster config: registry.privateRegistry, namespaceOverride, namespaceRewrite, auths (credentials, plainHTTP, skipTLSVerify, certsPath)',
    )
    .option('--registry <host[:port][/path]>', 'the registry (kk privateRegistry), over the -f one')
    .option('--namespace-override <ns>', 'kk registry.namespaceOverride, over the -f one')
    .option('--plain-http', 'the registry speaks plain HTTP (kk auths plainHTTP)')
    .option('--skip-tls-verify', 'do not verify the registry certificate (kk auths skipTLSVerify)')
    .option(
      '--certs-path <dir>',
      'CA (*.crt) and client certificates (*.cert/*.key) for the registry (kk auths certsPath)',
    )
    .option('--kk-version <v>', kkVersionHelp(KK_IN_ARTIFACT))
    .option('--kk-push-names', "create exactly the names kk's own push creates, even where nodes pull others")
    .option('--retries <n>', 'retries per request on 5xx, 429, resets and timeouts, with backoff', '4')
    .option('--concurrency <n>', 'images in flight (requests per registry host are bounded too)', '4')
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'NDJSON events (push) or a JSON report (check) on stdout');
}

export function registerArtifactImagesCommands(artifact: Command, ctx: CommandContext): void {
  const images = artifact
    .command('images')
    .alias('image')
    .alias('i')
    .description("push an artifact's images to a registry under the names nodes pull; check they are there");
  addTargetOptions(
    images
      .command('push')
      .description(
        'push every image of an artifact (read in place) to the registry, per arch and as a multi-arch index',
      )
      .option('-a, --artifact <file>', 'the artifact (.tar.gz, .tar.zst, .tar, or ART.part-000)')
      .option(
        '--images-dir <dir>',
        "an imported artifact directory (kko artifact import --dir DIR), its images/ layout, or kk's kubekey/images, instead of -a",
      )
      .option('--dry-run', 'list the names the push would create and stop')
      .option(
        '--preserve-digests',
        "put the upstream index the artifact kept at <name>:<tag> (the upstream's index digest); refused, naming the images, where it is not kept whole",
      )
      .option('--require-signature', 'refuse an artifact that is not signed with --key')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with (implies --require-signature)')
      .option('--base <old-artifact>', 'for a delta (-a): take the blobs it leaves out from this artifact, its base')
      .option(
        '--recheck',
        'HEAD every blob and put every manifest again, even under names whose tag already holds the digest this push puts',
      )

      .option('--cache <dir>', CACHE_FLAG)
      .option(
        '--verify-images',
        "re-verify every image's cosign signature the artifact carries (--image-key) before pushing (they are pushed either way)",
      )
      .option('--image-key <pub>', 'cosign public key (PEM) the images must be signed with (with --verify-images)')
      .option('--allow-unsigned <ref...>', 'images let through unsigned at export (with --verify-images)'),
  )
    .addHelpText('after', PUSH_HELP)
    .action(async (o: PushOptions) => (await import('../actions/artifact-images.js')).runPush(o, ctx));
  addTargetOptions(
    images
      .command('check')
      .description('prove every name the nodes will pull is in the registry with the right platforms')
      .option('-a, --artifact <file>', 'the artifact')
      .option('--images-dir <dir>', 'an imported artifact directory or its images/ layout (OCI layout)')
      .option(
        '-m, --manifest <file>',
        'a manifest instead of an artifact (repeatable)',
        (v: string, p: string[] = []) => [...p, v],
      )
      .option('--cache <dir>', CACHE_FLAG),
  )
    .addHelpText('after', CHECK_HELP)
    .action(async (o: CheckOptions) => (await import('../actions/artifact-images.js')).runCheck(o, ctx));
}
