import { open, type FileHandle } from 'node:fs/promises';
import { Semaphore } from '../util/semaphore.js';
import { writeAllAt } from './file-out.js';
import {
  PlainSink,
  sizeError,
  writeTar,
  type FileEntry,
  type Placement,
  type PositionalOutput,
  type PositionalSink,
  type TarEntry,
  type TarOptions,
} from './tar.js';

// How many file entries are copied at once, and the buffer each copy reuses for every read and write.
const COPIES = 2;
const COPY_BUFFER = 1024 * 1024;
const PUT_BATCH = 1024 * 1024; // bytes appended in order are written once this many are pending (and before room)

// sink: the sink over the file's PositionalOutput (default PlainSink: an uncompressed tar; GzipSink for a .tar.gz).
// onWritten: told the bytes of each write once it is done (writeArchive starts writeback with it: WriteBehind).
export type TarAtOptions = TarOptions & {
  sink?: (out: PositionalOutput) => PositionalSink;
  onWritten?: (bytes: number) => void;
};

type Copy = { entry: FileEntry; size: number; place: Placement };

// The tar of `entries` into the file `fh`, the same bytes as writeTar into the same sink gives, written by position
// (#10): the archive's layout is fixed once every name and size is known, so the sink lays it out in archive order —
// headers, in-memory entries, padding and end blocks go out at once, while each file entry the sink places gets room
// of the size its bytes take in the output — and each placed entry is copied into its room as soon as its `ready`
// resolves, in any order (an export's blobs as the cache verifies them, not in archive order: the last blob to arrive
// is then the only one left to copy). Plain tar places every file entry; gzip its `compressed` ones (stored blocks),
// the others it deflates in order as writeTar does. Copies start while the layout goes on. Each copy reads into one
// reused buffer and writes it (framed by the sink) at its offset. The sink is ended once every copy is done.
// `open` entries (streams, read in order) are not supported here: writeArchive takes writeTar for them. On a failure
// or an abort, the copies in flight finish their current chunk and the error is thrown; the caller removes the file.
export async function writeTarAt(entries: readonly TarEntry[], fh: FileHandle, opts: TarAtOptions = {}): Promise<void> {
  for (const e of entries)
    if ('open' in e) throw new Error(`writeTarAt: entry "${e.name}" is a stream; write it with writeTar`);
  const write = writerAt(fh, opts.onWritten);
  const out = new FileOutput(write);
  const sink = (opts.sink ?? ((o) => new PlainSink(o)))(out);
  const copier = new Copier(write, opts.signal);
  try {
    await writeTar(entries, sink, {
      ...(opts.mtime === undefined ? {} : { mtime: opts.mtime }),
      signal: copier.signal, // a failed copy stops the layout too
      place: async (entry, size) => {
        const place = await sink.place(size, entry.compressed === true);
        if (place) copier.add({ entry, size, place });
        return place !== undefined;
      },
    });
    await sink.flush();
    await out.flush();
    await copier.finish();
    await sink.end();
    await out.flush();
  } catch (err) {
    const first = copier.failure ?? err;
    await copier.stop();
    throw first;
  }
}

