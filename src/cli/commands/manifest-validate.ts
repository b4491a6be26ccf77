import type { Command } from 'commander';
import { addNetworkOptions, type NetworkOptions } from './artifact.js';
import type { CommandContext } from '../context.js';
import { KK_IN_MANIFEST, kkVersionHelp } from './help-texts.js';

export type ValidateOptions = NetworkOptions & {
  file: string[];
  cluster?: string;
  kkVersion?: string;
  json?: boolean;
  online?: boolean;
};

const EXAMPLES = `
Examples:
  $ kko manifest validate -f manifest.yaml
  $ kko manifest validate -f base-k8s.yaml -f addon-network.yaml --kk-version v3.1.12
  $ kko manifest validate -f manifest-sample.yaml --cluster config-sample.yaml --json
  $ KKZONE=cn kko manifest validate -f manifest.yaml --online

Exit codes: 0 valid (warnings allowed), 2 errors in the manifest, 1 only --online checks failed.
`;

export function registerValidate(manifest: Command, ctx: CommandContext): void {
  const cmd = manifest
    .command('validate')
    .description('check a manifest: schema, kk rules, versions, completeness against what kk will pull')
    .requiredOption(
      '-f, --file <file>',
      'manifest file (repeatable; layers are checked together)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--cluster <file>', 'kk cluster config (kk create config) to check completeness against')
    .option('--kk-version <version>', kkVersionHelp(KK_IN_MANIFEST))
    .option('--online', 'also resolve every image × arch through the mirror policy, estimate size, check free disk')
    .option('--json', 'print the issues as JSON');
  addNetworkOptions(cmd)
    .addHelpText('after', EXAMPLES)
    .action(async (o: ValidateOptions) => (await import('../actions/manifest-validate.js')).runValidate(o, ctx));
}
