import { createHash } from 'node:crypto';
import type { FileLocation } from '../artifact-read/scan.js';
import type { SourceFiles } from './source-files.js';

// Where a blob's bytes sit in the artifact file, so it can be served with positioned reads and no decoding: a list
// of [blobOffset, fileOffset, length] triples in blob order. A plain tar gives one triple (the entry's body); a
// .tar.zst gives one per zstd Raw_Block, a .tar.gz one per DEFLATE stored block (RFC 1951 3.2.4), which is how kko
// writes image layers (docs/compression.md) and how Go's compress/flate writes incompressible data.
export type Spans = Float64Array;

const READ_WINDOW = 1024 * 1024;
const MAX_SEARCH = 4 * 1024 * 1024; // compressed bytes searched for a layer's first bytes
const MAX_CANDIDATES = 8;
const STORED_MAX = 65535;

export function tarSpans(fileOffset: number, size: number): Spans {
  return Float64Array.of(0, fileOffset, size);
}

// Collects the zstd decoder's Raw_Blocks (decompressed offset, compressed offset, size) in stream order and cuts
// them per entry; blocks wholly before the last entry taken are dropped, so only blocks of the current entry are held.
export class RawBlocks {
  #blocks: number[] = [];
  #head = 0;

  readonly add = (decompressed: number, compressed: number, size: number): void => {
    this.#blocks.push(decompressed, compressed, size);
  };

  // The spans of decompressed bytes [start, start + size) when raw blocks cover them without a gap, else undefined.
  take(start: number, size: number): Spans | undefined {
    const b = this.#blocks;
    const end = start + size;
    const out: number[] = [];
    let at = start;
    for (let i = this.#head; i < b.length && at < end; i += 3) {
      const dec = b[i] as number;
      const len = b[i + 2] as number;
      if (dec + len <= at) continue;
      if (dec > at) return this.#drop(end, undefined);
      const skip = at - dec;
      const n = Math.min(len - skip, end - at);
      out.push(at - start, (b[i + 1] as number) + skip, n);
      at += n;
    }
    return this.#drop(end, at === end && size > 0 ? Float64Array.from(out) : undefined);
  }

  #drop<T>(upTo: number, result: T): T {
    const b = this.#blocks;
    while (this.#head < b.length && (b[this.#head] as number) + (b[this.#head + 2] as number) <= upTo) this.#head += 3;
    if (this.#head > 3 * 4096) {
      this.#blocks = b.slice(this.#head);
      this.#head = 0;
    }
    return result;
  }
}

// Sequential reads through a 1 MiB window of the file.
class Cursor {
  #start = 0;
  #buf: Buffer = Buffer.alloc(0);
  constructor(readonly files: SourceFiles) {}
  async bytes(pos: number, n: number): Promise<Buffer> {
    if (pos < this.#start || pos + n > this.#start + this.#buf.length) {
      const len = Math.min(Math.max(n, READ_WINDOW), this.files.size - pos);
      if (len < n) throw new RangeError('past the end');
      this.#buf = await this.files.readAt(pos, len);
      this.#start = pos;
    }
    return this.#buf.subarray(pos - this.#start, pos - this.#start + n);
  }
}

