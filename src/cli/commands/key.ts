import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export type GenerateOptions = { outputKeyPrefix: string; force?: boolean; json?: boolean };

const GENERATE_HELP = `
Examples:
  $ kko key generate --output-key-prefix release      # release.key (0600) and release.pub
  $ kko artifact export -m manifest.yaml --sign-key release.key
  $ kko artifact verify kubekey-artifact.tar.gz --key release.pub

The private key is unencrypted PKCS#8 PEM; the public key is SPKI PEM ("BEGIN PUBLIC KEY"), the form of cosign.pub.
Existing files are never replaced without --force.
Exit codes: 0 written, 1 could not write, 2 a file exists (no --force).
`;

export function registerKeyCommands(program: Command, ctx: CommandContext): void {
  const key = program.command('key').description('keys for signing artifacts (ECDSA P-256, PEM)');
  key
    .command('generate')
    .description('write a new ECDSA P-256 key pair: PREFIX.key (private, mode 0600) and PREFIX.pub (public)')
    .option('--output-key-prefix <prefix>', 'path prefix of the two files', 'kko')
    .option('--force', 'replace existing PREFIX.key / PREFIX.pub')
    .option('--json', 'print the paths written as JSON')
    .addHelpText('after', GENERATE_HELP)
    .action(async (o: GenerateOptions) => (await import('../actions/key.js')).runGenerate(o, ctx));
}
