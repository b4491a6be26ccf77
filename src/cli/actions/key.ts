import { generateKeyPair, writeKeyPair } from '../../signing/index.js';
import { absPath } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import type { GenerateOptions } from '../commands/key.js';

// `kko key generate`: an ECDSA P-256 key pair for artifact signatures; the private key is never printed.
export async function runGenerate(o: GenerateOptions, ctx: CommandContext): Promise<void> {
  const written = await writeKeyPair(absPath(ctx, o.outputKeyPrefix), generateKeyPair(), Boolean(o.force));
  if (o.json) return printJson(ctx, written);
  ctx.io.stdout(
    `private key: ${written.privatePath} (mode 0600; keep it off the air-gapped side)\npublic key:  ${written.publicPath} (give it to whoever verifies or imports)\n`,
  );
}
