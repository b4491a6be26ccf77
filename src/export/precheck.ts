import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BlobCache } from '../cache/index.js';
import { isKkoError } from '../errors.js';
import type { KkManifest } from '../manifest/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import { formatReference } from '../reference/index.js';
import { Semaphore, type CredentialProvider, type HttpOptions } from '../registry/index.js';
import { formatPlatform } from '../oci/index.js';
import { ClientPool } from './clients.js';
import { precheckFiles, type PrecheckFile } from './precheck-files.js';
import { HttpDownloader, type DownloadPlan } from '../download/index.js';
import type { Catalog } from '../catalog/index.js';
import { resolveImage, type ResolvedImage } from './fetch-image.js';
import { planExport, type PlannedImage } from './plan.js';
import { mapLimit } from '../util/concurrency.js';
import { SourcesExhaustedError } from '../util/sources.js';

export type PrecheckImage = {
  ref: string;
  arch: string;
  ok: boolean;
  source?: string;
  via?: string;
  platform?: string;
  size?: number; // config + layers
  code?: string;
  message?: string;
};

export type DiskCheck = { path: string; freeBytes: number; neededBytes: number; ok: boolean };

export type PrecheckReport = {
  zone: string;
  images: PrecheckImage[];
  files: PrecheckFile[];
  totalBytes: number;
  cachedBytes: number;
  disks: DiskCheck[];
  ok: boolean;
};

export type PrecheckOptions = {
  manifests: KkManifest[];
  policy: EffectivePolicy;
  cacheDir: string;
  output?: string;
  concurrency?: number;
  env: NodeJS.ProcessEnv;
  http?: HttpOptions;
  credentials?: CredentialProvider;
  classify?: (ref: string) => string | undefined;
  downloads?: DownloadPlan; // binaries and ISOs to check too
  catalog?: Pick<Catalog, 'checksumVersions'>;
  signal?: AbortSignal; // Ctrl-C: stop, throwing its reason
};

// Unique bytes the resolved images need (layers shared across images counted once), and how many the cache has.
export async function blobTotals(
  resolved: readonly ResolvedImage[],
  cache: BlobCache,
): Promise<{ totalBytes: number; cachedBytes: number }> {
  const blobs = new Map<string, number>();
  for (const r of resolved) for (const d of [r.manifest.config, ...r.manifest.layers]) blobs.set(d.digest, d.size);
  let cachedBytes = 0;
  for (const [digest, size] of blobs) if (await cache.has({ digest, size })) cachedBytes += size;
  return { totalBytes: [...blobs.values()].reduce((a, b) => a + b, 0), cachedBytes };
}

async function freeBytes(path: string): Promise<{ free: number; device: string }> {
  for (let p = path; ; p = dirname(p)) {
    try {
      const s = await statfs(p);
      return { free: s.bavail * s.bsize, device: `${s.type}:${s.blocks}:${s.bsize}` };
    } catch {
      if (dirname(p) === p) return { free: 0, device: '?' };
    }
  }
}

// Free disk at the cache (what is not cached yet) and at the output (the whole artifact); one filesystem needs both.
export async function diskChecks(
  cacheDir: string,
  output: string | undefined,
  totalBytes: number,
  cachedBytes: number,
): Promise<DiskCheck[]> {
  const cache = await freeBytes(cacheDir);
  const checks: DiskCheck[] = [
    { path: cacheDir, freeBytes: cache.free, neededBytes: totalBytes - cachedBytes, ok: true },
  ];
  if (output) {
    const out = await freeBytes(dirname(output));
    const shared = out.device === cache.device;
    checks.push({
      path: dirname(output),
      freeBytes: out.free,
      neededBytes: totalBytes + (shared ? totalBytes - cachedBytes : 0),
      ok: true,
    });
  }
  return checks.map((c) => ({ ...c, ok: c.freeBytes >= c.neededBytes }));
}

function row(p: PlannedImage, r: ResolvedImage | undefined, error: unknown): PrecheckImage {
  if (r) {
    const size = [r.manifest.config, ...r.manifest.layers].reduce((n, d) => n + d.size, 0);
    return {
      ref: p.ref,
      arch: p.arch,
      ok: true,
      source: formatReference(r.source.ref),
      via: r.source.via,
      platform: formatPlatform(r.platform),
      size,
    };
  }
  // the row names the image already: the message says only why
  const message =
    error instanceof SourcesExhaustedError ? error.detail : error instanceof Error ? error.message : String(error);
  return { ref: p.ref, arch: p.arch, ok: false, code: isKkoError(error) ? error.code : 'NETWORK_ERROR', message };
}

// Before a byte of layer data moves: every image × arch resolvable through the policy with the right platform,
// the unique bytes to fetch (layers shared across images counted once) and the free disk where they will land.
export async function precheck(opts: PrecheckOptions): Promise<PrecheckReport> {
  const plan = planExport(opts.manifests, opts.policy, opts.classify ?? (() => undefined));
  const cache = new BlobCache(opts.cacheDir);
  const auths = Object.assign({}, ...opts.manifests.map((m) => m.spec.registry?.auths ?? {}));
  const downloader = new HttpDownloader({
    ...(opts.http?.retries !== undefined ? { retries: opts.http.retries } : {}),
  });
  const pool = new ClientPool({
    auths,
    env: opts.env,
    ...(opts.http ? { http: opts.http } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  const limit = Math.max(1, opts.concurrency ?? 8);
  const blobSlots = new Semaphore(limit); // separate: an image holding a slot may wait for a blob
  const resolved: ResolvedImage[] = [];
  try {
    // Every image is tried whatever fails; an abort stops them all (and is thrown).
    const settled = await mapLimit(
      plan.images,
      limit,
      (p) => resolveImage(p, { pool, cache, blobSlots, ...(opts.signal ? { signal: opts.signal } : {}) }),
      { signal: opts.signal },
    );
    const rows = plan.images.map((p, i) => {
      const s = settled[i];
      if (s?.status === 'fulfilled') resolved.push(s.value);
      return row(p, s?.status === 'fulfilled' ? s.value : undefined, s?.status === 'rejected' ? s.reason : undefined);
    });
    opts.signal?.throwIfAborted();
    const files = opts.downloads
      ? await precheckFiles(opts.downloads, {
          limit,
          cache,
          http: downloader,
          policy: opts.policy,
          signal: opts.signal,
          ...(opts.catalog ? { catalog: opts.catalog } : {}),
        })
      : [];
    opts.signal?.throwIfAborted();
    const sizes = await blobTotals(resolved, cache);
    const disks = await diskChecks(opts.cacheDir, opts.output, sizes.totalBytes, sizes.cachedBytes);
    return {
      zone: plan.zone,
      images: rows,
      files,
      ...sizes,
      disks,
      ok: rows.every((r) => r.ok) && files.every((f) => f.ok) && disks.every((d) => d.ok),
    };
  } finally {
    await Promise.all([pool.close(), downloader.close()]);
  }
}
