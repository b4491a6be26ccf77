import type { Command } from 'commander';
import { registerArtifactHave } from './artifact-have.js';
import { registerArtifactPublish } from './artifact-publish.js';
import { registerArtifactReadCommands } from './artifact-read.js';
import { registerArtifactServe } from './artifact-serve.js';
import { addSupplyOptions, type SupplyOptions } from './artifact-supply.js';
import { registerArtifactImagesCommands } from './artifact-images.js';
import { KK_IN_MANIFEST, ZONE_HELP, kkVersionHelp } from './help-texts.js';
import type { CommandContext } from '../context.js';

export type NetworkOptions = {
  zone?: string;
  mirrorConfig?: string;
  cache?: string;
  catalogDir?: string[];
  retries: string;
};

export type ExportOptions = NetworkOptions &
  SupplyOptions & {
    manifest: string[];
    kkVersion?: string;
    output?: string;
    concurrency: string;
    compress?: string;
    dryRun?: boolean;
    keepGoing?: boolean;
    force?: boolean;
    json?: boolean;
    signKey?: string;
    splitSize?: string;
    base?: string;
    have?: string;
  };

export const DEFAULT_OUTPUT = 'kubekey-artifact.tar.gz';
export const DEFAULT_DELTA_OUTPUT = 'kubekey-artifact-delta.tar.gz';

const EXAMPLES = `
Examples:
  $ kko artifact export -m manifest.yaml -o kubekey-artifact.tar.gz
  $ KKZONE=cn kko artifact export -m manifest.yaml --concurrency 16
  $ kko artifact export -m base-k8s.yaml -m addon-network.yaml --mirror-config mirrors.yaml --dry-run
  $ kko artifact export -m manifest.yaml --keep-going --json > export.ndjson
  $ kko artifact export -m manifest.yaml -o - | ssh airgap-bastion 'cat > kubekey-artifact.tar.gz'
  $ kko artifact export -m manifest.yaml --compress zstd -o artifact.tar.zst
  $ kko artifact export -m manifest.yaml --sign-key release.key
  $ kko artifact export -m manifest.yaml --with-referrers   # + signatures, attestations, SBOMs of each image
  $ kko artifact export -m manifest.yaml --split-size 4095M -o art.tar.gz   # art.tar.gz.part-000 … for FAT32 sticks
  $ kko manifest lock -m manifest.yaml && kko artifact export -m manifest.yaml   # held to manifest.lock.json
  $ kko artifact export -m manifest.yaml --update-lock                          # take moved tags on purpose
  $ kko artifact export -m v1.28.12.yaml --base kubekey-artifact-v1.28.8.tar.gz # delta: only what changed
  $ kko artifact export -m v1.28.12.yaml --have have.json -o up-delta.tar.gz    # have.json: kko artifact inventory OLD

A delta (--base / --have) holds only the config and layer blobs and the binaries and ISOs the base lacks, every
manifest and index, and a full kko/inventory.json naming its base (delta.base.inventorySha256) and what it left
out (delta.omitted). Import it into a dir that holds the base (or with --base OLD_ART); push it to a registry that
holds the base, or with --base OLD_ART to take the left-out blobs from there.

Exit codes: 0 artifact written, 1 some image failed (nothing written; re-run resumes) or a tag moved away from
its lock (LOCK_DRIFT: nothing downloaded), 2 invalid input (a malformed lock file, a --lock that is missing).
`;

// Flags every command that touches the network takes.
export function addNetworkOptions(cmd: Command): Command {
  return cmd
    .option('--zone <zone>', ZONE_HELP)
    .option('--mirror-config <file>', 'mirror policy file (default: $KKO_MIRROR_CONFIG)')
    .option('--cache <dir>', 'blob cache (default: $KKO_CACHE_DIR, $XDG_CACHE_HOME/kko, else ~/.cache/kko)')
    .option('--retries <n>', 'retries per request on 5xx, 429, resets and timeouts, with backoff', '4')
    .option(
      '--catalog-dir <dir>',
      'extra add-on descriptors (repeatable; also KKO_CATALOG_DIR)',
      (v: string, p: string[] = []) => [...p, v],
    );
}

export function registerArtifactCommands(program: Command, ctx: CommandContext): void {
  const artifact = program.command('artifact').description('build and inspect KubeKey offline artifacts');
  addSupplyOptions(
    addNetworkOptions(
      artifact
        .command('export')
        .description(
          'fetch every image × arch of the manifest(s) in parallel, verified and resumable, into a KubeKey artifact',
        )
        .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [
          ...p,
          v,
        ])
        .option(
          '-o, --output <file>',
          `artifact file, or - for stdout (default: ${DEFAULT_OUTPUT}; a delta: ${DEFAULT_DELTA_OUTPUT})`,
        )
        .option('--base <old-artifact>', 'write a delta: leave out the blobs, binaries and ISOs this artifact holds')
        .option('--have <have.json>', 'write a delta against a have-list (`kko artifact inventory OLD_ART`)')
        .option('--kk-version <version>', kkVersionHelp(KK_IN_MANIFEST))
        .option('--concurrency <n>', 'parallel images and blobs', '8')
        .option(
          '--compress <type>',
          'gzip (what kk reads; layers stored, not re-deflated) | zstd | none (default: from the -o name: .tar.gz/.tgz, .tar.zst, .tar; else gzip)',
        )
        .option('--dry-run', 'print the plan (every image × arch and its sources) and stop')
        .option('--keep-going', 'finish every other image when one fails, then report them all')
        .option(
          '--sign-key <key>',
          'sign the inventory with this private key (PEM, ECDSA P-256): kko/inventory.json.sig',
        )
        .option(
          '--split-size <size>',
          'write OUT.part-000, OUT.part-001, … of at most SIZE bytes (their cat is the artifact) and OUT.parts.sha256; SIZE: bytes, or binary K/M/G/T (= KiB/MiB/GiB/TiB), at least 1M; 4095M fits FAT32',
        )
        .option('--force', 'overwrite an existing output file (or parts)')
        .option('--json', 'NDJSON events on stdout (also the default when stdout is not a terminal)'),
    ),
  )
    .addHelpText('after', EXAMPLES)
    .action(async (o: ExportOptions) => (await import('../actions/artifact.js')).runExport(o, ctx));
  registerArtifactReadCommands(artifact, ctx);
  registerArtifactServe(artifact, ctx);
  registerArtifactImagesCommands(artifact, ctx);
  registerArtifactHave(artifact, ctx);
  registerArtifactPublish(artifact, ctx);
}
