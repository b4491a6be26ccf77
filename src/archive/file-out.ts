import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

// Writes `chunks` (a few dozen at most: one writev) one after the other from `position`; a short write goes on from
// where it stopped.
export async function writeAllAt(fh: FileHandle, chunks: readonly Buffer[], position: number): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  let at = position;
  while (rest.length > 0) {
    const first = rest[0] as Buffer;
    let { bytesWritten } = rest.length === 1 ? await fh.write(first, 0, first.length, at) : await fh.writev(rest, at);
    at += bytesWritten;
    while (rest.length > 0 && bytesWritten >= (rest[0] as Buffer).length)
      bytesWritten -= (rest.shift() as Buffer).length;
    if (bytesWritten > 0) rest = [(rest[0] as Buffer).subarray(bytesWritten), ...rest.slice(1)];
  }
}

// The streaming writer's file (zstd, or a stream entry): a Writable that appends to `fh` (the caller opens, syncs and
// closes it) and tells `onWritten` the bytes of each write once done (writeArchive starts writeback with it:
// WriteBehind, as for the positional writer). What is queued goes out as one writev.
export class FileOut extends Writable {
  readonly #fh: FileHandle;
  readonly #onWritten: (bytes: number) => void;
  #at = 0;

  constructor(fh: FileHandle, onWritten: (bytes: number) => void) {
    super({ highWaterMark: 1024 * 1024 });
    this.#fh = fh;
    this.#onWritten = onWritten;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#put([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#put(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  #put(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    writeAllAt(this.#fh, chunks, this.#at).then(
      () => {
        this.#at += bytes;
        this.#onWritten(bytes);
        cb();
      },
      (err: Error) => cb(err),
    );
  }
}
