import { kkNamingOf, loadClusterConfig, type RegistryFacts } from '../../manifest/index.js';
import { planPush, targetRegistry, type PushPlan, type PushSource } from '../../push/index.js';
import { absPath, catalogFor, parseIntFlag, resolveKkVersion } from '../common.js';
import type { CommandContext } from '../context.js';
import { atLeast, say } from '../output.js';
import type { TargetOptions } from '../commands/artifact-images.js';

// The target of `artifact images push|check` and `artifact inventory --registry` from their flags, in a module of its
// own so that `artifact inventory` does not load the push action to get it.

// The plan: the registry block (-f, flags), the kk release (flag, inventory, else the usual default) and the entries.
export async function planFor(
  ctx: CommandContext,
  o: TargetOptions,
  entries: PushSource['entries'],
  recorded: string | undefined,
): Promise<{ plan: PushPlan; registry: RegistryFacts }> {
  const file = o.filename ? absPath(ctx, o.filename) : undefined;
  const cluster = file ? { file, facts: await loadClusterConfig(file) } : undefined;
  const registry = targetRegistry(cluster, targetFlags(ctx, o));
  const catalog = await catalogFor(ctx, o.catalogDir);
  const kkVersion = await resolveKkVersion(ctx, catalog, o.kkVersion, recorded);
  const features = catalog.profile(kkVersion).features;
  if (registry.namespaceRewrite && !features.namespaceRewrite && atLeast(ctx.level ?? 'info', 'warn'))
    say(
      ctx.io,
      'warning',
      `kk ${kkVersion} ignores registry.namespaceRewrite (it arrived in v3.1.8): names are made without it`,
    );
  const plan = planPush({
    entries,
    registry,
    kk: { ...kkNamingOf(features), version: kkVersion },
    mode: o.kkPushNames ? 'kk' : 'pull',
    kkRepository: (r) => catalog.kkRepository(r),
  });
  return { plan, registry };
}

export function http(o: TargetOptions): { retries: number; maxConcurrency: number } {
  return { retries: parseIntFlag('--retries', o.retries, 0, 20), maxConcurrency: 16 };
}

function targetFlags(ctx: CommandContext, o: TargetOptions): Parameters<typeof targetRegistry>[1] {
  return {
    ...(o.registry !== undefined ? { registry: o.registry } : {}),
    ...(o.namespaceOverride !== undefined ? { namespaceOverride: o.namespaceOverride } : {}),
    plainHTTP: Boolean(o.plainHttp),
    skipTLSVerify: Boolean(o.skipTlsVerify),
    ...(o.certsPath ? { certsPath: absPath(ctx, o.certsPath) } : {}),
  };
}
