import { BlobCache, CachedSource } from '../cache/index.js';
import type { ContentTarget, CopyEvent, CopyOptions } from '../content/index.js';
import { copyImage } from '../copy/index.js';
import { isKkoError } from '../errors.js';
import {
  ClientPool,
  manifestAuths,
  planExport,
  resolveImage,
  type PlannedImage,
  type ResolvedImage,
} from '../export/index.js';
import { mergeHosts, type HostConnection } from '../host/index.js';
import type { Logger } from '../log.js';
import type { KkManifest } from '../manifest/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import { MediaType, parsePlatform } from '../oci/index.js';
import { formatReference, parseReference, sha256Digest, type Digest, type Reference } from '../reference/index.js';
import {
  defaultCredentials,
  RegistryStore,
  resolveRegistryHostOptions,
  Semaphore,
  type CredentialProvider,
  type HttpOptions,
  type RegistryClient,
} from '../registry/index.js';
import { mapLimit } from '../util/concurrency.js';
import { targetNames, type SyncTarget } from './targets.js';

export type SyncOptions = {
  manifests: KkManifest[];
  policy: EffectivePolicy;
  targets: readonly SyncTarget[];
  targetHost?: HostConnection; // --plain-http, --cert-dir, --skip-tls-verify: for every target (kk's registry.auths add to it)
  cacheDir: string; // each source blob lands here once and every target is sent it from there
  env: NodeJS.ProcessEnv;
  concurrency?: number; // images in flight per target (and resolutions at once)
  http?: HttpOptions;
  credentials?: CredentialProvider; // sources and targets; default: kk's registry.auths, then docker / containers auth files
  logger?: Logger;
  events?: (e: SyncEvent) => void;
  signal?: AbortSignal;
};

export type SyncEvent =
  | { type: 'plan'; images: number; arches: string[]; targets: string[] }
  | { type: 'resolved'; ref: string; arch: string; source: string; via: string; digest: string }
  | { type: 'resolve-failed'; ref: string; arch: string; code: string; message: string }
  | { type: 'resolved-all'; images: number; failed: number; totalBytes: number } // totalBytes: every image's blobs, once per target
  | { type: 'image-start'; target: string; ref: string; size: number }
  | { type: 'bytes'; target: string; ref: string; bytes: number }
  | {
      type: 'image-done';
      target: string;
      ref: string;
      names: string[];
      copied: number;
      present: number;
      mounted: number;
      bytesSent: number;
    }
  | { type: 'image-failed'; target: string; ref: string; code: string; message: string }
  | {
      type: 'target-done';
      target: string;
      images: number;
      failed: number;
      names: number;
      copied: number;
      present: number;
      mounted: number;
      bytesSent: number;
    }
  | { type: 'done'; targets: number; failed: number; seconds: number };

export type SyncFailure = { readonly ref: string; readonly arch?: string; readonly error: unknown };
export type TargetReport = {
  readonly target: string;
  readonly names: string[]; // every tag put, registry/repository:tag, in the order put
  readonly blobs: { copied: number; present: number; mounted: number };
  bytesSent: number;
  readonly images: string[]; // refs synced completely
  readonly failures: SyncFailure[];
};
export type SyncReport = { readonly resolveFailures: SyncFailure[]; readonly targets: TargetReport[] };

// One manifest image, every arch resolved through the mirror policy as export resolves it.
type SyncImage = {
  readonly ref: string;
  readonly size: number;
  readonly arches: ReadonlyArray<{
    readonly arch: string;
    readonly r: ResolvedImage;
    readonly src: CachedSource;
    readonly srcRef: Reference;
  }>;
};

