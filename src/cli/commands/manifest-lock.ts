import type { Command } from 'commander';
import { KkoError } from '../../errors.js';
import { lockManifests, lockPathFor } from '../../export/index.js';
import { absPath, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { cliLogger } from '../output.js';
import { cacheDirFor } from '../common.js';
import { addNetworkOptions, policyFor, retriesOf, type NetworkOptions } from './artifact.js';
import { readManifests } from './manifest-read.js';

type LockOptions = NetworkOptions & { manifest: string[]; lock?: string; concurrency: string; json?: boolean };

// `kko manifest lock`: every image tag of the manifest(s) → digests (index and per arch), into MANIFEST.lock.json.
async function runLock(o: LockOptions, ctx: CommandContext): Promise<void> {
  const concurrency = parseIntFlag('--concurrency', o.concurrency, 1, 256);
  const paths = lockPaths(ctx, o);
  const parsed = await readManifests(ctx, o.manifest);
  const policy = await policyFor(ctx, o);
  const logger = cliLogger(ctx.io, () => ctx.level ?? 'info');
  const r = await lockManifests({
    manifests: parsed.map((p, i) => ({ manifest: p.manifest, lockPath: paths[i] as string })),
    policy,
    cacheDir: cacheDirFor(ctx, o.cache),
    env: ctx.io.env,
    concurrency,
    http: { retries: retriesOf(o) },
    logger,
    ...(ctx.io.interrupts ? { signal: ctx.io.interrupts() } : {}),
  });
  if (o.json)
    return printJson(ctx, {
      locks: r.locks.map((l) => ({ path: l.path, written: r.written.includes(l.path) })),
      images: r.lock.images,
    });
  for (const l of r.locks) ctx.io.stdout(`${r.written.includes(l.path) ? 'wrote' : 'unchanged'} ${l.path}\n`);
  for (const i of r.lock.images)
    ctx.io.stdout(`  ${i.ref}  ${i.digest}  (${Object.keys(i.arches).sort().join(', ')})\n`);
}

// Where each manifest's lock goes: next to it, or --lock FILE (one manifest only).
export function lockPaths(ctx: CommandContext, o: { manifest: string[]; lock?: string }): string[] {
  if (o.lock === undefined) return o.manifest.map((m) => lockPathFor(absPath(ctx, m)));
  if (o.manifest.length !== 1)
    throw new KkoError('INVALID_INPUT', `--lock ${o.lock}: one lock file for ${o.manifest.length} manifests`, {
      hint: 'drop --lock: each manifest gets MANIFEST.lock.json next to it',
    });
  return [absPath(ctx, o.lock)];
}

const HELP = `
Examples:
  $ kko manifest lock -m manifest.yaml                      # writes manifest.lock.json next to it
  $ kko manifest lock -m manifest.yaml --mirror-config mirrors.yaml
  $ kko artifact export -m manifest.yaml                    # finds manifest.lock.json: refuses a moved tag
  $ kko artifact export -m manifest.yaml --update-lock      # takes the new digests on purpose

The lock (kko.io/v1alpha1 ManifestLock, schema/manifest-lock.schema.json) records, per image, the digest its tag
resolved to (the index of a multi-arch image, else the manifest) and each arch's manifest digest, resolved through
the mirror policy as export does. It is deterministic: same registry content, same bytes.
Exit codes: 0 written (or unchanged), 1 an image could not be resolved, 2 invalid input.
`;

export function registerLock(manifest: Command, ctx: CommandContext): void {
  addNetworkOptions(
    manifest
      .command('lock')
      .description('resolve every image tag of the manifest(s) to digests (index and per arch) into MANIFEST.lock.json')
      .requiredOption(
        '-m, --manifest <file>',
        'manifest file (repeatable; each gets its own lock)',
        (v: string, p: string[] = []) => [...p, v],
      )
      .option('--lock <file>', 'write the lock here instead of next to the manifest (one -m only)')
      .option('--concurrency <n>', 'parallel resolutions', '8')
      .option('--json', 'print the locks written and the locked images as JSON'),
  )
    .addHelpText('after', HELP)
    .action(async (o: LockOptions) => runLock(o, ctx));
}
