import { open, type FileHandle } from 'node:fs/promises';
import { Semaphore } from '../util/semaphore.js';
import {
  entryHead,
  entryPadding,
  entrySize,
  sizeError,
  TAR_END,
  tarOrder,
  type TarEntry,
  type TarOptions,
} from './tar.js';

// How many file entries are copied at once, and the buffer each copy reuses for every read and write.
const COPIES = 2;
const COPY_BUFFER = 1024 * 1024;

type FileEntry = Extract<TarEntry, { file: string }>;
type Copy = { entry: FileEntry; at: number; size: number };

// The uncompressed tar of `entries` into the file `fh`, the same bytes as writeTar gives, written by position (#10):
// an uncompressed tar's layout is fixed once every name and size is known, so the headers, the in-memory entries,
// the padding and the end blocks are written first, and each file entry is copied to its offset as soon as its
// `ready` resolves, in any order (an export's blobs as the cache verifies them, not in archive order: the last blob
// to arrive is then the only one left to copy). Each copy reads into one reused buffer and writes it at its offset.
// `open` entries (streams, read in order) are not supported here: writeArchive takes writeTar for them. On a failure
// or an abort, the copies in flight finish their current chunk and the error is thrown; the caller removes the file.
export async function writeTarAt(entries: readonly TarEntry[], fh: FileHandle, opts: TarOptions = {}): Promise<void> {
  const mtime = opts.mtime ?? 0;
  const copies: Copy[] = [];
  const pending: Buffer[] = [];
  let pendingAt = 0;
  let at = 0;
  const put = (b: Buffer): void => {
    if (pending.length === 0) pendingAt = at;
    if (b.length > 0) pending.push(b);
    at += b.length;
  };
  const flush = async (): Promise<void> => {
    if (pending.length > 0) await writeAllAt(fh, Buffer.concat(pending), pendingAt);
    pending.length = 0;
  };
  for (const e of tarOrder(entries)) {
    opts.signal?.throwIfAborted();
    if ('open' in e) throw new Error(`writeTarAt: entry "${e.name}" is a stream; write it with writeTar`);
    const size = await entrySize(e);
    for (const h of entryHead(e.name, size, mtime)) put(h);
    if ('data' in e) put(e.data);
    else {
      await flush();
      copies.push({ entry: e, at, size });
      at += size;
    }
    put(entryPadding(size));
  }
  put(TAR_END);
  await flush();
  await copyAll(copies, fh, opts.signal);
}

// Copy every file entry once it is ready, COPIES at a time; the first failure (or the abort) is thrown once the
// copies in flight have stopped. Entries whose `ready` has not resolved by then are left alone.
async function copyAll(copies: readonly Copy[], fh: FileHandle, signal: AbortSignal | undefined): Promise<void> {
  const slots = new Semaphore(COPIES);
  const buffers: Buffer[] = [];
  const running = new Set<Promise<void>>();
  let failed = false;
  try {
    await new Promise<void>((resolve, reject) => {
      let left = copies.length;
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      const onAbort = (): void => fail(signal?.reason);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        if (--left > 0) return;
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (left === 0) return done();
      const start = (c: Copy): void => {
        if (failed) return;
        const p = (async () => {
          const release = await slots.acquire(-c.at); // earlier offsets first: the file fills from the front
          const buf = buffers.pop() ?? Buffer.allocUnsafe(COPY_BUFFER);
          try {
            if (!failed) await copyInto(fh, c, buf, () => failed || signal?.aborted === true);
          } finally {
            buffers.push(buf);
            release();
          }
        })();
        running.add(p);
        p.then(done, fail).finally(() => running.delete(p));
      };
      for (const c of copies) {
        const ready = c.entry.ready;
        if (ready) ready().then(() => start(c), fail);
        else start(c);
      }
    });
  } finally {
    await Promise.allSettled([...running]);
  }
}

// Read c.entry.file from its start (sequentially: a pipe works too) and write it at c.at, exactly c.size bytes.
async function copyInto(fh: FileHandle, c: Copy, buf: Buffer, stopped: () => boolean): Promise<void> {
  const src = await open(c.entry.file, 'r');
  try {
    let seen = 0;
    for (;;) {
      if (stopped()) return;
      const want = Math.min(buf.length, c.size - seen + 1); // one byte more than is left: a grown file shows
      const { bytesRead } = await src.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      if (seen + bytesRead > c.size) throw sizeError(c.entry.file, c.size, seen + bytesRead);
      await writeAllAt(fh, buf.subarray(0, bytesRead), c.at + seen);
      seen += bytesRead;
    }
    if (seen !== c.size) throw sizeError(c.entry.file, c.size, seen);
  } finally {
    await src.close();
  }
}

// Write all of `b` at `position` (a short write goes on from where it stopped).
async function writeAllAt(fh: FileHandle, b: Buffer, position: number): Promise<void> {
  for (let done = 0; done < b.length;) done += (await fh.write(b, done, b.length - done, position + done)).bytesWritten;
}
