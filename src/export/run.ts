import { withChecksums } from '../archive/checksums.js';
import { removeStalePartials, writeArchive, type Compression } from '../archive/write.js';
import { BlobCache, type CorruptBlob, type PartPlan } from '../cache/index.js';
import type { Writable } from 'node:stream';
import type { TarEntry } from '../archive/tar.js';
import type { Digest } from '../reference/index.js';
import type { Descriptor } from '../oci/index.js';
import { abortReason, isKkoError, KkoError } from '../errors.js';
import { errorText, redactText } from '../util/sources.js';
import { mapLimit } from '../util/concurrency.js';
import type { Logger } from '../log.js';
import type { KkManifest } from '../manifest/index.js';
import type { KubeKeyProfile } from '../catalog/index.js';
import type { EffectivePolicy } from '../mirror/index.js';
import { Semaphore, type HttpOptions, type CredentialProvider, type ManifestResponse } from '../registry/index.js';

import { ClientPool, manifestAuths } from './clients.js';
import type { EventSink } from './events.js';
import {
  documents,
  fetchedImage,
  fetchImage,
  type FetchDeps,
  type FetchedImage,
  type ResolvedImage,
} from './fetch-image.js';
import { inventoryEntries } from './inventory.js';
import { fetchFile, fileEntries, fileTasks, heldFile, type FetchedFile, type FileTask } from './files.js';
import { diskChecks } from './precheck.js';
import { HttpDownloader, type DownloadPlan, type HttpDownloaderOptions } from '../download/index.js';
import { layoutEntries } from './layout.js';
import { deltaCut } from './delta.js';
import { heldBlobs, type Delta, type HaveList, type HeldBlobs } from '../artifact-format/index.js';
import { signatureEntry, type Signer } from '../signing/signature.js';
import { byRefName, planExport, type ExportPlan, type PlannedImage } from './plan.js';
import { runPreflight, type PreflightOutcome, type PreflightStep } from './preflight.js';
import { resolveOnce, type Resolutions } from './carry.js';

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
  splitSize?: number; // write OUTPUT.part-000, -001, … of this many bytes (and OUTPUT.parts.sha256) instead of OUTPUT
  profile?: KubeKeyProfile; // the kk release the artifact is for, recorded in the inventory
  downloader?: HttpDownloaderOptions;
  baseDir?: string; // for ISO localPath
  signer?: Signer; // #12: sign kko/inventory.json (kko/inventory.json.sig, next to it)
  preflight?: readonly PreflightStep[]; // #12: lock check, image signatures: after planning, before any layer
  // #12 item 3: write a delta: leave out the config / layer blobs and the binaries / ISOs this have-list holds
  // (`kko artifact inventory OLD_ART`); the inventory names the base and lists what was left out (delta.ts).
  have?: HaveList;
  // SIGINT/SIGTERM from the CLI: requests, downloads and the archive writer stop, the archive's temp file is removed
  // (the cache's partials stay: a re-run resumes them) and the signal's reason is thrown.
  signal?: AbortSignal;
};

// One item of the plan that failed: an image × arch (`image`) or a binary / ISO (`file`), with why.
export type ItemFailure = { image?: PlannedImage; file?: FileTask; error: unknown };
// items: every image × arch and file of the plan, tried or not (what "N of M failed" counts).
export type ExportReport = {
  plan: ExportPlan;
  items: number;
  images: FetchedImage[];
  files: FetchedFile[];
  failures: ItemFailure[];
  fetchedBytes: number;
  output?: string;
  parts?: string[];
  delta?: Delta; // a delta was written: its base and what it left out
};

