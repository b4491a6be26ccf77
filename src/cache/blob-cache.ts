import { createHash, type Hash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KkoError } from '../errors.js';
import { noopLogger, type Logger } from '../log.js';
import { acquireLock } from './lock.js';
import { hashFile, hashInto } from './hash-file.js';
import { fetchInParts, partStarts, type PartPlan } from './ranged.js';
import { resumeInto, type BlobFetcher } from './resume.js';
import { sweepCacheTmp } from './sweep.js';

export type { BlobFetcher, PartPlan };

// `size` undefined (a download whose length is unknown up front, e.g. a binary known only by its sha256):
// the body is read to its end and only the digest decides.
export type BlobRef = { digest: string; size?: number | undefined };

// signal: stop (keeping the partial for a resume) as soon as it aborts; the abort reason is thrown.
// what: how errors name the content ("binary kube/v1.28.12/amd64/kubeadm"); default "blob <digest>".
// ranged: the fetcher honours its `length` argument (a registry blob), so a large blob may be fetched in parts.
export type EnsureOptions = {
  onBytes?: (n: number) => void;
  signal?: AbortSignal | undefined;
  what?: string;
  ranged?: boolean;
};

export type EnsureResult = { path: string; fetchedBytes: number; resumedFrom: number; cached: boolean };

// onCorrupt: a cached blob whose bytes no longer match its digest (bit rot, a same-size edit) was found and dropped.
// parts: how a large blob is split into Range parts fetched at once (see ranged.ts); unset: one stream per blob.
export type BlobCacheOptions = {
  logger?: Logger;
  attempts?: number;
  onBytes?: (n: number) => void;
  onCorrupt?: (c: CorruptBlob) => void;
  parts?: PartPlan;
};

export type CorruptBlob = { digest: string; got: string; size: number; path: string };

const HEX = /^sha256:([a-f0-9]{64})$/;

function hexOf(digest: string): string {
  const m = HEX.exec(digest);
  if (!m) throw new KkoError('INVALID_DIGEST', `invalid digest "${digest}": expected sha256:<64 hex>`);
  return m[1] as string;
}

// A persistent content-addressed store: blobs/sha256/<hex> only ever receives verified bytes, and a blob found there
// is hashed again (once per process) before it is used, because the disk is not trusted to keep them: a corrupt
// entry is dropped and fetched again. Downloads go to tmp/<hex>.partial, survive crashes, and continue from their
// length next time.
export class BlobCache {
  readonly root: string;
  readonly #logger: Logger;
  readonly #attempts: number;
  readonly #onCorrupt: ((c: CorruptBlob) => void) | undefined;
  readonly #parts: PartPlan | undefined;
  readonly #inflight = new Map<string, Promise<EnsureResult>>();
  // Blobs this process has hashed (or written itself): a verdict per digest, shared by concurrent callers.
  readonly #verified = new Map<string, Promise<boolean>>();
  // Callers waiting for a blob to be verified here (whenVerified), by digest.
  readonly #waiters = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  // tmp/ and blobs/sha256/, made once (#dirs); again when something removed them meanwhile (see #ensure).
  #dirs: Promise<void> | undefined;

  constructor(root: string, opts: BlobCacheOptions = {}) {
    this.root = root;
    this.#logger = opts.logger ?? noopLogger;
    this.#attempts = opts.attempts ?? 4;
    this.#onCorrupt = opts.onCorrupt;
    this.#parts = opts.parts;
  }

  blobPath(digest: string): string {
    return join(this.root, 'blobs', 'sha256', hexOf(digest));
  }

  partialPath(digest: string): string {
    return join(this.root, 'tmp', `${hexOf(digest)}.partial`);
  }

  // True when a file is present under the digest with the expected size (any size when it is unknown). Cheap and
  // not a verification: for estimates (precheck, "cached" totals). Use hasVerified() before relying on the bytes.
  async has(blob: BlobRef): Promise<boolean> {
    try {
      const size = (await stat(this.blobPath(blob.digest))).size;
      return blob.size === undefined || size === blob.size;
    } catch {
      return false;
    }
  }

