import type { Hash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isKkoError, KkoError } from '../errors.js';
import { noopLogger, type Logger } from '../log.js';
import { retryable, writeError } from '../util/net-errors.js';
import { errorText } from '../util/sources.js';

// Bytes of a file from `offset` on (a registry GET with Range, a file server, an archive member, …); `length` bytes
// of them when given (a closed Range, a part of a ranged fetch); a fetcher that cannot end early ignores it.
export type BlobFetcher = (offset: number, length?: number) => Promise<Readable>;

// What `file` holds: its length, and (when the content is addressed) the hash of exactly those bytes.
export type ResumeState = { size: number; readonly hash?: Hash };

export type ResumeOptions = {
  readonly what: string; // "fetching blob sha256:…", "downloading to /…/x.download"
  readonly attempts: number;
  readonly expected?: number | undefined; // the size when known up front: the body must reach it and never pass it
  // Stop once the file reaches this length (default: expected): a ranged part's end. A body may still run past it
  // (up to expected), which is how a server that ignores Range still completes the file.
  readonly end?: number | undefined;
  readonly kept?: boolean; // the file survives a failure (the cache's partial): say so
  readonly onBytes?: ((n: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly logger?: Logger | undefined;
};

const WRITE_BATCH = 1024 * 1024;

// The one resume loop (blob cache partials and plain file downloads): append `fetch(state.size)` to `file` until it
// is complete, asking again from the new length (Range) after a reset, up to `attempts` times. Returns the bytes
// fetched. With an unknown size, a body that ends without an error is the whole file. A failure that is not worth
// another request (a refusal, a full disk, a body larger than `expected`) is thrown at once; an abort throws its reason.
export async function resumeInto(
  file: string,
  state: ResumeState,
  fetch: BlobFetcher,
  opts: ResumeOptions,
): Promise<number> {
  const progress = { fetched: 0 };
  let lastError: unknown;
  let ended = false;
  const target = opts.end ?? opts.expected;
  for (let attempt = 0; attempt < opts.attempts && !ended && !complete(state, target); attempt++) {
    try {
      await appendFrom(file, state, fetch, progress, opts);
      ended = true;
    } catch (err) {
      lastError = err;
      opts.signal?.throwIfAborted();
      // A source that checked its own bytes and found them wrong: what it sent is no base for a resume.
      if (isKkoError(err) && err.code === 'DIGEST_MISMATCH') {
        await rm(file, { force: true });
        throw err;
      }
      if (!retryable(err)) throw err;
      (opts.logger ?? noopLogger).debug(
        `${opts.what}: attempt ${attempt + 1} failed at byte ${state.size}, resuming: ${String(err)}`,
      );
    }
  }
  if (!ended && !complete(state, target)) {
    const where = `stopped at ${state.size} of ${target ?? 'unknown'} bytes after ${opts.attempts} attempts${opts.kept ? ' (kept for resume)' : ''}`;
    throw new KkoError('NETWORK_ERROR', `${opts.what}: ${where}: ${errorText(lastError)}`, { cause: lastError });
  }
  return progress.fetched;
}

function complete(state: ResumeState, expected: number | undefined): boolean {
  return expected !== undefined && state.size >= expected;
}

// Append bytes from state.size on, hashing and persisting each batch before reading on; never past `expected`.
async function appendFrom(
  file: string,
  state: ResumeState,
  fetch: BlobFetcher,
  progress: { fetched: number },
  opts: ResumeOptions,
): Promise<void> {
  opts.signal?.throwIfAborted();
  const target = opts.end ?? opts.expected;
  const source = await fetch(state.size, opts.end !== undefined ? opts.end - state.size : undefined);
  // An abort ends the body at once (the bytes that arrived are kept and hashed, as after a reset).
  const onAbort = (): void => void source.destroy(opts.signal?.reason as Error);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const fh = await open(file, 'a');
  // Chunks are batched into ~1 MiB writes. Each is hashed as it arrives, while its bytes are still in the CPU's cache
  // (#10: hashing a batch once it was written read it back from memory, several streams × 1 MiB later). What the hash
  // covers reaches the file before anything goes on from the state: a source failure writes the pending batch (the
  // in-memory hash matches the file on disk again for the Range resume), and a failed write ends the download (IO_ERROR,
  // not retried; the file is cut back to its last whole batch, and the next run hashes it from disk).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const batch = pending;
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    // writev: one system call for the batch, no concatenated copy (less garbage than Buffer.concat).
    let written = 0;
    try {
      while (written < bytes) {
        const r = await fh.writev(written === 0 ? batch : remainder(batch, written));
        written += r.bytesWritten;
      }
    } catch (err) {
      // A full or read-only disk is not a network problem and will not pass with a retry. Cut the file back
      // to what the hash covers, so it stays consistent for a later run.
      await fh.truncate(state.size).catch(() => undefined);
      throw writeError(file, err);
    }
    state.size += bytes;
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (opts.expected !== undefined && state.size + pendingBytes + chunk.length > opts.expected) {
        source.destroy();
        pending = [];
        pendingBytes = 0;
        await fh.close();
        await rm(file, { force: true });
        throw new KkoError(
          'SIZE_LIMIT_EXCEEDED',
          `blob body is larger than its descriptor says (${opts.expected} bytes); discarded`,
        );
      }
      state.hash?.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      progress.fetched += chunk.length;
      opts.onBytes?.(chunk.length);
      if (pendingBytes >= WRITE_BATCH) await flush();
    }
    await flush();
  } catch (err) {
    // The source broke: keep what arrived (written and hashed) for the Range resume; a write error is rethrown as is.
    if (!(isKkoError(err) && err.code === 'IO_ERROR')) await flush();
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await fh.close().catch(() => undefined);
  }
  if (target !== undefined && state.size < target)
    throw new KkoError('NETWORK_ERROR', `blob body ended after ${state.size} of ${target} bytes`);
}

// The buffers of `batch` from byte `offset` on (after a short writev).
function remainder(batch: readonly Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = offset;
  for (const b of batch) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
