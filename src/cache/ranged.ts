import { createReadStream } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isKkoError } from '../errors.js';
import { noopLogger } from '../log.js';
import { writeError } from '../util/net-errors.js';
import { resumeInto, type BlobFetcher, type ResumeOptions, type ResumeState } from './resume.js';

// A blob larger than `threshold` bytes is fetched as parts of `partSize` bytes on several connections at once.
// slowBytesPerSec, probeMs (#10): only a slow stream is split. The later parts start once the blob's first stream has
// run for probeMs and brought less than slowBytesPerSec on average (a per-connection cap: a CDN, a registry mirror, the
// bench's link model); a fast stream (loopback, a LAN mirror) carries the whole blob, since the part files would cost
// a second write and read of most of its bytes for nothing. Part files an earlier run left are continued at once.
// Unset or 0: every part starts at once.
export type PartPlan = {
  readonly threshold: number;
  readonly partSize: number;
  readonly slowBytesPerSec?: number;
  readonly probeMs?: number;
};

const READ_CHUNK = 1024 * 1024;

// Where each part of a blob of `size` bytes starts: one part (no split) up to the threshold, else every partSize
// bytes. A pure function of the size and the plan, so a later run finds the part files of an earlier one.
export function partStarts(size: number, plan: PartPlan | undefined): number[] {
  if (!plan || plan.threshold <= 0 || size <= plan.threshold) return [0];
  const step = Math.max(1, plan.partSize);
  const starts: number[] = [];
  for (let s = 0; s < size; s += step) starts.push(s);
  return starts;
}

// The file a later part is kept in until the hash reaches it: <partial>-<start>.
export function partFile(partial: string, start: number): string {
  return `${partial}-${start}`;
}

// Fetch a blob of `size` bytes into `partial` as Range parts on several connections at once, hashed in order:
// - the partial only ever holds the contiguous prefix, hashed (the resume state, as for a single stream); the part
//   it is in is fetched straight into it;
// - every later part goes into its own file (partFile), resumed from that file's length; when the prefix reaches a
//   part and the part is complete, its file is hashed and appended to the partial in one pass, then removed;
// - a server that does not honour Range (a part answered 200: RANGE_IGNORED; a body running past its part), or any
//   part that fails for good, ends the split: the other parts stop, their files go, and the prefix carries on as one
//   stream. An abort or a failure of the prefix stops every part and is thrown; part files stay for a resume.
// Returns the bytes fetched.
export async function fetchInParts(
  partial: string,
  state: ResumeState,
  size: number,
  fetch: BlobFetcher,
  starts: readonly number[],
  opts: ResumeOptions,
  plan: PartPlan = { threshold: 0, partSize: 0 },
): Promise<number> {
  const ends = starts.map((s, i) => starts[i + 1] ?? size);
  const log = opts.logger ?? noopLogger;
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const first = partIndex(starts, state.size);
  const tails = new Map<number, Promise<boolean>>();
  let ranged = true;
  let fetched = 0;
  const fallBack = (why: unknown): void => {
    if (!ranged) return;
    ranged = false;
    log.debug(`${opts.what}: fetching as one stream: ${String(why)}`);
    ac.abort(new Error('ranged fetch ended'));
  };
  await dropStrayParts(partial, new Set(starts.slice(first + 1)));
  // A tail part: true once its file holds all of it; false when the split ended (or was aborted) before.
  const fetchTail = async (i: number): Promise<boolean> => {
    const start = starts[i] as number;
    const len = (ends[i] as number) - start;
    const file = partFile(partial, start);
    const part: ResumeState = {
      size: await stat(file).then(
        (s) => s.size,
        () => 0,
      ),
    };
    if (part.size > len) {
      await rm(file, { force: true });
      part.size = 0;
    }
    const what = `${opts.what} (part at byte ${start})`;
    try {
      fetched += await resumeInto(file, part, (o, l) => fetch(start + o, l), {
        ...opts,
        what,
        expected: len,
        end: len,
        kept: true,
        signal: ac.signal,
      });
      return true;
    } catch (err) {
      if (!ac.signal.aborted) fallBack(err);
      return false;
    }
  };
  // Which tails start now: all of them, or (a slow-stream probe) only those an earlier run left files for.
  const probe = (plan.slowBytesPerSec ?? 0) > 0 && (plan.probeMs ?? 0) > 0;
  const left = probe ? await partFilesOf(partial) : undefined;
  for (let i = first + 1; i < starts.length; i++)
    if (!left || left.has(starts[i] as number)) tails.set(i, fetchTail(i));
  // The probe: `current` is the part the first stream is in; its bytes are counted from its start.
  let current = first;
  let undecided = probe;
  let streamed = 0;
  const startedAt = Date.now();
  const timer = probe
    ? setTimeout(() => {
        undecided = false;
        const rate = streamed / (Math.max(1, Date.now() - startedAt) / 1000);
        if (!ranged || rate >= (plan.slowBytesPerSec as number)) return;
        log.debug(`${opts.what}: ${Math.round(rate)} B/s on one stream: fetching the rest as Range parts`);
        for (let i = current + 1; i < starts.length; i++) if (!tails.has(i)) tails.set(i, fetchTail(i));
      }, plan.probeMs)
    : undefined;
  const onBytes = (n: number): void => {
    streamed += n;
    opts.onBytes?.(n);
  };
  try {
    while (state.size < size) {
      opts.signal?.throwIfAborted();
      const i = partIndex(starts, state.size);
      current = i;
      const tail = tails.get(i);
      if (ranged && tail && state.size === starts[i]) {
        if (await tail)
          await appendPart(partial, state, partFile(partial, state.size), (ends[i] as number) - state.size);
        continue;
      }
      // Up to the next part another stream fetches (or may still fetch: the probe is undecided), else to the end.
      let next = i + 1;
      while (next < starts.length && !undecided && !tails.has(next)) next++;
      const end = ranged && next < starts.length ? (starts[next] as number) : undefined;
      fetched += await resumeInto(partial, state, fetch, { ...opts, expected: size, end, onBytes });
      if (end !== undefined && state.size > end) fallBack(`the server sent more than bytes ${starts[i]}-${end - 1}`);
    }
    return fetched;
  } catch (err) {
    ac.abort(err);
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    await Promise.allSettled(tails.values());
    if (!ranged) await dropStrayParts(partial, new Set());
  }
}

