import type { Command } from 'commander';
import { ArtifactProblemsError, formatProblem } from '../../artifact-read/index.js';
import type { Catalog } from '../../catalog/index.js';
import { KeySigner, loadPrivateKey, signArtifact } from '../../signing/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';

type SignOptions = { artifact: string; key: string; output?: string; json?: boolean; catalog?: Catalog };
type WithCatalog = <T extends object>(o: T) => Promise<T & { catalog?: Catalog }>;

// The signer of --key/--sign-key (a bad key file is invalid input, exit 2, before anything is read or fetched).
export async function signerOf(ctx: CommandContext, key: string): Promise<KeySigner> {
  return new KeySigner(await loadPrivateKey(absPath(ctx, key)));
}

// `kko artifact sign`: verify, then rewrite the artifact with kko/inventory.json.sig (temp name + rename).
async function runSign(o: SignOptions, ctx: CommandContext): Promise<void> {
  const signer = await signerOf(ctx, o.key);
  const catalog = o.catalog ?? (await catalogFor(ctx, undefined));
  try {
    const r = await signArtifact({
      artifact: absPath(ctx, o.artifact),
      ...(o.output ? { output: absPath(ctx, o.output) } : {}),
      signer,
      catalog,
      env: ctx.io.env,
      ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
    });
    if (o.json) return printJson(ctx, r);
    ctx.io.stdout(
      `signed ${r.output} (${r.compression}, ${r.files} files): kko/inventory.json.sig ${r.resigned ? 'replaced' : 'added'}\n`,
    );
  } catch (err) {
    if (err instanceof ArtifactProblemsError)
      for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
    throw err;
  }
}

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
      runSign(await withCatalog({ artifact: artifactPath, ...o }), ctx),
    );
}
