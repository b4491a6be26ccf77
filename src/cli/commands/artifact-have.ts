import type { Command } from 'commander';
import { ArtifactProblemsError, formatProblem, haveOf } from '../../artifact-read/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';

// `kko artifact inventory ART`: the have-list (JSON on stdout) of what an artifact holds, for deltas (#12 item 3).
async function runHave(artifact: string, ctx: CommandContext): Promise<void> {
  try {
    printJson(
      ctx,
      await haveOf(absPath(ctx, artifact), {
        catalog: await catalogFor(ctx, undefined),
        ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
      }),
    );
  } catch (err) {
    if (err instanceof ArtifactProblemsError)
      for (const p of err.problems) ctx.io.stderr(`${safeText(formatProblem(p))}\n`);
    throw err;
  }
}

const HELP = `
Examples:
  $ kko artifact inventory kubekey-artifact-v1.28.8.tar.gz > have.json

Prints what the artifact holds as JSON (kind: ArtifactHave): every blob digest, every images/index.json ref name
with its manifest digest, every other file's sha256 and size, and the sha256 of its kko/inventory.json (which
artifact it was). The artifact is verified first (one streaming pass); a damaged one is refused, since its list
would name content that is not there.
Exit codes: 0 listed, 1 the artifact has problems, 2 unreadable.
`;

export function registerArtifactHave(artifact: Command, ctx: CommandContext): void {
  artifact
    .command('inventory')
    .description('print what an artifact holds (blob digests, refs, file checksums) as JSON, e.g. for deltas')
    .argument('<artifact>', 'artifact file (.tar.gz, .tar.zst or .tar), or a split one')
    .addHelpText('after', HELP)
    .action(async (artifact: string) => runHave(artifact, ctx));
}
