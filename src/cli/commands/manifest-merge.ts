import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export type MergeOptions = { output?: string; force?: boolean; name?: string; json?: boolean };

export function registerMerge(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('merge <files...>')
    .description('join layered or kk manifests into one (unions; conflicting component versions are an error)')
    .option('-o, --output <file>', 'write to FILE (default stdout)')
    .option('--force', 'overwrite an existing file')
    .option('--name <name>', "metadata.name of the result (default: the first input's)")
    .option('--json', 'print a JSON summary {file, inputs, images} (needs -o FILE)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko manifest merge layers/*.yaml -o manifest.yaml\n  $ kko manifest merge base-k8s.yaml addon-ks.yaml my-extra-images.yaml > all.yaml\n',
    )
    .action(async (files: string[], o: MergeOptions) =>
      (await import('../actions/manifest-merge.js')).runMerge(files, o, ctx),
    );
}