  // True when the blob is present and its bytes hash to its digest. Hashed once per process (streaming); a blob this
  // process wrote counts as verified. A mismatch removes the entry (reported through onCorrupt) and answers false,
  // so the caller fetches it again.
  async hasVerified(blob: BlobRef): Promise<boolean> {
    if (!(await this.has(blob))) {
      this.#verified.delete(blob.digest);
      return false;
    }
    let verdict = this.#verified.get(blob.digest);
    if (!verdict) {
      verdict = this.#check(blob.digest);
      this.#verified.set(blob.digest, verdict);
    }
    const ok = await verdict;
    if (!ok) this.#verified.delete(blob.digest);
    else this.#wake(blob.digest);
    return ok;
  }

  // Resolves once this process has verified the blob (downloaded it, or hashed the cached file): from then on its
  // bytes may be read from blobPath(). Never rejects; a caller that also waits for the fetch's outcome races the two.
  // #10: the archive written while layers arrive appends each blob as soon as it is complete.
  whenVerified(digest: string): Promise<void> {
    let w = this.#waiters.get(digest);
    if (!w) {
      let resolve = (): void => undefined;
      const promise = new Promise<void>((r) => (resolve = r));
      w = { promise, resolve };
      this.#waiters.set(digest, w);
    }
    void this.#verified.get(digest)?.then((ok) => ok && this.#wake(digest));
    return w.promise;
  }

