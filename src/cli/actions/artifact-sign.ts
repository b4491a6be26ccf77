import { ArtifactProblemsError, formatProblem } from '../../artifact-read/index.js';
import { KeySigner, loadPrivateKey, signArtifact } from '../../signing/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import type { SignOptions } from '../commands/artifact-sign.js';

// The signer of --key/--sign-key (a bad key file is invalid input, exit 2, before anything is read or fetched).
export async function signerOf(ctx: CommandContext, key: string): Promise<KeySigner> {
  return new KeySigner(await loadPrivateKey(absPath(ctx, key)));
}

// `kko artifact sign`: verify, then rewrite the artifact with kko/inventory.json.sig (temp name + rename).
export async function runSign(o: SignOptions, ctx: CommandContext): Promise<void> {
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
