import type { Writable } from 'node:stream';
import * as zlib from 'node:zlib'; // a namespace import: zlib.crc32 is missing before Node 20.15
import { KkoError } from '../errors.js';
import { writeOut, type ArchiveSink } from './tar.js';

// One gzip member (RFC 1952) whose DEFLATE stream (RFC 1951) mixes two kinds of blocks:
// - bytes marked `store` (already-compressed image layers) go out as stored blocks (BTYPE=00, at most 65535 bytes,
//   LEN/NLEN), which costs a memcpy instead of deflating incompressible data;
// - everything else is deflated by zlib in batches, each ending in a sync flush (RFC 1951 3.2.4: the flush is an
//   empty stored block, so the bit stream is byte-aligned again), and each given the previous 32 KiB as dictionary
//   when it continues a deflated run, so the matches a single stream would find are kept (pigz does the same).
// The member ends with an explicit empty final stored block (BFINAL=1), CRC-32 and ISIZE. GNU gzip, GNU tar and
// Go's compress/gzip read it as ordinary gzip. The bytes depend only on the input bytes and the store marks, never on
// how the input was chunked, so the output is deterministic.

const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // deflate, no flags, MTIME 0, XFL 0, OS unknown
const FINAL_BLOCK = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]); // BFINAL=1, BTYPE=00, LEN=0, NLEN=0xffff
const MAX_STORED = 65535;
const WINDOW = 32 * 1024;
const BATCH = 1024 * 1024; // deflate input per zlib call
const SYNC_BELOW = 64 * 1024; // smaller batches (tar headers between layers) skip the thread pool round trip
const IN_FLIGHT = 2; // deflate batches compressing at once in the libuv pool (2 cores)

export type GzipSinkOptions = { level?: number };

// CRC-32 (ISO 3309, the gzip polynomial): zlib.crc32 where Node has it (20.15+), else a table.
export const crc32: (data: Buffer, value: number) => number =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

let table: Uint32Array | undefined;
// Byte-at-a-time CRC-32 for Node versions without zlib.crc32.
export function tableCrc32(data: Buffer, value: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (const b of data) c = (table[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

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
  const h = Buffer.alloc(5);
  h.writeUInt16LE(len, 1);
  h.writeUInt16LE(~len & 0xffff, 3);
  return h;
}

function deflateAsync(data: Buffer, opts: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zlib.deflateRaw(data, opts, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

// Gzip writer for the archive: stored blocks for `store` bytes, deflate for the rest, one valid gzip member.
export class GzipSink implements ArchiveSink {
  readonly #out: Writable;
  readonly #level: number;
  #crc = 0;
  #size = 0;
  #started = false;
  #deflate = new BlockCutter(BATCH);
  #stored = new BlockCutter(MAX_STORED);
  #dictionary: Buffer | undefined; // the last bytes before the pending deflate input, when they were deflated too
  #inFlight: Promise<Buffer>[] = [];

  constructor(out: Writable, opts: GzipSinkOptions = {}) {
    this.#out = out;
    this.#level = opts.level ?? 6;
    if (!Number.isInteger(this.#level) || this.#level < 1 || this.#level > 9) {
      throw new KkoError('INVALID_INPUT', `gzip level ${String(opts.level)}: expected 1..9`);
    }
  }

  async write(chunk: Buffer, store: boolean): Promise<void> {
    if (!this.#started) await this.#emit([HEADER]);
    this.#started = true;
    if (chunk.length === 0) return;
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
    if (store) await this.#writeStored(chunk);
    else await this.#writeDeflated(chunk);
  }

  async end(): Promise<void> {
    if (!this.#started) await this.#emit([HEADER]);
    this.#started = true;
    await this.#flushDeflate();
    await this.#flushStored();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.#crc >>> 0, 0);
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4); // ISIZE is the length modulo 2^32
    await this.#emit([FINAL_BLOCK, trailer]);
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
    return writeOut(this.#out, chunks);
  }
}
