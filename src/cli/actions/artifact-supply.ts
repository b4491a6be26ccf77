import { KkoError } from '../../errors.js';
import { lockStep, referrersStep, verifyImagesStep, type PreflightStep } from '../../export/index.js';
import { loadPublicKey } from '../../signing/index.js';
import { pathExists } from '../../util/path-exists.js';
import { absPath } from '../common.js';
import type { CommandContext } from '../context.js';
import type { ParsedManifest } from '../../manifest/index.js';
import { lockPaths } from './manifest-lock.js';
import type { SupplyOptions } from '../commands/artifact-supply.js';

// The lock step: --lock FILE (must exist unless --update-lock), else each manifest's MANIFEST.lock.json that exists;
// with --update-lock every manifest gets one. No lock and no --update-lock: no step, the export is as before.
async function lockStepOf(
  ctx: CommandContext,
  o: SupplyOptions,
  parsed: readonly ParsedManifest[],
): Promise<PreflightStep | undefined> {
  const paths = lockPaths(ctx, o);
  const targets = [];
  for (const [i, path] of paths.entries()) {
    if (o.lock === undefined && !o.updateLock && !(await pathExists(path))) continue;
    targets.push({ path, images: parsed[i]?.manifest.spec.images ?? [] });
  }
  return targets.length > 0 ? lockStep({ targets, update: Boolean(o.updateLock) }) : undefined;
}

// --verify-images --key PUB [--allow-unsigned REF…]; a missing or unreadable key is invalid input (exit 2) up front.
async function verifyStepOf(ctx: CommandContext, o: SupplyOptions): Promise<PreflightStep | undefined> {
  if (!o.verifyImages) {
    if (o.key !== undefined || o.allowUnsigned !== undefined)
      throw new KkoError(
        'INVALID_INPUT',
        `${o.key !== undefined ? '--key' : '--allow-unsigned'}: only with --verify-images`,
        { hint: 'add --verify-images (to sign the artifact itself, use --sign-key)' },
      );
    return undefined;
  }
  if (o.key === undefined)
    throw new KkoError('INVALID_INPUT', '--verify-images: needs --key PUB (the cosign public key)', {
      hint: 'pass --key cosign.pub',
    });
  return verifyImagesStep({
    key: await loadPublicKey(absPath(ctx, o.key)),
    keyName: o.key,
    ...(o.allowUnsigned ? { allowUnsigned: o.allowUnsigned } : {}),
  });
}

// Every preflight step the flags ask for, in order: the lock first (it pins the plan), then the signatures, then the
// referrers (of the digests the lock pinned).
export async function supplySteps(
  ctx: CommandContext,
  o: SupplyOptions,
  parsed: readonly ParsedManifest[],
): Promise<PreflightStep[]> {
  const lock = await lockStepOf(ctx, o, parsed);
  const verify = await verifyStepOf(ctx, o);
  return [...(lock ? [lock] : []), ...(verify ? [verify] : []), ...(o.withReferrers ? [referrersStep()] : [])];
}
