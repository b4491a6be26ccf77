import type { Command } from 'commander';
import type { Catalog } from '../../catalog/index.js';
import type { CommandContext } from '../context.js';

export type HostFlags = {
  plainHttp?: boolean;
  skipTlsVerify?: boolean;
  certsPath?: string;
  retries: string;
  concurrency: string;
  cache?: string;
  key?: string;
  json?: boolean;
  catalogDir?: string[];
};

const PUBLISH_HELP = `
The artifact goes to HOST/REPOSITORY as ONE OCI index under TAG: every image × arch manifest of the artifact (its
blobs pushed to the same repository, read in place: nothing is unpacked but binaries deflated in a .tar.gz, once,
into the cache), plus an artifact manifest (artifactType application/vnd.kko.artifact.v1) whose layers are the kk
manifest, kko/inventory.json, its signature, SHA256SUMS and every binary and ISO, each titled with its path.
The same artifact always gives the same index digest. Blobs the registry has are skipped; the tag comes last.
Credentials: docker's config.json, then containers' auth.json.

Examples:
  $ kko artifact publish kubekey-artifact.tar.gz oci://registry.example.com/kko/artifact:v1.28.12
  $ kko artifact publish art.tar.zst oci://10.0.0.5:5000/offline/k8s:v1.28.12 --plain-http --json
  $ kko artifact publish art-level1.tar.gz oci://10.0.0.5:5000/offline/k8s:v1.28.12 --plain-http --level 1

--level N is the gzip (1..9) or zstd (1..22) level the artifact was written with, recorded so pull writes the same
bytes; without it the writer's default (gzip 6, zstd 3, what export writes) is recorded. A .tar takes no --level.

Exit codes: 0 published, 1 the artifact fails verification or the registry failed (re-run: only what is missing
is sent), 2 invalid input (a bad oci:// reference, an artifact kko did not write).
`;

const PULL_HELP = `
Writes back the artifact publish pushed, byte for byte (same sha256 as the published file; a split one as the same
parts): every blob is fetched into the cache (verified, resumed after a cut), the archive is written from the cache
with the recorded compression, mtime and split size in a staging directory beside -o, verified as
\`kko artifact verify\` does and against the published sha256, and only then renamed to -o.

Examples:
  $ kko artifact pull oci://registry.example.com/kko/artifact:v1.28.12 -o kubekey-artifact.tar.gz
  $ kko artifact pull oci://10.0.0.5:5000/offline/k8s@sha256:… -o art.tar.zst --plain-http --key release.pub

Exit codes: 0 written, 1 a blob or the rebuilt artifact does not verify (named; nothing written) or the registry
failed, 2 invalid input (a bad oci:// reference, not a kko artifact, unsafe layer titles, -o exists without
--force).
`;

function addHostOptions(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'the registry speaks plain HTTP')
    .option('--skip-tls-verify', 'do not verify the registry certificate')
    .option('--certs-path <dir>', 'CA (*.crt) and client certificates (*.cert/*.key) for the registry')
    .option('--retries <n>', 'retries per request on 5xx, 429, resets and timeouts, with backoff', '4')
    .option('--concurrency <n>', 'blobs in flight', '4')
    .option('--cache <dir>', 'blob cache (default: $KKO_CACHE_DIR, $XDG_CACHE_HOME/kko, else ~/.cache/kko)')
    .option('--catalog-dir <dir>', 'extra catalog dir (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print the result as JSON');
}

export function registerArtifactPublish(
  artifact: Command,
  ctx: CommandContext,
  catalog?: () => Promise<Catalog>,
): void {
  addHostOptions(
    artifact
      .command('publish')
      .description('push the whole artifact to an OCI registry as one OCI index (images + an artifact manifest)')
      .argument('<artifact>', 'the artifact (.tar.gz, .tar.zst, .tar, or ART.part-000)')
      .argument('<target>', 'oci://HOST[:PORT]/REPOSITORY:TAG')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with')
      .option('--level <n>', 'the gzip (1..9) / zstd (1..22) level the artifact was written with (default: 6 / 3)'),
  )
    .addHelpText('after', PUBLISH_HELP)
    .action(async (art: string, target: string, o: HostFlags & { level?: string }) =>
      (await import('../actions/artifact-publish.js')).runPublish(art, target, o, ctx, await catalog?.()),
    );
  addHostOptions(
    artifact
      .command('pull')
      .description('write a published artifact back, byte for byte, from an OCI registry')
      .argument('<source>', 'oci://HOST[:PORT]/REPOSITORY:TAG or …@sha256:<digest>')
      .requiredOption('-o, --output <file>', 'where the artifact goes (a split one: its parts and list beside it)')
      .option('--key <pub>', 'public key (PEM) the artifact must be signed with')
      .option('--force', 'replace an existing artifact at --output'),
  )
    .addHelpText('after', PULL_HELP)
    .action(async (source: string, o: HostFlags & { output: string; force?: boolean }) =>
      (await import('../actions/artifact-publish.js')).runPull(source, o, ctx, await catalog?.()),
    );
}