// The file as a PositionalOutput: bytes appended in order are batched and written by position; room is skipped.
class FileOutput implements PositionalOutput {
  readonly #write: WriteAt;
  #end = 0;
  #pending: Buffer[] = [];
  #pendingAt = 0;
  #pendingBytes = 0;
  constructor(write: WriteAt) {
    this.#write = write;
  }
  async put(chunks: readonly Buffer[]): Promise<void> {
    for (const c of chunks) {
      if (c.length === 0) continue;
      if (this.#pending.length === 0) this.#pendingAt = this.#end;
      this.#pending.push(c);
      this.#pendingBytes += c.length;
      this.#end += c.length;
    }
    if (this.#pendingBytes >= PUT_BATCH) await this.flush();
  }
  async skip(bytes: number): Promise<number> {
    await this.flush();
    const at = this.#end;
    this.#end += bytes;
    return at;
  }
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const bytes = Buffer.concat(this.#pending); // one write (headers are 512 bytes each: more than writev takes)
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#write([bytes], this.#pendingAt);
  }
}

// The copies of the placed file entries: each starts once its entry is ready, COPIES at a time. The first failure
// (a copy's, a `ready`'s, or the abort) aborts `signal` with it, so the layout stops as well.
class Copier {
  readonly #write: WriteAt;
  readonly #slots = new Semaphore(COPIES);
  readonly #buffers: Buffer[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  readonly #outer: AbortSignal | undefined;
  readonly #onAbort = (): void => this.#fail(this.#outer?.reason);
  #left = 0;
  #failure: { err: unknown } | undefined;
  #idle: (() => void) | undefined;
  #failed: ((err: unknown) => void) | undefined;

  constructor(write: WriteAt, signal: AbortSignal | undefined) {
    this.#write = write;
    this.#outer = signal;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#stop.signal;
  }
  get failure(): unknown {
    return this.#failure?.err;
  }

  add(c: Copy): void {
    this.#left++;
    const ready = c.entry.ready;
    if (ready)
      ready().then(
        () => this.#start(c),
        (err: unknown) => this.#fail(err),
      );
    else this.#start(c);
  }

  // Resolves once every copy added is done; throws the first failure.
  async finish(): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        if (this.#failure) return reject(this.#failure.err);
        if (this.#left === 0) return resolve();
        this.#idle = resolve;
        this.#failed = reject;
      });
    } finally {
      this.#outer?.removeEventListener('abort', this.#onAbort);
    }
  }

  // No copy starts after this; resolves once the copies in flight have stopped.
  async stop(): Promise<void> {
    this.#fail(new Error('writeTarAt: stopped'));
    this.#outer?.removeEventListener('abort', this.#onAbort);
    await Promise.allSettled([...this.#running]);
  }

  #fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = { err };
    this.#stop.abort(err);
    this.#failed?.(err);
  }

  #start(c: Copy): void {
    if (this.#failure) return;
    const p = (async () => {
      const release = await this.#slots.acquire(-c.place.at); // earlier offsets first: the file fills from the front
      const buf = this.#buffers.pop() ?? Buffer.allocUnsafe(COPY_BUFFER);
      try {
        if (!this.#failure) await copyInto(this.#write, c, buf, () => this.#failure !== undefined);
      } finally {
        this.#buffers.push(buf);
        release();
      }
    })();
    this.#running.add(p);
    p.then(
      () => {
        if (--this.#left === 0) this.#idle?.();
      },
      (err: unknown) => this.#fail(err),
    ).finally(() => this.#running.delete(p));
  }
}

// Read c.entry.file from its start (sequentially: a pipe works too) and write it, as c.place frames it, exactly
// c.size bytes.
async function copyInto(write: WriteAt, c: Copy, buf: Buffer, stopped: () => boolean): Promise<void> {
  const src = await open(c.entry.file, 'r');
  try {
    let seen = 0;
    for (;;) {
      if (stopped()) return;
      const want = Math.min(buf.length, c.size - seen + 1); // one byte more than is left: a grown file shows
      const { bytesRead } = await src.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      if (seen + bytesRead > c.size) throw sizeError(c.entry.file, c.size, seen + bytesRead);
      const { position, buffers } = c.place.frame(buf.subarray(0, bytesRead), seen);
      await write(buffers, position);
      seen += bytesRead;
    }
    if (seen !== c.size) throw sizeError(c.entry.file, c.size, seen);
  } finally {
    await src.close();
  }
}

// Writes `chunks` one after the other from `position`, whole.
type WriteAt = (chunks: readonly Buffer[], position: number) => Promise<void>;

function writerAt(fh: FileHandle, onWritten: ((bytes: number) => void) | undefined): WriteAt {
  if (!onWritten) return (chunks, position) => writeAllAt(fh, chunks, position);
  return async (chunks, position) => {
    await writeAllAt(fh, chunks, position);
    onWritten(chunks.reduce((n, c) => n + c.length, 0));
  };
}
