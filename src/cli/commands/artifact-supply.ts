import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { lockStep, type PreflightStep } from '../../export/index.js';
import type { CommandContext } from '../context.js';
import type { ParsedManifest } from '../../manifest/index.js';
import { lockPaths } from './manifest-lock.js';

// #12 flags of `artifact export` (locked manifests; image signatures) and the preflight steps they make.
export type SupplyOptions = { manifest: string[]; lock?: string; updateLock?: boolean };

export function addSupplyOptions(cmd: Command): Command {
  return cmd
    .option('--lock <file>', 'the manifest lock to hold the export to (default: MANIFEST.lock.json next to the manifest, when there)')
    .option('--update-lock', 'take the digests the tags point at now and rewrite the lock (creates it when missing)');
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

// The lock step: --lock FILE (must exist unless --update-lock), else each manifest's MANIFEST.lock.json that exists;
// with --update-lock every manifest gets one. No lock and no --update-lock: no step, the export is as before.
async function lockStepOf(ctx: CommandContext, o: SupplyOptions, parsed: readonly ParsedManifest[]): Promise<PreflightStep | undefined> {
  const paths = lockPaths(ctx, o);
  const targets = [];
  for (const [i, path] of paths.entries()) {
    if (o.lock === undefined && !o.updateLock && !(await exists(path))) continue;
    targets.push({ path, images: parsed[i]?.manifest.spec.images ?? [] });
  }
  return targets.length > 0 ? lockStep({ targets, update: Boolean(o.updateLock) }) : undefined;
}

// Every preflight step the flags ask for, in order: the lock first (it pins the plan), then the signatures.
export async function supplySteps(ctx: CommandContext, o: SupplyOptions, parsed: readonly ParsedManifest[]): Promise<PreflightStep[]> {
  const lock = await lockStepOf(ctx, o, parsed);
  return [...(lock ? [lock] : [])];
}