  #markVerified(digest: string): void {
    this.#verified.set(digest, Promise.resolve(true));
    this.#wake(digest);
  }

  #wake(digest: string): void {
    this.#waiters.get(digest)?.resolve();
  }

  async #check(digest: string): Promise<boolean> {
    const path = this.blobPath(digest);
    const { digest: got, size } = await hashFile(path).catch(() => ({ digest: '', size: 0 }));
    if (got === digest) return true;
    if (got === '') return false; // vanished meanwhile: simply not cached
    await rm(path, { force: true });
    this.#logger.warn(`cache: ${path} holds ${got} (${size} bytes), not ${digest}: removed, fetching it again`);
    this.#onCorrupt?.({ digest, got, size, path });
    return false;
  }

  // Move a file whose digest the caller computed into the cache (verified by construction); an entry that
  // already verifies wins and the file is removed.
  async adopt(file: string, digest: string): Promise<string> {
    const target = this.blobPath(digest);
    if (await this.hasVerified({ digest })) {
      await rm(file, { force: true });
      return target;
    }
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await rename(file, target);
    this.#markVerified(digest);
    return target;
  }

  // Remove what killed runs left in tmp/ that no run can use; resumable partials stay (see sweepCacheTmp).
  sweep(): Promise<string[]> {
    return sweepCacheTmp(this.root);
  }

  // Make sure the blob is in the cache, fetching (and resuming) it when needed. Concurrent callers share one download.
  // A caller that joined a download which then failed (another source's corrupt copy, say) tries again with its own fetcher.
  async ensure(blob: BlobRef, fetch: BlobFetcher, opts: EnsureOptions = {}): Promise<EnsureResult> {
    opts.signal?.throwIfAborted();
    const running = this.#inflight.get(blob.digest);
    if (running) {
      const shared = await running.catch(() => undefined);
      if (shared) return { ...shared, fetchedBytes: 0, cached: true };
      return this.ensure(blob, fetch, opts);
    }
    const p = this.#ensure(blob, fetch, opts).finally(() => this.#inflight.delete(blob.digest));
    this.#inflight.set(blob.digest, p);
    return p;
  }

  async #ensure(blob: BlobRef, fetch: BlobFetcher, opts: EnsureOptions): Promise<EnsureResult> {
    const final = this.blobPath(blob.digest);
    if (await this.hasVerified(blob)) return { path: final, fetchedBytes: 0, resumedFrom: 0, cached: true };
    const lock = (): Promise<(() => Promise<void>) | undefined> =>
      acquireLock(`${this.partialPath(blob.digest)}.lock`, { isDone: () => this.hasVerified(blob) });
    await this.#makeDirs();
    // The directories were made by an earlier blob of this process; someone may have removed them since (a cache
    // clean): then the lock cannot be created (ENOENT), and they are made again.
    const release = await lock().catch(async (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.#makeDirs(true);
      return lock();
    });
    if (!release) return { path: final, fetchedBytes: 0, resumedFrom: 0, cached: true };
    try {
      if (await this.hasVerified(blob)) return { path: final, fetchedBytes: 0, resumedFrom: 0, cached: true };
      return await this.#download(blob, fetch, opts);
    } finally {
      await release();
    }
  }

  // Once per cache, not per blob (#10: two mkdir calls, each an EEXIST and a stat, per blob of an export).
  #makeDirs(again = false): Promise<void> {
    if (again || !this.#dirs) {
      const made = (async () => {
        await mkdir(join(this.root, 'tmp'), { recursive: true });
        await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
      })();
      this.#dirs = made;
      made.catch(() => {
        if (this.#dirs === made) this.#dirs = undefined;
      });
    }
    return this.#dirs;
  }

  async #download(blob: BlobRef, fetch: BlobFetcher, opts: EnsureOptions): Promise<EnsureResult> {
    const partial = this.partialPath(blob.digest);
    // Hash what a previous run left once; afterwards every byte is hashed as it is written, so the
    // in-memory hash always matches the partial file on disk.
    const state = await this.#hashPartial(partial, blob.size);
    const resumedFrom = state.size;
    const what = `fetching ${opts.what ?? `blob ${blob.digest}`}`;
    const ro = {
      what,
      attempts: this.#attempts,
      expected: blob.size,
      kept: true,
      onBytes: opts.onBytes,
      signal: opts.signal,
      logger: this.#logger,
    };
    const starts = opts.ranged && blob.size !== undefined ? partStarts(blob.size, this.#parts) : [0];
    const fetchedBytes =
      starts.length > 1
        ? await fetchInParts(partial, state, blob.size as number, fetch, starts, ro, this.#parts)
        : await resumeInto(partial, state, fetch, ro);
    const got = `sha256:${state.hash.digest('hex')}`;
    if (got !== blob.digest) {
      await rm(partial, { force: true });
      throw new KkoError(
        'DIGEST_MISMATCH',
        opts.what
          ? `fetching ${opts.what}: got ${got} (${state.size} bytes), expected ${blob.digest}; the corrupt copy was discarded`
          : `fetching blob ${blob.digest}: got ${got} (${state.size} bytes); the corrupt copy was discarded`,
      );
    }
    // No fsync before the rename (#10): an entry is hashed again before any run uses it (hasVerified), so a crash
    // that leaves it short of its bytes costs a fetch, never a wrong byte; the fsync cost 2 GiB of synchronous
    // writeback per 2 GiB export, on the critical path of every download.
    await rename(partial, this.blobPath(blob.digest)).catch(async (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.#makeDirs(true); // blobs/sha256 removed since this process made it (the partial is still there)
      await rename(partial, this.blobPath(blob.digest));
    });
    this.#markVerified(blob.digest);
    return { path: this.blobPath(blob.digest), fetchedBytes, resumedFrom, cached: false };
  }

  // Hash what a previous run left; a partial longer than the blob is garbage and is dropped.
  async #hashPartial(partial: string, expected: number | undefined): Promise<HashState> {
    const hash = createHash('sha256');
    const size = await stat(partial).then(
      (s) => s.size,
      () => 0,
    );
    if (expected !== undefined && size > expected) {
      await rm(partial, { force: true });
      return { hash, size: 0 };
    }
    return { hash, size: await hashInto(hash, partial, size) };
  }
}

type HashState = { hash: Hash; size: number };
