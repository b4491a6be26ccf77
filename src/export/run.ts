import { withChecksums } from '../archive/checksums.js';
import { writeArchive, type Compression } from '../archive/write.js';
import { BlobCache } from '../cache/index.js';
import type { Writable } from 'node:stream';
import { isKkoError } from '../errors.js';
import type { Logger } from '../log.js';
import type { KkManifest } from '../manifest/index.js';
import type { KubeKeyProfile } from '../catalog/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import { Semaphore, type HttpOptions, type CredentialProvider, type ManifestResponse } from '../registry/index.js';

import { ClientPool } from './clients.js';
import type { EventSink } from './events.js';
import { fetchImage, resolveImage, type FetchDeps, type FetchedImage, type ResolvedImage } from './fetch-image.js';
import { inventoryEntries } from './inventory.js';
import { fetchFile, fileEntries, fileSize, fileTasks, type FetchedFile, type FileTask } from './files.js';
import { diskChecks } from './precheck.js';
import { HttpDownloader, type DownloadPlan, type HttpDownloaderOptions } from '../download/index.js';
import { layoutEntries } from './layout.js';
import { planExport, type ExportPlan, type PlannedImage } from './plan.js';

export type ExportOptions = {
  manifests: KkManifest[];
  policy: EffectivePolicy;
  cacheDir: string;
  output: string;
  compress?: Compression;
  concurrency?: number;
  keepGoing?: boolean;
  env: NodeJS.ProcessEnv;
  classify?: (ref: string) => string | undefined;
  events?: EventSink;
  logger?: Logger;
  http?: HttpOptions;
  credentials?: CredentialProvider;
  downloads?: DownloadPlan; // binaries and ISOs (planDownloads); none for an images-only export
  stdout?: Writable; // where output '-' streams
  profile?: KubeKeyProfile; // the kk release the artifact is for, recorded in the inventory
  downloader?: HttpDownloaderOptions;
  baseDir?: string; // for ISO localPath
};

export type ImageFailure = { image?: PlannedImage; file?: FileTask; error: unknown };
export type ExportReport = { plan: ExportPlan; images: FetchedImage[]; files: FetchedFile[]; failures: ImageFailure[]; fetchedBytes: number; output?: string };