// Fetch every image × arch (and every binary and ISO) into the cache, then write the artifact. Nothing is
// written under the output name unless everything arrived and verified; a re-run fetches only what the cache lacks.
export async function exportArtifact(opts: ExportOptions): Promise<ExportReport> {
  const started = Date.now();
  const run = new ExportRun(opts);
  await removeLeftovers(opts, run.cache);
  const extra = await run.preflight(opts.preflight ?? []);
  const early = new EarlyArchive(opts, run, extra);
  const { plan, items, images, files, failures } = await run
    .fetchAll((spec) => early.start(spec))
    .catch(async (err: unknown) => {
      await early.cancel();
      throw err;
    });
  const fetchedBytes =
    images.reduce((n, i) => n + i.fetchedBytes, 0) + files.reduce((n, f) => n + f.result.fetchedBytes, 0);
  const report: ExportReport = { plan, items, images: sortImages(images), files, failures, fetchedBytes };
  if (opts.signal?.aborted || failures.length > 0) await early.cancel();
  opts.signal?.throwIfAborted();
  if (failures.length === 0) {
    const meta = archiveEntries(opts, run.cache, report, extra);
    report.output = (await early.finish(meta, report)) ?? (await writeOutput(opts, meta, report));
  }
  run.emit({
    type: 'done',
    images: images.length,
    failed: failures.length,
    fetchedBytes,
    ...(report.output ? { output: report.output } : {}),
    seconds: (Date.now() - started) / 1000,
  });
  return report;
}

// What killed runs left and nobody can use: archive partials next to the output, cache temp files (the cache's
// resumable partials stay).
async function removeLeftovers(opts: ExportOptions, cache: BlobCache): Promise<void> {
  const removed = [...(await cache.sweep()), ...(opts.output === '-' ? [] : await removeStalePartials(opts.output))];
  for (const path of removed) opts.logger?.info(`removed ${path}, left by a run that did not finish`);
}

// Inventory and checksums first, then the layout and the files, as one archive. `docs`: manifests by digest that
// are written from memory (the early archive's, before they are in the cache).
function archiveEntries(
  opts: ExportOptions,
  cache: BlobCache,
  report: Pick<ExportReport, 'plan' | 'images' | 'files' | 'delta'>,
  extra: PreflightOutcome,
): TarEntry[] {
  const cut = opts.have ? deltaCut(opts.have, report.images, report.files) : undefined;
  if (cut) report.delta = cut.delta;
  const meta = inventoryEntries(report.plan, report.images, report.files, opts.manifests, opts.profile, {
    ...extra.inventory,
    ...(cut ? { delta: cut.delta } : {}),
  });
  if (opts.signer) meta.push(signatureEntry(meta, opts.signer));
  return withChecksums([
    ...meta,
    ...layoutEntries(report.images, cache, 'images/', extra.blobs, cut?.omitBlobs),
    ...fileEntries(report.files.filter((f) => !cut?.omitFiles.has(f.result.item.path))),
  ]);
}

// What decides the archive's bytes: every entry's name, size and sha256, and the metadata's bytes.
function entriesKey(entries: readonly TarEntry[]): string {
  return JSON.stringify(
    entries.map((e) => [
      e.name,
      e.compressed === true,
      ...('data' in e ? [e.data.toString('base64')] : [e.sha256 ?? '', 'size' in e ? (e.size ?? -1) : -1]),
    ]),
  );
}

type WriteHooks = { beforeCommit?: () => Promise<void>; onStart?: () => void };

async function writeOutput(
  opts: ExportOptions,
  entries: TarEntry[],
  report: ExportReport,
  hooks: WriteHooks = {},
): Promise<string> {
  const emit: EventSink = opts.events ?? (() => undefined);
  if (!hooks.onStart)
    emit({ type: 'archive-start', path: opts.output, entries: entries.length, compress: opts.compress ?? 'gzip' });
  const written = await writeArchive(entries, opts.output, opts.compress ?? 'gzip', opts.env, {
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.splitSize !== undefined ? { splitSize: opts.splitSize } : {}),
    ...(hooks.beforeCommit ? { beforeCommit: hooks.beforeCommit } : {}),
  }).catch((err: unknown) => {
    throw abortReason(err, opts.signal);
  });
  if (opts.splitSize !== undefined) report.parts = [...written.files];
  emit({
    type: 'archive',
    path: opts.output,
    entries: entries.length,
    ...(report.parts ? { parts: report.parts } : {}),
  });
  return opts.output;
}

