import { ArtifactProblemsError, formatProblem, haveOf } from '../../artifact-read/index.js';
import { KkoError } from '../../errors.js';
import { mergeManifests } from '../../manifest/index.js';
import { manifestEntries, registryHave, registryTarget } from '../../push/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { atLeast, say } from '../output.js';
import { http, planFor } from './push-target.js';
import { readManifests } from './manifest-read.js';
import type { HaveOptions } from '../commands/artifact-have.js';

// `kko artifact inventory --registry HOST -m MANIFEST…`: what the registry holds for the manifests' images, under the
// names push gives them (-f / flags as push), as a have-list for `artifact export --have` (#12 item 3).
async function runRegistryHave(o: HaveOptions, ctx: CommandContext): Promise<void> {
  if (!o.manifest?.length)
    throw new KkoError('INVALID_INPUT', 'artifact inventory --registry: give the manifest(s) of what was pushed (-m)', {
      hint: 'e.g. kko artifact inventory --registry reg.local:5000 -m v1.28.8.yaml > have.json',
    });
  const merged = mergeManifests((await readManifests(ctx, o.manifest)).map((p) => p.manifest));
  const { plan, registry } = await planFor(
    ctx,
    { ...o, kkPushNames: false },
    manifestEntries([merged]),
    merged.spec.kko?.kkVersion,
  );
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 64);
  const { have, absent } = await registryHave(
    registryTarget(registry, { env: ctx.io.env, http: http(o) }),
    plan,
    registry.privateRegistry,
    { concurrency, ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}) },
  );
  if (absent.length > 0 && atLeast(ctx.level ?? 'info', 'warn'))
    say(
      ctx.io,
      'warning',
      `${absent.length} of the ${absent.length + Object.keys(have.refs).length} name(s) are not in the registry (their blobs are not listed): ${absent.map(safeText).join(', ')}`,
    );
  printJson(ctx, have);
}

// `kko artifact inventory ART`: the have-list (JSON on stdout) of what an artifact holds, for deltas (#12 item 3).
export async function runHave(artifact: string | undefined, o: HaveOptions, ctx: CommandContext): Promise<void> {
  if (o.registry !== undefined || o.filename !== undefined) {
    if (artifact !== undefined)
      throw new KkoError('INVALID_INPUT', `artifact inventory: give an artifact or --registry (-f), not both`);
    return runRegistryHave(o, ctx);
  }
  if (artifact === undefined)
    throw new KkoError('INVALID_INPUT', 'artifact inventory: give an artifact, or --registry HOST -m MANIFEST', {
      hint: 'kko artifact inventory OLD_ART > have.json',
    });
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
