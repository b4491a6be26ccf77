import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export type VersionOptions = { json?: boolean; catalogDir?: string[] };

export function registerVersion(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description("kko's version, the kk releases it knows and the Kubernetes versions each supports")
    .option('--catalog-dir <dir>', 'extra add-on descriptors (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print JSON: {version, kk: [{version, defaultKubernetes, kubernetes, arm64Kubernetes?}]}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kko version\n  $ kko version --json | jq -r \'.kk[] | select(.version=="v3.1.5") | .kubernetes[]\'\n',
    )
    .action(async (o: VersionOptions) => (await import('../actions/version.js')).runVersion(o, ctx));
}
