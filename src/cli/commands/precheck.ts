import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { addNetworkOptions, type NetworkOptions } from './artifact.js';
import { KK_IN_MANIFEST, kkVersionHelp } from './help-texts.js';

export type PrecheckOptions = NetworkOptions & {
  manifest: string[];
  output?: string;
  json?: boolean;
  concurrency: string;
  kkVersion?: string;
};

export function registerPrecheck(program: Command, ctx: CommandContext): void {
  addNetworkOptions(
    program
      .command('precheck')
      .description(
        'before exporting: every image × arch and binary reachable through the mirror policy, the bytes to fetch, free disk',
      )
      .requiredOption('-m, --manifest <file>', 'manifest file (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('-o, --output <file>', 'where the artifact will be written (checked for free space)')
      .option('--concurrency <n>', 'parallel lookups', '8')
      .option('--kk-version <version>', kkVersionHelp(KK_IN_MANIFEST))
      .option('--json', 'print the report as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko precheck -m manifest.yaml -o /data/kubekey-artifact.tar.gz\n  $ KKZONE=cn kko precheck -m manifest.yaml --json\n\nExit codes: 0 all resolvable and enough disk, 1 otherwise, 2 invalid input.\n',
    )
    .action(async (o: PrecheckOptions) => (await import('../actions/precheck.js')).runPrecheck(o, ctx));
}
