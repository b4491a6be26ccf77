import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { addTargetOptions, type TargetOptions } from './artifact-images.js';

export type HaveOptions = TargetOptions & { manifest?: string[] };

const HELP = `
Examples:
  $ kko artifact inventory kubekey-artifact-v1.28.8.tar.gz > have.json
  $ kko artifact inventory --registry reg.local:5000 -m v1.28.8.yaml > have.json
  $ kko artifact inventory -f config-sample.yaml -m v1.28.8.yaml > have.json   # registry from the kk Cluster config

Prints what the artifact holds as JSON (kind: ArtifactHave): every blob digest, every images/index.json ref name
with its manifest digest, every other file's sha256 and size, and the sha256 of its kko/inventory.json (which
artifact it was). The artifact is verified first (one streaming pass); a damaged one is refused, since its list
would name content that is not there.
--registry HOST[/path] (or -f's privateRegistry): what the registry holds for the images of the manifest(s) -m, under
the names push gives them (same flags as artifact images push): for each per-arch name, its manifest digest (refs)
and every config and layer blob found in that repository (HEAD). Names not in the registry are listed on stderr.
A registry has no inventory: base.inventorySha256 is the sha256 of the refs (as JSON). Files are not listed.
Exit codes: 0 listed, 1 the artifact has problems or the registry failed, 2 unreadable or bad flags.
`;

export function registerArtifactHave(artifact: Command, ctx: CommandContext): void {
  addTargetOptions(
    artifact
      .command('inventory')
      .description(
        'print what an artifact or a registry holds (blob digests, refs, file checksums) as JSON, for deltas',
      )
      .argument('[artifact]', 'artifact file (.tar.gz, .tar.zst or .tar), or a split one; or --registry')
      .option(
        '-m, --manifest <file>',
        'with --registry: the manifest(s) whose images were pushed (repeatable)',
        (v: string, p: string[] = []) => [...p, v],
      ),
  )
    .addHelpText('after', HELP)
    .action(async (artifact: string | undefined, o: HaveOptions) =>
      (await import('../actions/artifact-have.js')).runHave(artifact, o, ctx),
    );
}
