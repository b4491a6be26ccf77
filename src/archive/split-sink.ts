import { createHash, type Hash } from 'node:crypto';
import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { syncFile, WriteBehind } from '../util/durable.js';
import { basename } from 'node:path';
import { Writable } from 'node:stream';
import { KkoError } from '../errors.js';
import { formatPartsList, MAX_PARTS, partName, partsListName, presentParts } from './parts.js';

type WrittenPart = { readonly path: string; readonly sha256: string; readonly size: number };

// The archive's bytes cut into files of `splitSize` bytes (the last one shorter), each hashed as it is written:
// `<stem>.part-000`, `<stem>.part-001`, … A part is opened only when a byte is there for it, so no part is empty.
export class SplitSink extends Writable {
  readonly parts: WrittenPart[] = [];
  readonly created: string[] = []; // every file this sink made, for the cleanup
  readonly #stem: string;
  readonly #splitSize: number;
  readonly #what: string;
  #fh: FileHandle | undefined;
  #behind: WriteBehind | undefined; // writeback of the open part started every 64 MiB (a part may be gigabytes)
  #hash: Hash | undefined;
  #size = 0;
  #busy: Promise<unknown> = Promise.resolve();

  // `what`: the output as the user named it, for errors.
  constructor(stem: string, splitSize: number, what: string) {
    super({ highWaterMark: 1024 * 1024 });
    this.#stem = stem;
    this.#splitSize = splitSize;
    this.#what = what;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#run(() => this.#put(chunk), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#run(() => this.#closePart(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const closing = this.#busy.then(async () => {
      const fh = this.#fh;
      this.#fh = undefined;
      await this.#behind?.settle().catch(() => undefined);
      await fh?.close();
    });
    closing.then(
      () => cb(err),
      () => cb(err),
    );
  }

  // Resolves once no write is in flight (the cleanup removes `created` only then).
  async idle(): Promise<void> {
    await this.#busy.catch(() => undefined);
  }

  #run(fn: () => Promise<void>, cb: (err?: Error | null) => void): void {
    const p = fn();
    this.#busy = p.catch(() => undefined);
    p.then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  async #put(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length;) {
      const fh = this.#fh ?? (await this.#openPart());
      const piece = chunk.subarray(off, off + Math.min(chunk.length - off, this.#splitSize - this.#size));
      for (let done = 0; done < piece.length;) done += (await fh.write(piece, done, piece.length - done)).bytesWritten;
      this.#behind?.wrote(piece.length);
      this.#hash?.update(piece);
      this.#size += piece.length;
      off += piece.length;
      if (this.#size === this.#splitSize) await this.#closePart();
    }
  }

  async #openPart(): Promise<FileHandle> {
    if (this.destroyed) throw new Error('write after the archive was stopped');
    if (this.parts.length >= MAX_PARTS) {
      throw new KkoError(
        'INVALID_INPUT',
        `writing artifact ${this.#what}: more than ${MAX_PARTS} parts of ${this.#splitSize} bytes`,
        { hint: 'choose a larger --split-size' },
      );
    }
    const path = partName(this.#stem, this.parts.length);
    this.created.push(path);
    this.#fh = await open(path, 'wx');
    this.#behind = new WriteBehind(this.#fh);
    this.#hash = createHash('sha256');
    this.#size = 0;
    return this.#fh;
  }

  async #closePart(): Promise<void> {
    const fh = this.#fh;
    if (!fh) return;
    this.#fh = undefined;
    try {
      await (this.#behind as WriteBehind).sync(); // on disk before it is renamed to its part name (commitParts)
    } finally {
      await this.#behind?.settle().catch(() => undefined);
      await fh.close(); // also when the sync fails: the caller removes the part, and its space is freed only then
    }
    this.parts.push({
      path: partName(this.#stem, this.parts.length),
      sha256: (this.#hash as Hash).digest('hex'),
      size: this.#size,
    });
  }
}

// Give the finished parts their names: the sha256 list first (so a reader that meets a half-renamed set finds the
// list and refuses what is missing or foreign), then the parts in order, then stale higher parts of an older export
// under the same name are removed. Returns the part paths.
export async function commitParts(sink: SplitSink, stem: string, output: string): Promise<string[]> {
  const records = sink.parts.map((p, i) => ({ name: basename(partName(output, i)), sha256: p.sha256 }));
  const listTmp = partsListName(stem);
  sink.created.push(listTmp);
  await writeFile(listTmp, formatPartsList(records), { flag: 'wx', mode: 0o644 });
  await syncFile(listTmp);
  await rename(listTmp, partsListName(output));
  const finals = sink.parts.map((_, i) => partName(output, i));
  for (const [i, p] of sink.parts.entries()) await rename(p.path, finals[i] as string);
  for (const [index, path] of await presentParts(output)) if (index >= finals.length) await rm(path, { force: true });
  return finals;
}
