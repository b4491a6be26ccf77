import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export type ImagesOptions = { file: string[]; json?: boolean; catalogDir?: string[] };

export function registerImages(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('images')
    .description('list every image of one or more manifests with its class (kk manifests too)')
    .requiredOption('-f, --file <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option(
      '--catalog-dir <dir>',
      'extra add-on descriptors (repeatable; also KKO_CATALOG_DIR)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--json', 'print a JSON array of {ref, class}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko manifest images -f manifest.yaml\n  $ kko manifest images -f manifest-sample.yaml --json | jq -r \'.[] | select(.class=="network") | .ref\'\n',
    )
    .action(async (o: ImagesOptions) => (await import('../actions/manifest-images.js')).runImages(o, ctx));
}