// Run items with at most `limit` in flight; with stopOnError, nothing new starts after the first failure.
async function forEachLimit<T>(items: readonly T[], limit: number, stopOnError: boolean, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        if (stopOnError) stopped = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

// Fetch every image × arch into the cache, then write the artifact. Nothing is written under the output
// name unless every image arrived and verified; a re-run fetches only what the cache lacks.
export async function exportArtifact(opts: ExportOptions): Promise<ExportReport> {
  const started = Date.now();
  const emit: EventSink = opts.events ?? (() => undefined);
  const plan = planExport(opts.manifests, opts.policy, opts.classify ?? (() => undefined));
  const tasks = fileTasks(opts.downloads);
  emit({ type: 'plan', images: plan.images.length, files: tasks.length, arches: plan.arches, zone: plan.zone });
  const cache = new BlobCache(opts.cacheDir, opts.logger ? { logger: opts.logger } : {});
  const auths = Object.assign({}, ...opts.manifests.map((m) => m.spec.registry?.auths ?? {}));
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  // One registry may take every connection the run allows (the usual case: all images behind one mirror).
  const http: HttpOptions = { maxConcurrency: concurrency, ...opts.http };
  const pool = new ClientPool({ auths, env: opts.env, http, ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.credentials ? { credentials: opts.credentials } : {}) });
  const blobSlots = new Semaphore(concurrency);
  const manifestMemo = new Map<string, Promise<ManifestResponse>>();
  const deps = (p: PlannedImage): FetchDeps => ({ pool, cache, blobSlots, manifests: manifestMemo, onBytes: (n) => emit({ type: 'bytes', ref: p.ref, arch: p.arch, fetched: n }) });
  const downloader = new HttpDownloader({ ...(opts.http?.retries !== undefined ? { retries: opts.http.retries } : {}), ...opts.downloader });
  const images: FetchedImage[] = [];
  const files: FetchedFile[] = [];
  const failures: ImageFailure[] = [];
  const failFile = (t: FileTask, error: unknown): never => {
    failures.push({ file: t, error });
    emit({ type: 'file-failed', path: t.item.path, code: isKkoError(error) ? error.code : 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
    throw error;
  };
  const fail = (p: PlannedImage, error: unknown): never => {
    failures.push({ image: p, error });
    emit({ type: 'image-failed', ref: p.ref, arch: p.arch, code: isKkoError(error) ? error.code : 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
    throw error;
  };
  try {
    // Each image is resolved (manifests + config, arch checked) and then fetched at once: no barrier between
    // images, which matters on real links. Totals grow as images resolve: a blob counts once, as cached when
    // the cache had it at first sight, else as bytes to fetch; 'resolved' carries the running figures.
    const seen = new Set<string>();
    const totals = { totalBytes: 0, cachedBytes: 0, images: 0 };
    const account = async (r: ResolvedImage | undefined): Promise<void> => {
      for (const d of r ? [r.manifest.config, ...r.manifest.layers] : []) {
        if (seen.has(d.digest)) continue;
        seen.add(d.digest);
        totals.totalBytes += d.size;
        if (await cache.has({ digest: d.digest, size: d.size })) totals.cachedBytes += d.size;
      }
      totals.images++;
      emit({ type: 'resolved', images: totals.images, of: plan.images.length, failed: failures.length, totalBytes: totals.totalBytes, cachedBytes: totals.cachedBytes });
      if (totals.images === plan.images.length) await warnIfShortOfDisk();
    };
    // Once the image total is known: say so now if the cache or the output will not fit, not after the download.
    const warnIfShortOfDisk = async (): Promise<void> => {
      const output = opts.output === '-' ? undefined : opts.output;
      for (const d of await diskChecks(opts.cacheDir, output, totals.totalBytes, totals.cachedBytes)) {
        if (!d.ok) emit({ type: 'warning', message: `${d.path}: ${d.freeBytes} bytes free, about ${d.neededBytes} needed for the images` });
      }
    };
    if (plan.images.length === 0) emit({ type: 'resolved', images: 0, of: 0, failed: 0, totalBytes: 0, cachedBytes: 0 });
    const work: Array<PlannedImage | FileTask> = [...plan.images, ...tasks];
    await forEachLimit(work, concurrency, !opts.keepGoing, async (p) => {
      if ('kind' in p) {
        const f = await fetchFile(p, { cache, http: downloader, policy: opts.policy, emit, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) }).catch((e: unknown) => failFile(p, e));
        files.push(f);
        emit({ type: 'file-done', path: p.item.path, source: f.result.source.url, via: f.result.source.via, sha256: f.result.sha256, fetchedBytes: f.result.fetchedBytes });
        return;
      }
      const r = await resolveImage(p, deps(p)).catch(async (e: unknown) => {
        await account(undefined);
        return fail(p, e);
      });
      await account(r);
      emit({ type: 'image-start', ref: p.ref, arch: p.arch, size: [r.manifest.config, ...r.manifest.layers].reduce((n, d) => n + d.size, 0) });
      const img = await fetchImage(p, deps(p), r).catch((e: unknown) => fail(p, e));
      images.push(img);
      emit({ type: 'image-done', ref: p.ref, arch: p.arch, source: img.source.ref, via: img.source.via, digest: img.manifest.digest, size: img.size, fetchedBytes: img.fetchedBytes });
    }).catch(() => undefined);
  } finally {
    await Promise.all([pool.close(), downloader.close()]);
  }
  const fetchedBytes = images.reduce((n, i) => n + i.fetchedBytes, 0) + files.reduce((n, f) => n + fileSize(f), 0);
  const report: ExportReport = { plan, images: sortImages(images), files, failures, fetchedBytes };
  if (failures.length === 0) {
    const entries = withChecksums([...inventoryEntries(plan, report.images, files, opts.manifests, opts.profile), ...layoutEntries(report.images, cache), ...fileEntries(files)]);
    emit({ type: 'archive-start', path: opts.output, entries: entries.length, compress: opts.compress ?? 'gzip' });
    await writeArchive(entries, opts.output, opts.compress ?? 'gzip', opts.env, opts.stdout ? { stdout: opts.stdout } : {});
    report.output = opts.output;
    emit({ type: 'archive', path: opts.output, entries: entries.length });
  }
  emit({ type: 'done', images: images.length, failed: failures.length, fetchedBytes, ...(report.output ? { output: report.output } : {}), seconds: (Date.now() - started) / 1000 });
  return report;
}

function sortImages(images: FetchedImage[]): FetchedImage[] {
  return [...images].sort((a, b) => (a.planned.refName < b.planned.refName ? -1 : a.planned.refName > b.planned.refName ? 1 : 0));
}