// `kko sync`: copy every image of the manifests from its sources to each target registry with kk's names:
//  1. plan and resolve every image × arch (mirror fallback, arch checked against the config) as export does;
//  2. for each target at once, each image (at most opts.concurrency at a time): copyImage every arch to :<tag>-<arch>,
//     then the index (or the one manifest) to :<tag>. The source is read through the blob cache (CachedSource), so
//     each source blob is fetched once for all targets, and each target is HEADed first so it is sent only what it lacks;
//  3. a target's failure is its own: the other targets go on. Nothing is put under a tag before its blobs and children.
export async function syncRegistries(opts: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const emit = opts.events ?? (() => undefined);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const plan = planExport(opts.manifests, opts.policy, () => undefined);
  emit({
    type: 'plan',
    images: new Set(plan.images.map((p) => p.ref)).size,
    arches: plan.arches,
    targets: opts.targets.map((t) => t.spec),
  });
  const auths = manifestAuths(opts.manifests);
  const credentials =
    opts.credentials ?? defaultCredentials(auths, { env: opts.env, ...(opts.logger ? { logger: opts.logger } : {}) });
  const pool = new ClientPool({
    auths,
    env: opts.env,
    credentials,
    http: { maxConcurrency: concurrency * 2, ...opts.http },
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const cache = new BlobCache(opts.cacheDir, opts.logger ? { logger: opts.logger } : {});
  const stores = opts.targets.map((t) => targetStore(t, opts, auths, credentials));
  try {
    const { images, failures } = await resolveAll(plan.images, {
      pool,
      cache,
      concurrency,
      emit,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    emit({
      type: 'resolved-all',
      images: images.length,
      failed: new Set(failures.map((f) => f.ref)).size,
      totalBytes: images.reduce((n, i) => n + i.size, 0) * opts.targets.length,
    });
    const targets = await Promise.all(
      opts.targets.map((t, i) => syncTarget(t, stores[i] as RegistryStore, images, opts, emit)),
    );
    emit({
      type: 'done',
      targets: targets.length,
      failed: targets.filter((t) => t.failures.length > 0).length + (failures.length > 0 ? 1 : 0),
      seconds: (Date.now() - started) / 1000,
    });
    return { resolveFailures: failures, targets };
  } finally {
    await Promise.all([pool.close(), ...stores.map((s) => s.close())]);
  }
}

// A target's registry client settings: the command's flags, plus kk's registry.auths entry for that host.
function targetStore(
  t: SyncTarget,
  opts: SyncOptions,
  auths: ReturnType<typeof manifestAuths>,
  credentials: CredentialProvider,
): RegistryStore {
  return new RegistryStore({
    description: `registry ${t.registry}`,
    hostOptions: (registry) => ({
      ...opts.http,
      ...mergeHosts(opts.targetHost ?? {}, resolveRegistryHostOptions(auths, registry)),
      credentials,
      ...(opts.logger ? { logger: opts.logger } : {}),
    }),
  });
}

type ResolveDeps = {
  pool: ClientPool;
  cache: BlobCache;
  concurrency: number;
  emit: (e: SyncEvent) => void;
  signal?: AbortSignal;
};

// Step 1: every image × arch resolved; an image with an arch that failed is left out (and reported) for every target.
async function resolveAll(
  planned: readonly PlannedImage[],
  d: ResolveDeps,
): Promise<{ images: SyncImage[]; failures: SyncFailure[] }> {
  const deps = {
    pool: d.pool,
    cache: d.cache,
    blobSlots: new Semaphore(d.concurrency),
    manifests: new Map(),
    ...(d.signal ? { signal: d.signal } : {}),
  };
  const settled = await mapLimit(planned, d.concurrency, (p) => resolveImage(p, deps), { signal: d.signal });
  const sources = new Map<RegistryClient, CachedSource>();
  const byRef = new Map<string, SyncImage['arches'][number][]>();
  const failures: SyncFailure[] = [];
  settled.forEach((s, i) => {
    const p = planned[i] as PlannedImage;
    if (s?.status !== 'fulfilled') {
      const error: unknown = s?.reason;
      failures.push({ ref: p.ref, arch: p.arch, error });
      d.emit({
        type: 'resolve-failed',
        ref: p.ref,
        arch: p.arch,
        code: isKkoError(error) ? error.code : 'ERROR',
        message: (error as Error)?.message ?? String(error),
      });
      return;
    }
    const r = s.value;
    const src = sources.get(r.client) ?? new CachedSource(RegistryStore.of([r.client]), d.cache);
    sources.set(r.client, src);
    const srcRef: Reference = { registry: r.client.registry, repository: r.source.ref.repository };
    src.remember(srcRef, r.image);
    if (r.index) src.remember(srcRef, r.index);
    d.emit({
      type: 'resolved',
      ref: p.ref,
      arch: p.arch,
      source: formatReference(r.source.ref),
      via: r.source.via,
      digest: r.image.digest,
    });
    byRef.set(p.ref, [...(byRef.get(p.ref) ?? []), { arch: p.arch, r, src, srcRef }]);
  });
  const failed = new Set(failures.map((f) => f.ref));
  return {
    images: [...byRef]
      .filter(([ref]) => !failed.has(ref))
      .map(([ref, arches]) => ({ ref, size: blobBytes(arches.map((a) => a.r)), arches })),
    failures,
  };
}

// The config and layers of an image's arches, each digest once.
function blobBytes(rs: readonly ResolvedImage[]): number {
  const sizes = new Map(
    rs.flatMap((r) => [r.manifest.config, ...r.manifest.layers].map((d) => [d.digest, d.size] as const)),
  );
  return [...sizes.values()].reduce((n, x) => n + x, 0);
}

// Step 2 for one target: every image, each failure kept with its image; the report of what the target got.
async function syncTarget(
  t: SyncTarget,
  store: RegistryStore,
  images: readonly SyncImage[],
  opts: SyncOptions,
  emit: (e: SyncEvent) => void,
): Promise<TargetReport> {
  const report: TargetReport = {
    target: t.spec,
    names: [],
    blobs: { copied: 0, present: 0, mounted: 0 },
    bytesSent: 0,
    images: [],
    failures: [],
  };
  const holders = new Map<Digest, Reference>(); // a repository of this target known to hold each blob: later images mount it
  const run: TargetRun = { t, store, opts, emit, holders, counted: new Set(), report };
  await mapLimit(
    images,
    Math.max(1, opts.concurrency ?? 4),
    async (img) => {
      try {
        emit({ type: 'image-start', target: t.spec, ref: img.ref, size: img.size });
        await syncImage(img, run);
        report.images.push(img.ref);
      } catch (error) {
        opts.signal?.throwIfAborted();
        report.failures.push({ ref: img.ref, error });
        emit({
          type: 'image-failed',
          target: t.spec,
          ref: img.ref,
          code: isKkoError(error) ? error.code : 'ERROR',
          message: (error as Error)?.message ?? String(error),
        });
      }
    },
    { signal: opts.signal },
  );
  const { copied, present, mounted } = report.blobs;
  emit({
    type: 'target-done',
    target: t.spec,
    images: report.images.length,
    failed: report.failures.length,
    names: report.names.length,
    copied,
    present,
    mounted,
    bytesSent: report.bytesSent,
  });
  return report;
}

type TargetRun = {
  t: SyncTarget;
  store: ContentTarget;
  opts: SyncOptions;
  emit: (e: SyncEvent) => void;
  holders: Map<Digest, Reference>;
  counted: Set<string>;
  report: TargetReport;
};

// One image to one target: each arch under :<tag>-<arch>, then the top under :<tag>.
async function syncImage(img: SyncImage, run: TargetRun): Promise<void> {
  const names = targetNames(parseReference(img.ref), run.t);
  const tally = { copied: 0, present: 0, mounted: 0, bytesSent: 0, names: [] as string[] };
  const copy = async (
    src: CachedSource,
    srcRef: Reference,
    dst: Reference,
    extra: Pick<CopyOptions, 'platforms'> = {},
  ): Promise<void> => {
    await copyImage(src, srcRef, run.store, dst, { ...copyOptions(run, img.ref, dst, tally), ...extra });
    add(tally, dst);
  };
  for (const a of img.arches) await copy(a.src, { ...a.srcRef, digest: a.r.image.digest }, names.arch(a.arch));
  const [first] = img.arches;
  if (!first) return;
  const index = first.r.index;
  if (index && img.arches.every((a) => a.src === first.src && a.r.index?.digest === index.digest)) {
    await copy(first.src, { ...first.srcRef, digest: index.digest }, names.top, {
      platforms: img.arches.map((a) => parsePlatform(a.arch)),
    });
  } else if (img.arches.length === 1 && !index) {
    await copy(first.src, { ...first.srcRef, digest: first.r.image.digest }, names.top);
  } else {
    await putIndexOf(img, names.top, run, tally); // arches from different sources: kk's way, a new index of them
  }
  Object.assign(run.report.blobs, {
    copied: run.report.blobs.copied + tally.copied,
    present: run.report.blobs.present + tally.present,
    mounted: run.report.blobs.mounted + tally.mounted,
  });
  run.report.bytesSent += tally.bytesSent;
  run.report.names.push(...tally.names);
  run.emit({
    type: 'image-done',
    target: run.t.spec,
    ref: img.ref,
    names: tally.names,
    copied: tally.copied,
    present: tally.present,
    mounted: tally.mounted,
    bytesSent: tally.bytesSent,
  });
}

type Tally = { copied: number; present: number; mounted: number; bytesSent: number; names: string[] };

function add(tally: Tally, dst: Reference): void {
  if (dst.tag !== undefined) tally.names.push(formatReference(dst));
}

// Copy options for one copy to one repository of the target: progress bytes, the target's known blob holders, and
// the counts: each blob of a repository counted once (the index's copy HEADs again what the arches just sent).
function copyOptions(run: TargetRun, ref: string, dst: Reference, tally: Tally): CopyOptions {
  const repo: Reference = { registry: dst.registry, repository: dst.repository };
  const onEvent = (e: CopyEvent): void => {
    if (e.kind === 'blob-bytes') {
      tally.bytesSent += e.bytes;
      return run.emit({ type: 'bytes', target: run.t.spec, ref, bytes: e.bytes });
    }
    if (e.kind === 'manifest-put' || e.kind === 'manifest-present') return;
    run.holders.set(e.digest, repo);
    const key = `${repo.repository}@${e.digest}`;
    if (run.counted.has(key)) return;
    run.counted.add(key);
    tally[e.kind === 'blob-copied' ? 'copied' : e.kind === 'blob-mounted' ? 'mounted' : 'present']++;
  };
  return { onEvent, mountFrom: (d) => run.holders.get(d), ...(run.opts.signal ? { signal: run.opts.signal } : {}) };
}

// The arches' manifests (already on the target by digest) under one new index, as kk's push builds its manifest list.
async function putIndexOf(img: SyncImage, top: Reference, run: TargetRun, tally: Tally): Promise<void> {
  const docker = img.arches.every((a) => a.r.mediaType === MediaType.DOCKER_MANIFEST);
  const mediaType = docker ? MediaType.DOCKER_MANIFEST_LIST : MediaType.OCI_INDEX;
  const manifests = img.arches.map((a) => ({
    mediaType: a.r.image.mediaType,
    digest: a.r.image.digest,
    size: a.r.image.bytes.length,
    platform: a.r.platform,
  }));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
  await run.store.putManifest(
    top,
    { bytes, mediaType, digest: sha256Digest(bytes) },
    run.opts.signal ? { signal: run.opts.signal } : {},
  );
  if (top.tag !== undefined) tally.names.push(formatReference(top));
}

// --dry-run: every image with the sources it would be read from and the names it would get on each target.
export type SyncPlanEntry = { ref: string; sources: string[]; targets: Array<{ target: string; names: string[] }> };

export function planSync(
  manifests: readonly KkManifest[],
  policy: EffectivePolicy,
  targets: readonly SyncTarget[],
): { arches: string[]; images: SyncPlanEntry[] } {
  const plan = planExport(manifests, policy, () => undefined);
  const images = new Map<string, SyncPlanEntry>();
  for (const p of plan.images) {
    if (images.has(p.ref)) continue;
    const src = parseReference(p.ref);
    const names = (t: SyncTarget): string[] => {
      const n = targetNames(src, t);
      return [...plan.arches.map((a) => formatReference(n.arch(a))), formatReference(n.top)];
    };
    images.set(p.ref, {
      ref: p.ref,
      sources: p.sources.map((s) => `${formatReference(s.ref)} (${s.via})`),
      targets: targets.map((t) => ({ target: t.spec, names: names(t) })),
    });
  }
  return { arches: plan.arches, images: [...images.values()] };
}
