import type { Command } from 'commander';
import type { Catalog } from '../../catalog/index.js';
import type { CommandContext } from '../context.js';

export type SignOptions = { artifact: string; key: string; output?: string; json?: boolean; catalog?: Catalog };
type WithCatalog = <T extends object>(o: T) => Promise<T & { catalog?: Catalog }>;

const SIGN_HELP = `
Examples:
  $ kko artifact sign kubekey-artifact.tar.gz --key release.key
  $ kko artifact sign kubekey-artifact.tar.gz --key release.key -o signed.tar.gz

The artifact is verified first as a signature will vouch for it (every file accounted for by kko/inventory.json),
then rewritten in one streaming pass with kko/inventory.json.sig next to the inventory (SHA256SUMS lists it), with
the same compression: the result is what \`artifact export --sign-key\` writes. An existing signature is replaced.
Entry mtimes are SOURCE_DATE_EPOCH (or 0), as export writes them.
Exit codes: 0 signed, 1 the artifact has problems (nothing signed), 2 bad key file or unreadable artifact.
`;

export function registerArtifactSign(artifact: Command, ctx: CommandContext, withCatalog: WithCatalog): void {
  artifact
    .command('sign')
    .description('sign an artifact: add kko/inventory.json.sig (cosign sign-blob format) beside the inventory')
    .argument('<artifact>', 'artifact file written by kko (.tar.gz, .tar.zst or .tar)')
    .requiredOption('--key <key>', 'private key (PKCS#8 or SEC1 PEM, ECDSA P-256; `kko key generate`)')
    .option('-o, --output <file>', 'write the signed artifact here (default: replace the artifact)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', SIGN_HELP)
    .action(async (artifactPath: string, o: { key: string; output?: string; json?: boolean }) =>
      (await import('../actions/artifact-sign.js')).runSign(await withCatalog({ artifact: artifactPath, ...o }), ctx),
    );
}
