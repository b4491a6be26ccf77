import type { Command } from 'commander';
import { catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { readManifests } from './manifest-read.js';

type ImagesOptions = { file: string[]; json?: boolean; catalogDir?: string[] };

async function runImages(o: ImagesOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const parsed = await readManifests(ctx, o.file);
  const rows = new Map<string, string>();
  for (const p of parsed) {
    for (const ref of p.manifest.spec.images ?? []) {
      if (!rows.has(ref)) rows.set(ref, p.manifest.spec.kko?.imageClasses[ref] ?? catalog.classify(ref));
    }
  }
  if (o.json) {
    printJson(
      ctx,
      [...rows].map(([ref, cls]) => ({ ref, class: cls })),
    );
    return;
  }
  const width = Math.max(5, ...[...rows.values()].map((c) => c.length));
  for (const [ref, cls] of rows) ctx.io.stdout(`${cls.padEnd(width)} ${ref}\n`);
}

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
    .action(async (o: ImagesOptions) => runImages(o, ctx));
}