// #10: the archive written while layers arrive. Once every image is resolved and every file fetched, all the
// metadata is known (each image's source, manifests, blob digests and sizes), so the archive starts at once: the
// metadata first, then each blob in the archive's order as soon as it is in the cache (a blob is read only after
// the cache verified it; it need not wait for the rest of its image). It goes to the usual temp name, and is renamed only when the finished export gives
// exactly these entries (no fallback to another source changed the inventory, nothing failed); otherwise it is
// removed and the archive is written again from the cache, as before. Not for '-' (stdout cannot be taken back);
// KKO_EARLY_ARCHIVE=0 turns it off.
class EarlyArchive {
  readonly #opts: ExportOptions;
  readonly #run: ExportRun;
  readonly #extra: PreflightOutcome;
  #key: string | undefined;
  #writing: Promise<string> | undefined;
  readonly #verdict: { settle?: (ok: boolean) => void; promise: Promise<boolean> };
  #entries = 0;
  #holder: ExportReport | undefined;
  #closed = false; // the fetches are over: too late to start

  constructor(opts: ExportOptions, run: ExportRun, extra: PreflightOutcome) {
    this.#opts = opts;
    this.#run = run;
    this.#extra = extra;
    let settle: ((ok: boolean) => void) | undefined;
    const promise = new Promise<boolean>((r) => (settle = r));
    this.#verdict = { promise, ...(settle ? { settle } : {}) };
  }

  get enabled(): boolean {
    return this.#opts.output !== '-' && this.#opts.env.KKO_EARLY_ARCHIVE !== '0';
  }

