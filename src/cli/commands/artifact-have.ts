import type { Command } from 'commander';
import { ArtifactProblemsError, formatProblem, haveOf } from '../../artifact-read/index.js';
import { KkoError } from '../../errors.js';
import { mergeManifests } from '../../manifest/index.js';
import { manifestEntries, registryHave, registryTarget } from '../../push/index.js';
import { safeText } from '../../util/safe-text.js';
import { absPath, catalogFor, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { atLeast, say } from '../output.js';
import { addTargetOptions, http, planFor, type TargetOptions } from './artifact-images.js';
import { readManifests } from './manifest-read.js';

type HaveOptions = TargetOptions & { manifest?: string[] };

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
async function runHave(artifact: string | undefined, o: HaveOptions, ctx: CommandContext): Promise<void> {
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

const HELP = `
Examples:
  $ kko artifact inventory kubekey-artifact-v1.28.8.tar.gz > have.json
  $ kko artifact inventory --registry reg.local:5000 -m v1.28.8.yaml > have.json
  $ kko artifact inventory -f config-sample.yaml -m v1.28.8.yaml > have.json   # registry from the kk Cluster config

Prints what the artifact holds as JSON (kind: ArtifactHave): every blob digest, every images/index.json ref name
with its manifest digest, every other file's sha256 and size, and the sha256 of its kko/inventory.json (which
artifact it was). The artifact is verified first (one streaming pass); a damaged one is refused, since its list
would name content that is not there.
--registry HOST[/path] (or -f's privateRegistry): what the registry holds for the images of the manifest(s) -m, under
the names push gives them (same flags as artifact images push): for each per-arch name, its manifest digest (refs)
and every config and layer blob found in that repository (HEAD). Names not in the registry are listed on stderr.
A registry has no inventory: base.inventorySha256 is the sha256 of the refs (as JSON). Files are not listed.
Exit codes: 0 listed, 1 the artifact has problems or the registry failed, 2 unreadable or bad flags.
`;

export function registerArtifactHave(artifact: Command, ctx: CommandContext): void {
  addTargetOptions(
    artifact
      .command('inventory')
      .description(
        'print what an artifact or a registry holds (blob digests, refs, file checksums) as JSON, for deltas',
      )
      .argument('[artifact]', 'artifact file (.tar.gz, .tar.zst or .tar), or a split one; or --registry')
      .option(
        '-m, --manifest <file>',
        'with --registry: the manifest(s) whose images were pushed (repeatable)',
        (v: string, p: string[] = []) => [...p, v],
      ),
  )
    .addHelpText('after', HELP)
    .action(async (artifact: string | undefined, o: HaveOptions) => runHave(artifact, o, ctx));
}
