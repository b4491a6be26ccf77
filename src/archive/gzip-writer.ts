import type { Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { KkoError } from '../errors.js';
import { crc32, crc32Combine } from './crc32.js';
import {
  emit,
  frameInBlocks,
  positionalOf,
  type BlockFraming,
  type Placement,
  type PositionalOutput,
  type PositionalSink,
} from './tar.js';

// One gzip member (RFC 1952) whose DEFLATE stream (RFC 1951) mixes two kinds of blocks:
// - bytes marked `store` (already-compressed image layers) go out as stored blocks (BTYPE=00, at most 65535 bytes,
//   LEN/NLEN), which costs a memcpy instead of deflating incompressible data;
// - everything else is deflated by zlib in batches, each ending in a sync flush (RFC 1951 3.2.4: the flush is an
//   empty stored block, so the bit stream is byte-aligned again), and each given the previous 32 KiB as dictionary
//   when it continues a deflated run, so the matches a single stream would find are kept (pigz does the same).
// The member ends with an explicit empty final stored block (BFINAL=1), CRC-32 and ISIZE. GNU gzip, GNU tar and
// Go's compress/gzip read it as ordinary gzip. The bytes depend only on the input bytes and the store marks, never on
// how the input was chunked, so the output is deterministic.
//
// Positional writing (#10): a stored run takes its bytes plus 5 per block, whatever the bytes are, and the deflated
// pieces around it depend only on the deflated bytes (a stored run ends the deflated run before it: the pending batch
// is flushed, and no dictionary crosses it). So a sink over a PositionalOutput places a `store` file entry: it ends
// the runs as a stored write does and leaves room for the stored blocks; the entry is copied in later (PlacedRun
// frames it), its CRC-32 taken during the copy and combined with the rest in order at the end (crc32Combine).

const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // deflate, no flags, MTIME 0, XFL 0, OS unknown
const FINAL_BLOCK = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]); // BFINAL=1, BTYPE=00, LEN=0, NLEN=0xffff
const MAX_STORED = 65535;
const STORED_HEADER = 5;
const WINDOW = 32 * 1024;
const BATCH = 1024 * 1024; // deflate input per zlib call
const SYNC_BELOW = 64 * 1024; // smaller batches (tar headers between layers) skip the thread pool round trip
const IN_FLIGHT = 2; // deflate batches compressing at once in the libuv pool (2 cores)

export type GzipSinkOptions = { level?: number };

