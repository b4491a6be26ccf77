import { KkoError } from '../../errors.js';
import { lockManifests, lockPathFor } from '../../export/index.js';
import { absPath, parseIntFlag } from '../common.js';
import { printJson, type CommandContext } from '../context.js';
import { cliLogger } from '../output.js';
import { cacheDirFor } from '../common.js';
import { policyFor, retriesOf } from './network.js';
import { readManifests } from './manifest-read.js';
import type { LockOptions } from '../commands/manifest-lock.js';

// `kko manifest lock`: every image tag of the manifest(s) → digests (index and per arch), into MANIFEST.lock.json.
export async function runLock(o: LockOptions, ctx: CommandContext): Promise<void> {
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