// The part that byte `offset` falls in.
function partIndex(starts: readonly number[], offset: number): number {
  let i = 0;
  while (i + 1 < starts.length && (starts[i + 1] as number) <= offset) i++;
  return i;
}

// The starts of the part files an earlier run left beside this partial.
async function partFilesOf(partial: string): Promise<Set<number>> {
  const prefix = `${basename(partial)}-`;
  const names = await readdir(dirname(partial)).catch(() => [] as string[]);
  return new Set(names.filter((n) => n.startsWith(prefix)).map((n) => Number(n.slice(prefix.length))));
}

// Part files of this partial whose start is not in `keep` (another plan's, or overlapping the prefix) are removed.
async function dropStrayParts(partial: string, keep: ReadonlySet<number>): Promise<void> {
  const prefix = `${basename(partial)}-`;
  const dir = dirname(partial);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const start = Number(name.slice(prefix.length));
    if (!Number.isSafeInteger(start) || !keep.has(start)) await rm(join(dir, name), { force: true });
  }
}

// Hash a complete part file and append it to the partial in one pass (write, then hash what reached the file, so the
// hash always equals the partial on disk), then remove it.
async function appendPart(partial: string, state: ResumeState, file: string, length: number): Promise<void> {
  const fh = await open(partial, 'a');
  try {
    for await (const chunk of createReadStream(file, {
      highWaterMark: READ_CHUNK,
      end: length - 1,
    }) as AsyncIterable<Buffer>) {
      let written = 0;
      try {
        while (written < chunk.length) written += (await fh.write(chunk, written)).bytesWritten;
      } catch (err) {
        await fh.truncate(state.size).catch(() => undefined);
        throw isKkoError(err) ? err : writeError(partial, err);
      }
      state.hash?.update(chunk);
      state.size += chunk.length;
    }
  } finally {
    await fh.close();
  }
  await rm(file, { force: true });
}
