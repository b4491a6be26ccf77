import type { Command } from 'commander';
import { diffManifests } from '../../manifest/index.js';
import { catalogFor, resolveKkVersion } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../io.js';
import { readManifests } from './manifest-read.js';

type DiffOptions = { json?: boolean; exitCode?: boolean; kkVersion?: string; catalogDir?: string[] };

async function runDiff(oldFile: string, newFile: string, o: DiffOptions, ctx: CommandContext): Promise<void> {
  const catalog = await catalogFor(ctx, o.catalogDir);
  const [a, b] = await readManifests(ctx, [oldFile, newFile]);
  if (!a || !b) return;
  const kk = await resolveKkVersion(
    ctx,
    catalog,
    o.kkVersion,
    b.manifest.spec.kko?.kkVersion ?? a.manifest.spec.kko?.kkVersion,
  );
  const changes = diffManifests(catalog, catalog.profile(kk), a.manifest, b.manifest);
  if (o.exitCode && changes.length > 0) ctx.setExit(EXIT_FAILURE); // like git diff --exit-code
  if (o.json) {
    printJson(ctx, changes);
    return;
  }
  const mark = { added: '+', removed: '-', changed: '~' } as const;
  for (const c of changes) {
    const detail = c.change === 'changed' ? `${c.from} -> ${c.to}` : (c.to ?? c.from);
    ctx.io.stdout(`${mark[c.change]} ${c.kind.padEnd(6)} ${c.name} ${detail}\n`);
  }
  if (changes.length === 0) ctx.io.stdout('no differences in images or binaries\n');
}

export function registerDiff(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('diff <old> <new>')
    .description('images and binaries added, removed or changed between two manifests')
    .option(
      '--kk-version <version>',
      'kk release used to list binaries (default: recorded, else kk on PATH, else newest)',
    )
    .option('--catalog-dir <dir>', 'extra add-on descriptors (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print a JSON array of changes')
    .option('--exit-code', 'exit 1 when there are differences, 0 when there are none (like git diff --exit-code)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko manifest diff old.yaml new.yaml\n  $ kko manifest diff manifest-v1.27.yaml manifest-v1.28.yaml --json\n',
    )
    .action(async (a: string, b: string, o: DiffOptions) => runDiff(a, b, o, ctx));
}