// Cuts a byte stream into blocks of exactly `size` bytes, however it was chunked; blocks are lists of slices (no copy).
export class BlockCutter {
  readonly #size: number;
  #parts: Buffer[] = [];
  #bytes = 0;
  constructor(size: number) {
    this.#size = size;
  }
  get pending(): number {
    return this.#bytes;
  }
  // The blocks that `chunk` completes, in order; the rest waits for more input or take().
  push(chunk: Buffer): Buffer[][] {
    const blocks: Buffer[][] = [];
    let rest = chunk;
    while (this.#bytes + rest.length >= this.#size) {
      const take = this.#size - this.#bytes;
      blocks.push([...this.#parts, rest.subarray(0, take)]);
      this.#parts = [];
      this.#bytes = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      this.#parts.push(rest);
      this.#bytes += rest.length;
    }
    return blocks;
  }
  // The pending partial block (possibly empty), which is then cleared.
  take(): Buffer[] {
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    return parts;
  }
}

// A stored block header for `len` bytes; the stream is byte-aligned here, so the 3 header bits fill a whole byte.
function storedHeader(len: number): Buffer {
  const h = Buffer.alloc(STORED_HEADER);
  h.writeUInt16LE(len, 1);
  h.writeUInt16LE(~len & 0xffff, 3);
  return h;
}

// The room a stored run of `size` bytes takes: its bytes and a header per block (full blocks of 65535, then the rest).
function storedLength(size: number): number {
  return size + STORED_HEADER * Math.ceil(size / MAX_STORED);
}

// A placed stored run of `size` bytes whose first block header goes at `at`, as the copy fills it in: the bytes from
// `from` on, with the header of each block that starts among them (the blocks a stored write of the run gives), go
// out as one contiguous piece; `crc` follows the bytes framed so far.
class PlacedRun implements Placement {
  readonly at: number;
  readonly size: number;
  crc = 0;
  readonly #framing: BlockFraming;
  constructor(at: number, size: number) {
    this.at = at;
    this.size = size;
    this.#framing = { at, size, block: MAX_STORED, headerLength: STORED_HEADER, header: storedHeader };
  }
  frame(chunk: Buffer, from: number): { position: number; buffers: Buffer[] } {
    this.crc = crc32(chunk, this.crc);
    return frameInBlocks(chunk, from, this.#framing);
  }
}

function deflateAsync(data: Buffer, opts: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zlib.deflateRaw(data, opts, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

// Gzip writer for the archive: stored blocks for `store` bytes, deflate for the rest, one valid gzip member.
// Over a PositionalOutput it places `store` file entries (tar-at.ts), and the rest comes through write() in order.
export class GzipSink implements PositionalSink {
  readonly #out: Writable | PositionalOutput;
  readonly #level: number;
  #crc = 0; // of the bytes since the last placed run
  #crcBytes = 0;
  #size = 0;
  #started = false;
  #deflate = new BlockCutter(BATCH);
  #stored = new BlockCutter(MAX_STORED);
  #dictionary: Buffer | undefined; // the last bytes before the pending deflate input, when they were deflated too
  #inFlight: Promise<Buffer>[] = [];
  // In order, the CRC-32 of what came before each placed run, and the run (its CRC once copied).
  readonly #segments: Array<{ crc: number; bytes: number } | PlacedRun> = [];

  constructor(out: Writable | PositionalOutput, opts: GzipSinkOptions = {}) {
    this.#out = out;
    this.#level = opts.level ?? 6;
    if (!Number.isInteger(this.#level) || this.#level < 1 || this.#level > 9) {
      throw new KkoError('INVALID_INPUT', `gzip level ${String(opts.level)}: expected 1..9`);
    }
  }

  async write(chunk: Buffer, store: boolean): Promise<void> {
    await this.#start();
    if (chunk.length === 0) return;
    this.#crc = crc32(chunk, this.#crc);
    this.#crcBytes += chunk.length;
    this.#size += chunk.length;
    if (store) await this.#writeStored(chunk);
    else await this.#writeDeflated(chunk);
  }

  // Room for `size` store bytes that are copied in later, what a write(bytes, true) of them would have given; bytes
  // to deflate (store false) come through write(). Zero bytes need no room and, as an empty write, end no run.
  // The run is a stored run of its own: the tar header before it is deflated, so no stored bytes are pending here.
  async place(size: number, store: boolean): Promise<Placement | undefined> {
    const out = positionalOf(this.#out);
    if (!store) return undefined;
    await this.#start();
    if (size === 0) return { at: await out.skip(0), frame: () => ({ position: 0, buffers: [] }) };
    await this.#flushDeflate();
    await this.#flushStored();
    this.#dictionary = undefined;
    const run = new PlacedRun(await out.skip(storedLength(size)), size);
    this.#segments.push({ crc: this.#crc, bytes: this.#crcBytes }, run);
    this.#crc = 0;
    this.#crcBytes = 0;
    this.#size += size;
    return run;
  }

  // Emit what the writes so far give: the pending deflate batch (ending in its sync flush, as before a stored run or
  // the trailer) and the pending stored block. The positional writer calls it once the layout is written.
  async flush(): Promise<void> {
    await this.#start();
    await this.#flushDeflate();
    await this.#flushStored();
  }

  // The trailer; every placed run must have been copied in by now (its CRC is read here).
  async end(): Promise<void> {
    await this.flush();
    let crc = 0;
    for (const s of [...this.#segments, { crc: this.#crc, bytes: this.#crcBytes }])
      crc = crc32Combine(crc, s.crc, 'bytes' in s ? s.bytes : s.size);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc, 0);
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4); // ISIZE is the length modulo 2^32
    await this.#emit([FINAL_BLOCK, trailer]);
  }

  async #start(): Promise<void> {
    if (!this.#started) await this.#emit([HEADER]);
    this.#started = true;
  }

  async #writeStored(chunk: Buffer): Promise<void> {
    await this.#flushDeflate();
    this.#dictionary = undefined; // the next deflate batch starts after stored bytes: no dictionary carries over
    await this.#emit(this.#stored.push(chunk).flatMap((b) => [storedHeader(MAX_STORED), ...b]));
  }

  async #flushStored(): Promise<void> {
    const bytes = this.#stored.pending;
    if (bytes > 0) await this.#emit([storedHeader(bytes), ...this.#stored.take()]);
  }

  async #writeDeflated(chunk: Buffer): Promise<void> {
    await this.#flushStored();
    for (const batch of this.#deflate.push(chunk)) await this.#startBatch(batch);
  }

  // Hand the pending deflate input to zlib; keep at most IN_FLIGHT batches compressing, written out in order.
  async #startBatch(parts: Buffer[]): Promise<void> {
    const input = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    const opts: zlib.ZlibOptions = {
      level: this.#level,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(this.#dictionary ? { dictionary: this.#dictionary } : {}),
    };
    const job =
      input.length < SYNC_BELOW ? Promise.resolve(zlib.deflateRawSync(input, opts)) : deflateAsync(input, opts);
    job.catch(() => undefined); // observed when written; never an unhandled rejection if the run is abandoned
    this.#inFlight.push(job);
    this.#dictionary = input.subarray(Math.max(0, input.length - WINDOW));
    while (this.#inFlight.length >= IN_FLIGHT) await this.#writeOldest();
  }

  async #writeOldest(): Promise<void> {
    const job = this.#inFlight.shift();
    if (job) await this.#emit([await job]);
  }

  async #flushDeflate(): Promise<void> {
    if (this.#deflate.pending > 0) await this.#startBatch(this.#deflate.take());
    while (this.#inFlight.length > 0) await this.#writeOldest();
  }

  #emit(chunks: readonly Buffer[]): Promise<void> {
    return emit(this.#out, chunks);
  }
}