  start(spec: SpeculativeExport): void {
    if (!this.enabled || this.#writing || this.#closed) return;
    const report = { plan: spec.plan, images: sortImages(spec.images), files: spec.files };
    const entries = archiveEntries(this.#opts, this.#run.cache, report, this.#extra);
    this.#key = entriesKey(entries);
    this.#entries = entries.length;
    const live = entries.map((e) => spec.whenReady(e, this.#run.cache));
    const holder: ExportReport = { ...report, items: 0, failures: [], fetchedBytes: 0 };
    this.#holder = holder;
    this.#writing = writeOutput(this.#opts, live, holder, {
      onStart: () => undefined,
      beforeCommit: async () => {
        if (!(await this.#verdict.promise)) throw new KkoError('INTERNAL', 'early archive superseded');
      },
    });
    this.#writing.catch(() => undefined);
  }

  // Nothing is kept: the temp files go (the writer removes them when beforeCommit refuses or a blob fails).
  async cancel(): Promise<void> {
    this.#closed = true;
    this.#verdict.settle?.(false);
    await this.#writing?.catch(() => undefined);
  }

  // The output name when the early archive is what the finished export gives, else undefined (write it again).
  async finish(entries: TarEntry[], report: ExportReport): Promise<string | undefined> {
    this.#closed = true;
    if (!this.#writing) return undefined;
    const same = entriesKey(entries) === this.#key;
    if (!same) {
      await this.cancel();
      this.#opts.logger?.debug('export: the finished export differs from the early archive; writing it again');
      return undefined;
    }
    this.#run.emit({
      type: 'archive-start',
      path: this.#opts.output,
      entries: this.#entries,
      compress: this.#opts.compress ?? 'gzip',
    });
    this.#verdict.settle?.(true);
    const out = await this.#writing;
    if (this.#holder?.parts) report.parts = this.#holder.parts;
    return out;
  }
}

// What the early archive starts from: every image as resolved, every file as fetched, and a way to wait for a blob.
type SpeculativeExport = {
  plan: ExportPlan;
  images: FetchedImage[];
  files: FetchedFile[];
  whenReady: (e: TarEntry, cache: BlobCache) => TarEntry;
};

// The state of one export: clients, cache, running totals, results and failures.
class ExportRun {
  readonly cache: BlobCache;
  readonly emit: EventSink;
  readonly #opts: ExportOptions;
  #plan: ExportPlan;
  readonly #tasks: FileTask[];
  readonly #concurrency: number;
  readonly #pool: ClientPool;
  readonly #downloader: HttpDownloader;
  readonly #blobSlots: Semaphore;
  readonly #manifests = new Map<string, Promise<ManifestResponse>>();
  readonly #images: FetchedImage[] = [];
  readonly #files: FetchedFile[] = [];
  readonly #failures: ItemFailure[] = [];
  readonly #seen = new Set<string>();
  readonly #resolutions = new Map<PlannedImage, Promise<ResolvedImage>>(); // with the running totals fed
  readonly #resolved: Resolutions = new Map(); // shared with the preflight steps: each arch resolved once per run
  readonly #earlyLayers: Array<Promise<unknown>> = []; // layers started at resolution (FetchDeps.layersEarly)
  // Whether the cache held a blob before this run could fetch it (early layers can arrive before #account runs).
  readonly #cachedBefore = new Map<string, Promise<boolean>>();
  #stopped = false; // a failure without keepGoing: nothing new starts
  readonly #totals = { totalBytes: 0, cachedBytes: 0, images: 0 };
  readonly #held: HeldBlobs | undefined; // a delta's have-list blobs: layers not fetched (fetch-image.ts)

  constructor(opts: ExportOptions) {
    this.#opts = opts;
    this.emit = opts.events ?? (() => undefined);
    this.#plan = planExport(opts.manifests, opts.policy, opts.classify ?? (() => undefined));
    this.#tasks = fileTasks(opts.downloads);
    this.#held = opts.have ? heldBlobs(opts.have) : undefined;
    // A corrupt cached blob is dropped and fetched again; say so, since it means the disk is not keeping bytes.
    const onCorrupt = (c: CorruptBlob): void =>
      this.emit({
        type: 'warning',
        message: `cache: ${c.path} did not match ${c.digest} (${c.size} bytes, ${c.got}): removed, fetching it again`,
      });
    this.cache = new BlobCache(opts.cacheDir, {
      onCorrupt,
      parts: partPlan(opts.env),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    this.#concurrency = Math.max(1, opts.concurrency ?? 8);
    const auths = manifestAuths(opts.manifests);
    // One registry may take every connection the run allows (the usual case: all images behind one mirror).
    const http: HttpOptions = { maxConcurrency: this.#concurrency, ...opts.http };
    this.#pool = new ClientPool({
      auths,
      env: opts.env,
      http,
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    this.#blobSlots = new Semaphore(this.#concurrency);
    this.#downloader = new HttpDownloader({
      ...(opts.http?.retries !== undefined ? { retries: opts.http.retries } : {}),
      ...opts.downloader,
    });
  }

  // The preflight steps (#12) on the plan, before any layer is fetched; the plan they return is what gets fetched.
  // A refusal closes the clients (fetchAll does otherwise).
  async preflight(steps: readonly PreflightStep[]): Promise<PreflightOutcome> {
    const ctx = {
      plan: this.#plan,
      policy: this.#opts.policy,
      deps: this.#deps(undefined),
      resolutions: this.#resolved,
      concurrency: this.#concurrency,
      emit: this.emit,
      ...(this.#opts.logger ? { logger: this.#opts.logger } : {}),
      ...(this.#opts.signal ? { signal: this.#opts.signal } : {}),
    };
    try {
      const out = await runPreflight(steps, ctx);
      this.#plan = out.plan;
      return out;
    } catch (err) {
      await Promise.all([this.#pool.close(), this.#downloader.close()]);
      throw err;
    }
  }

  // Every image and file, at most `concurrency` at once; with keepGoing every item is tried whatever fails (a failure
  // never ends its worker). Resolving (manifests and config: small) runs ahead of the fetches, so the total bytes
  // are known early. An abort stops both.
  async fetchAll(onResolved?: (spec: SpeculativeExport) => void): Promise<{
    plan: ExportPlan;
    items: number;
    images: FetchedImage[];
    files: FetchedFile[];
    failures: ItemFailure[];
  }> {
    const plan = this.#plan;
    this.emit({
      type: 'plan',
      images: plan.images.length,
      files: this.#tasks.length,
      arches: plan.arches,
      zone: plan.zone,
    });
    if (plan.images.length === 0)
      this.emit({ type: 'resolved', images: 0, of: 0, failed: 0, totalBytes: 0, cachedBytes: 0 });
    const signal = this.#opts.signal;
    try {
      const ahead = mapLimit(
        plan.images,
        this.#concurrency,
        async (p) => (this.#stopped ? undefined : this.#resolution(p).catch(() => undefined)),
        { signal },
      );
      // Every resolved image queues its blobs at once: the blob slots (at most `concurrency`) then go to the largest
      // blob waiting in the whole export, not in the first few images (see ensureBlob).
      const done = new Map<PlannedImage, Promise<void>>();
      const images = mapLimit(
        plan.images,
        plan.images.length,
        (p) => {
          const d = this.#image(p);
          done.set(p, d);
          return d;
        },
        { stopOnError: !this.#opts.keepGoing, signal },
      );
      const files = mapLimit(this.#tasks, this.#concurrency, (t) => this.#file(t), {
        stopOnError: !this.#opts.keepGoing,
        signal,
      });
      if (onResolved)
        void Promise.all([ahead, files])
          .then(() => this.#speculate(done))
          .then(
            (spec) => spec && onResolved(spec),
            () => undefined,
          );
      await Promise.allSettled([ahead, images, files]);
    } finally {
      // An image resolved after another failed (no --keep-going) is not fetched, but its layers may have started.
      await Promise.allSettled(this.#earlyLayers);
      await Promise.all([this.#pool.close(), this.#downloader.close()]);
    }
    return {
      plan,
      items: plan.images.length + this.#tasks.length,
      images: this.#images,
      files: this.#files,
      failures: this.#failures,
    };
  }

  // Every image resolved and every file fetched, nothing failed: what the archive will hold if no source falls back.
  async #speculate(done: ReadonlyMap<PlannedImage, Promise<void>>): Promise<SpeculativeExport | undefined> {
    if (this.#failures.length > 0 || this.#opts.signal?.aborted) return undefined;
    const resolved = await Promise.allSettled(this.#plan.images.map((p) => this.#resolutions.get(p)));
    const images: FetchedImage[] = [];
    const docs = new Map<string, Buffer>();
    const waits = new Map<string, Array<Promise<void>>>(); // a blob's digest → the images it comes with
    for (const r of resolved) {
      if (r.status !== 'fulfilled' || r.value === undefined) return undefined;
      const p = r.value.planned;
      const d = done.get(p);
      if (!d) return undefined;
      images.push(fetchedImage(r.value, 0));
      for (const [digest, bytes] of documents(r.value)) docs.set(digest, bytes);
      for (const b of [r.value.manifest.config, ...r.value.manifest.layers])
        waits.set(b.digest, [...(waits.get(b.digest) ?? []), d]);
    }
    const whenReady = (e: TarEntry, cache: BlobCache): TarEntry => {
      if (!('file' in e)) return e;
      const digest = `sha256:${e.sha256 ?? ''}`;
      const data = docs.get(digest);
      if (data) return { name: e.name, data, ...(e.first ? { first: true } : {}) };
      const wait = waits.get(digest);
      if (!wait || e.file !== cache.blobPath(digest as Digest) || e.size === undefined) return e;
      const size = e.size;
      return {
        name: e.name,
        size,
        ...(e.sha256 ? { sha256: e.sha256 } : {}),
        ...(e.compressed ? { compressed: true } : {}),
        file: e.file,
        // As soon as this blob is verified in the cache (not when a whole image that has it is), or the error of
        // every image that has it (the export then fails and the early archive is removed).
        ready: async () => {
          await Promise.race([cache.whenVerified(digest), Promise.any(wait)]);
        },
      };
    };
    return { plan: this.#plan, images, files: [...this.#files], whenReady };
  }

  #deps(p: PlannedImage | undefined): FetchDeps {
    return {
      pool: this.#pool,
      cache: this.cache,
      blobSlots: this.#blobSlots,
      manifests: this.#manifests,
      ...(this.#held ? { held: this.#held } : {}),
      ...(this.#opts.signal ? { signal: this.#opts.signal } : {}),
      ...(p ? { onBytes: (n: number) => this.emit({ type: 'bytes', ref: p.ref, arch: p.arch, fetched: n }) } : {}),
      // An image's layers start while its config is checked; KKO_EARLY_LAYERS=0: after (as lock, precheck, sync do).
      ...(p && this.#opts.env.KKO_EARLY_LAYERS !== '0'
        ? {
            layersEarly: {
              allowed: () => !this.#stopped,
              before: async (layers: readonly Descriptor[]) => {
                await Promise.all(layers.map((d) => this.#wasCached(d)));
              },
              started: (l: Promise<unknown>) => void this.#earlyLayers.push(l),
            },
          }
        : {}),
    };
  }

  // Resolve (manifests + config, arch checked), then fetch at once: no barrier between images, which matters on real links.
  async #image(p: PlannedImage): Promise<void> {
    const r = await this.#resolution(p).catch((e: unknown) =>
      this.#fail({ image: p, error: e }, { type: 'image-failed', ref: p.ref, arch: p.arch }),
    );
    if (this.#stopped) return; // another item failed (no --keep-going) while this one resolved: not started
    this.emit({
      type: 'image-start',
      ref: p.ref,
      arch: p.arch,
      size: [r.manifest.config, ...r.manifest.layers].reduce((n, d) => n + d.size, 0),
    });
    const img = await fetchImage(p, this.#deps(p), r).catch((e: unknown) =>
      this.#fail({ image: p, error: e }, { type: 'image-failed', ref: p.ref, arch: p.arch }),
    );
    this.#images.push(img);
    this.emit({
      type: 'image-done',
      ref: p.ref,
      arch: p.arch,
      source: img.source.ref,
      via: img.source.via,
      digest: img.manifest.digest,
      size: img.size,
      fetchedBytes: img.fetchedBytes,
    });
  }

  // One resolution per image, shared by the preflight steps, the look-ahead and the fetch; it feeds the running
  // totals once. One a step made has no early layers (no layer is fetched before the steps pass): they start at fetch.
  #resolution(p: PlannedImage): Promise<ResolvedImage> {
    let r = this.#resolutions.get(p);
    if (!r) {
      r = resolveOnce(this.#resolved, p, this.#deps(p)).then(
        async (v) => {
          await this.#account(v);
          return v;
        },
        async (e: unknown) => {
          await this.#account(undefined);
          throw e;
        },
      );
      r.catch(() => undefined); // the look-ahead may resolve an image nobody fetches (after a failure without --keep-going)
      this.#resolutions.set(p, r);
    }
    return r;
  }

  async #file(t: FileTask): Promise<void> {
    const deps = {
      cache: this.cache,
      http: this.#downloader,
      policy: this.#opts.policy,
      emit: this.emit,
      ...(this.#opts.baseDir ? { baseDir: this.#opts.baseDir } : {}),
      ...(this.#opts.signal ? { signal: this.#opts.signal } : {}),
    };
    this.emit({ type: 'file-start', path: t.item.path, arch: t.item.arch, kind: t.kind });
    const inBase = this.#opts.have ? heldFile(t, this.#opts.have) : undefined;
    const f =
      inBase ??
      (await fetchFile(t, deps).catch((e: unknown) =>
        this.#fail({ file: t, error: e }, { type: 'file-failed', path: t.item.path }),
      ));
    this.#files.push(f);
    this.emit({
      type: 'file-done',
      path: t.item.path,
      source: f.result.source.url,
      via: f.result.source.via,
      sha256: f.result.sha256,
      fetchedBytes: f.result.fetchedBytes,
    });
  }

  #fail(
    failure: ItemFailure,
    event: { type: 'image-failed'; ref: string; arch: string } | { type: 'file-failed'; path: string },
  ): never {
    const e = failure.error;
    if (this.#opts.signal?.aborted) throw e; // interrupted: the run stops, nothing failed
    this.#failures.push(failure);
    if (!this.#opts.keepGoing) this.#stopped = true;
    this.emit({ ...event, code: isKkoError(e) ? e.code : 'INTERNAL', message: redactText(errorText(e)) });
    throw e;
  }

  // Whether the cache held `d` when this run first saw it (before an early layer could fetch it).
  #wasCached(d: Descriptor): Promise<boolean> {
    let v = this.#cachedBefore.get(d.digest);
    if (!v) {
      v = this.cache.has({ digest: d.digest, size: d.size });
      this.#cachedBefore.set(d.digest, v);
    }
    return v;
  }

  // Running totals as images resolve: a blob counts once, as cached when the cache had it at first sight, else as
  // bytes to fetch. When the last image is resolved, warn now if the cache or the output will not fit.
  async #account(r: ResolvedImage | undefined): Promise<void> {
    const t = this.#totals;
    for (const d of r
      ? [r.manifest.config, ...r.manifest.layers.filter((l) => !this.#held?.has(r.planned.ref, l.digest))]
      : []) {
      if (this.#seen.has(d.digest)) continue;
      this.#seen.add(d.digest);
      t.totalBytes += d.size;
      if (await this.#wasCached(d)) t.cachedBytes += d.size;
    }
    t.images++;
    this.emit({
      type: 'resolved',
      images: t.images,
      of: this.#plan.images.length,
      failed: this.#failures.length,
      totalBytes: t.totalBytes,
      cachedBytes: t.cachedBytes,
    });
    if (t.images === this.#plan.images.length) await this.#warnIfShortOfDisk();
  }

  async #warnIfShortOfDisk(): Promise<void> {
    const output = this.#opts.output === '-' ? undefined : this.#opts.output;
    for (const d of await diskChecks(this.#opts.cacheDir, output, this.#totals.totalBytes, this.#totals.cachedBytes)) {
      if (!d.ok)
        this.emit({
          type: 'warning',
          message: `${d.path}: ${d.freeBytes} bytes free, about ${d.neededBytes} needed for the images`,
        });
    }
  }
}

// KKO_PART_THRESHOLD_MB (MiB, default 32; 0: never split): a blob larger than this is fetched as Range parts of half
// that size on several connections at once, when its first stream is slow: below KKO_PART_SLOW_MBPS (MB/s, default
// 20; 0: split at once) over its first PART_PROBE_MS (ranged.ts). Invalid values fall back to the defaults.
export const DEFAULT_PART_THRESHOLD_MB = 32;
export const DEFAULT_PART_SLOW_MBPS = 20;
const PART_PROBE_MS = 200;

function partPlan(env: NodeJS.ProcessEnv): PartPlan {
  const num = (raw: string | undefined, fallback: number): number =>
    raw !== undefined && /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : fallback;
  const threshold = Math.round(num(env.KKO_PART_THRESHOLD_MB, DEFAULT_PART_THRESHOLD_MB) * 1024 * 1024);
  const slowBytesPerSec = num(env.KKO_PART_SLOW_MBPS, DEFAULT_PART_SLOW_MBPS) * 1e6;
  return {
    threshold,
    partSize: Math.max(1024 * 1024, Math.ceil(threshold / 2)),
    slowBytesPerSec,
    probeMs: PART_PROBE_MS,
  };
}

function sortImages(images: FetchedImage[]): FetchedImage[] {
  return [...images].sort(byRefName);
}