// Follow stored blocks from `payload` (inside a stored block that ends at `blockEnd`) for `size` bytes, hashing the
// payload; the spans when every block is stored and the bytes hash to `sha256` (sha256 undefined: the chain alone,
// for a reader that hashes the blob when it reads it), else undefined.
async function walkStored(
  files: SourceFiles,
  payload: number,
  blockEnd: number,
  size: number,
  sha256: string | undefined,
): Promise<Spans | undefined> {
  const cur = new Cursor(files);
  const hash = sha256 === undefined ? undefined : createHash('sha256');
  const out: number[] = [];
  let covered = 0;
  let pos = payload;
  let left = blockEnd - payload;
  try {
    for (;;) {
      const n = Math.min(left, size - covered);
      for (let done = 0; done < n;) {
        const piece = hash ? await cur.bytes(pos + done, Math.min(n - done, READ_WINDOW)) : undefined;
        hash?.update(piece as Buffer);
        done += piece?.length ?? n - done;
      }
      if (n > 0) out.push(covered, pos, n);
      covered += n;
      pos += n;
      if (covered === size) break;
      // After a stored block the stream is byte-aligned: the next 3-bit block header starts a byte, then LEN/NLEN.
      const h = await cur.bytes(pos, 5);
      const final = ((h[0] as number) & 1) === 1;
      if ((((h[0] as number) >> 1) & 3) !== 0 || (h.readUInt16LE(1) ^ 0xffff) !== h.readUInt16LE(3)) return undefined;
      left = h.readUInt16LE(1);
      pos += 5;
      if (final && covered + left < size) return undefined;
    }
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
  return !hash || hash.digest('hex') === sha256 ? Float64Array.from(out) : undefined;
}

// The stored blocks that could hold the byte at `payload` (LEN/NLEN at q, payload from q + 4), nearest first.
function enclosingBlocks(win: Buffer, lo: number, payload: number): number[] {
  const ends: number[] = [];
  for (let q = payload - 4; q >= Math.max(lo, payload - 4 - STORED_MAX) && ends.length < 4; q--) {
    const i = q - lo;
    const len = win.readUInt16LE(i);
    if ((len ^ 0xffff) === win.readUInt16LE(i + 2) && payload < q + 4 + len) ends.push(q + 4 + len);
  }
  return ends;
}

// A .tar.gz entry's stored-block spans, found near where the decoder was when its header was read and proven by
// hashing them (while the pass still has those pages in cache): undefined when its bytes are deflated. opts.prove false
// takes the first chain of stored blocks that covers the size without hashing it (an on-read open hashes it on read).
// The decoder had consumed `compressed` bytes and produced `decompressed` (>= the body offset): the body's first
// byte came from before `compressed`, and from at most about (decompressed - offset) compressed bytes before it.
export async function locateStored(
  files: SourceFiles,
  size: number,
  sha256: string,
  where: FileLocation,
  opts: { readonly prove?: boolean } = {},
): Promise<Spans | undefined> {
  const { compressed, decompressed } = where.at;
  if (size === 0 || !Number.isFinite(compressed)) return undefined;
  const needle = where.head.subarray(0, Math.min(where.head.length, size));
  const ahead = Math.max(0, decompressed - where.offset);
  const lo = Math.max(0, compressed - Math.ceil(ahead * 1.01) - 4096 - STORED_MAX - 5);
  const hi = Math.min(files.size, compressed + needle.length);
  if (hi - lo > MAX_SEARCH || needle.length === 0) return undefined;
  const win = await files.readAt(lo, hi - lo);
  let tried = 0;
  for (let i = win.indexOf(needle); i >= 4 && tried < MAX_CANDIDATES; i = win.indexOf(needle, i + 1)) {
    for (const end of enclosingBlocks(win, lo, lo + i)) {
      if (tried++ >= MAX_CANDIDATES) break;
      const spans = await walkStored(files, lo + i, end, size, opts.prove === false ? undefined : sha256);
      if (spans) return spans;
    }
  }
  return undefined;
}

// The bytes [start, end) of a blob laid out as `spans`, read in windows of up to 1 MiB of the file (the stored-block
// headers between spans are read and skipped, not sought over).
export async function* readSpans(files: SourceFiles, spans: Spans, start: number, end: number): AsyncGenerator<Buffer> {
  let at = start;
  while (at < end) {
    const i = firstSpan(spans, at);
    const fileFrom = (spans[i + 1] as number) + (at - (spans[i] as number));
    // One read covers the spans that fit in a window of the file (at least part of the first).
    let fileTo = fileFrom;
    for (let j = i; j < spans.length && (spans[j] as number) < end; j += 3) {
      const blobEnd = Math.min(end, (spans[j] as number) + (spans[j + 2] as number));
      const spanEnd = (spans[j + 1] as number) + (blobEnd - (spans[j] as number));
      if (spanEnd - fileFrom > READ_WINDOW) {
        if (j === i) fileTo = fileFrom + READ_WINDOW;
        break;
      }
      fileTo = spanEnd;
    }
    if (fileTo <= fileFrom) throw new RangeError(`blob byte ${at} is in no span`);
    const buf = await files.readAt(fileFrom, fileTo - fileFrom);
    const pieces: Buffer[] = [];
    for (let k = i; k < spans.length && at < end; k += 3) {
      const sFile = (spans[k + 1] as number) + (at - (spans[k] as number));
      if (sFile >= fileTo) break;
      const to = Math.min(end, (spans[k] as number) + (spans[k + 2] as number), at + (fileTo - sFile));
      pieces.push(buf.subarray(sFile - fileFrom, sFile - fileFrom + (to - at)));
      at = to;
    }
    // One chunk per window (the block headers cut out with one copy): a write per MiB, not per 64 KiB block.
    yield pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }
}

// Index (into the triples) of the span holding blob byte `offset`.
function firstSpan(spans: Spans, offset: number): number {
  let lo = 0;
  let hi = spans.length / 3 - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((spans[mid * 3] as number) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo * 3;
}
