import { loadMirrorPolicy, type EffectivePolicy } from '../../mirror/index.js';
import { planManifestDownloads, type DownloadPlan } from '../../download/index.js';
import type { Catalog, KubeKeyProfile } from '../../catalog/index.js';
import type { ParsedManifest } from '../../manifest/index.js';
import { parseIntFlag, resolveKkVersion } from '../common.js';
import type { NetworkOptions } from '../commands/artifact.js';
import type { CommandContext } from '../context.js';

// What every networked action (export, sync, precheck, manifest lock) reads from its flags, in a module of its own so
// that those actions do not load the export action to get them.

// The binaries and ISOs of the manifests (planManifestDownloads), the kk release picked as every command picks it.
export async function downloadsFor(
  ctx: CommandContext,
  catalog: Catalog,
  parsed: ParsedManifest[],
  kkVersion: string | undefined,
): Promise<{ downloads: DownloadPlan; profile?: KubeKeyProfile }> {
  return planManifestDownloads(catalog, parsed, (recorded) => resolveKkVersion(ctx, catalog, kkVersion, recorded));
}

// The mirror policy of --zone / --mirror-config (else $KKZONE / $KKO_MIRROR_CONFIG).
export function policyFor(ctx: CommandContext, o: NetworkOptions): Promise<EffectivePolicy> {
  return loadMirrorPolicy({
    ...(o.zone !== undefined ? { zone: o.zone } : {}),
    ...(o.mirrorConfig !== undefined ? { configFile: o.mirrorConfig } : {}),
    env: ctx.io.env,
    cwd: ctx.io.cwd,
  });
}

export function retriesOf(o: NetworkOptions): number {
  return parseIntFlag('--retries', o.retries, 0, 20);
}
