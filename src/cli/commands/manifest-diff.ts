import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { KK_IN_MANIFEST, kkVersionHelp } from './help-texts.js';

export type DiffOptions = { json?: boolean; exitCode?: boolean; kkVersion?: string; catalogDir?: string[] };

export function registerDiff(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('diff <old> <new>')
    .description('images and binaries added, removed or changed between two manifests')
    .option('--kk-version <version>', kkVersionHelp(KK_IN_MANIFEST))
    .option('--catalog-dir <dir>', 'extra add-on descriptors (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print a JSON array of changes')
    .option('--exit-code', 'exit 1 when there are differences, 0 when there are none (like git diff --exit-code)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko manifest diff old.yaml new.yaml\n  $ kko manifest diff manifest-v1.27.yaml manifest-v1.28.yaml --json\n',
    )
    .action(async (a: string, b: string, o: DiffOptions) =>
      (await import('../actions/manifest-diff.js')).runDiff(a, b, o, ctx),
    );
}
