import { BlobCache } from '../cache/index.js';
import type { Logger } from '../log.js';
import type { KkManifest } from '../manifest/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import { Semaphore, type CredentialProvider, type HttpOptions } from '../registry/index.js';
import { ClientPool, manifestAuths } from './clients.js';
import { formatLock, lockOf, resolveLock, writeLocks, type LockTarget, type ManifestLock } from './lock.js';
import { planExport } from './plan.js';

export type LockManifestsOptions = {
  manifests: ReadonlyArray<{ manifest: KkManifest; lockPath: string }>;
  policy: EffectivePolicy;
  cacheDir: string; // image configs land here (the arch check reads them), where a later export finds them
  env: NodeJS.ProcessEnv;
  concurrency?: number;
  http?: HttpOptions;
  credentials?: CredentialProvider;
  logger?: Logger;
  write?: boolean; // false: resolve only (print the lock); default true
  signal?: AbortSignal;
};

export type LockManifestsReport = {
  lock: ManifestLock;
  locks: Array<{ path: string; text: string }>;
  written: string[];
};

// `kko manifest lock`: resolve every image × arch of the manifests through the mirror policy (as export does) and
// write each manifest's lock next to it (unchanged bytes are not rewritten).
export async function lockManifests(opts: LockManifestsOptions): Promise<LockManifestsReport> {
  const manifests = opts.manifests.map((m) => m.manifest);
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const plan = planExport(manifests, opts.policy, () => undefined);
  const pool = new ClientPool({
    auths: manifestAuths(manifests),
    env: opts.env,
    http: { maxConcurrency: concurrency, ...opts.http },
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  const cache = new BlobCache(opts.cacheDir, opts.logger ? { logger: opts.logger } : {});
  try {
    const lock = await resolveLock(
      plan,
      {
        pool,
        cache,
        blobSlots: new Semaphore(concurrency),
        manifests: new Map(),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      concurrency,
    );
    const targets: LockTarget[] = opts.manifests.map((m) => ({
      path: m.lockPath,
      images: m.manifest.spec.images ?? [],
    }));
    const locks = targets.map((t) => ({ path: t.path, text: formatLock(lockOf(lock, t.images)) }));
    const written = opts.write === false ? [] : await writeLocks(targets, lock);
    return { lock, locks, written };
  } finally {
    await pool.close();
  }
}
