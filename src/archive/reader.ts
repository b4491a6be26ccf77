import { pipeline, Readable } from 'node:stream';
import { isKkoError, KkoError } from '../errors.js';
import { decompressorFor, type Compression, type DecoderTrace } from './compress.js';
import { Admission, type AdmitOptions, type EntryType } from './tar-admit.js';
import {
  BLOCK,
  parseHeader,
  parsePax,
  quoteName,
  unsafe,
  utf8,
  where,
  type Extended,
  type Header,
} from './tar-header.js';

// A streaming tar reader for artifacts we did not write: ustar, PAX `path`/`size`/`linkpath`, GNU `L`/`K` long
// names, over gzip, zstd or plain tar. Bodies stream; nothing but headers and small extended records is buffered.

export type { EntryType } from './tar-admit.js';
export { isMetadataName, MAX_ENTRIES, METADATA_MAX_BYTES } from './tar-admit.js';
// offset: where the body starts in the (decompressed) tar stream. mtime: the header's (seconds; a PAX mtime is not read).
export type ArchiveEntry = {
  name: string;
  size: number;
  type: EntryType;
  mode: number;
  mtime: number;
  linkname?: string;
  offset: number;
  body: Readable;
};
export type ArchiveCompression = Compression;
export type { DecoderTrace } from './compress.js';
export type ReadOptions = AdmitOptions;

const CHUNK = 64 * 1024;
const MAX_EXTENDED = 1024 * 1024; // PAX records and GNU long names
const MAX_TAIL = 16 * 1024 * 1024; // decompressed bytes read after the end-of-archive marker

function wrapReadError(err: unknown): KkoError {
  if (isKkoError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && code.startsWith('Z_'))
    return new KkoError('UNSAFE_ARCHIVE', `reading archive: corrupt or truncated compressed data (${why})`, {
      cause: err,
    });
  return new KkoError('IO_ERROR', `reading archive: ${why}`, { cause: err });
}

// Serialises the header reader and entry bodies on one byte source, so a body read late can never interleave.
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

// Pull-based bytes over a stream's async iterator; counts the offset for error messages.
class ByteSource {
  #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  offset = 0;
  constructor(input: AsyncIterable<Buffer>) {
    this.#it = input[Symbol.asyncIterator]();
  }
  async #fill(): Promise<boolean> {
    while (this.#buf.length === 0) {
      let r: IteratorResult<Buffer>;
      try {
        r = await this.#it.next();
      } catch (err) {
        throw wrapReadError(err);
      }
      if (r.done) return false;
      this.#buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
    return true;
  }
  // Up to `max` bytes (at least one), or undefined at end of input.
  async take(max: number): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    const out = this.#buf.subarray(0, max);
    this.#buf = this.#buf.subarray(out.length);
    this.offset += out.length;
    return out;
  }
  // Exactly n bytes; undefined when the input ends before the first byte, an error when it ends inside.
  async exact(n: number, what: string): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = await this.take(n - got);
      if (!c) {
        if (got === 0) return undefined;
        throw unsafe(`truncated archive: ${what} ends after ${got} of ${n} bytes`);
      }
      parts.push(c);
      got += c.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
  async discard(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const c = await this.take(Math.min(left, CHUNK));
      if (!c) throw unsafe(`truncated archive: ${what} is missing ${left} bytes`);
      left -= c.length;
    }
  }
  // Read on past the end marker so that a truncated or corrupt compressed tail is still an error; like GNU tar we
  // ignore what follows, but stop after `limit` bytes so a decompression bomb there cannot keep us busy.
  async drain(limit: number): Promise<void> {
    for (let n = 0; n < limit;) {
      const c = await this.take(CHUNK);
      if (!c) return;
      n += c.length;
    }
  }
  async close(): Promise<void> {
    await this.#it.return?.().catch(() => undefined);
  }
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

async function readExtended(src: ByteSource, h: Header): Promise<Buffer> {
  if (h.size > MAX_EXTENDED)
    throw unsafe(`extended header for ${quoteName(h.name)} is ${h.size} bytes (limit ${MAX_EXTENDED})`);
  const data = h.size === 0 ? Buffer.alloc(0) : await src.exact(h.size, `extended header ${quoteName(h.name)}`);
  if (!data) throw unsafe(`truncated archive: extended header ${quoteName(h.name)} has no data`);
  await src.discard(padOf(h.size), 'extended header padding');
  return data;
}

const END = Symbol('end');

function isZeroBlock(block: Buffer): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

// A GNU long name / link: the data up to its first NUL (Go's parseString).
function longName(data: Buffer, offset: number): string {
  const nul = data.indexOf(0);
  return utf8(data.subarray(0, nul === -1 ? data.length : nul), 'GNU long name', offset);
}

// The extended headers seen since the last entry. Go keeps only the last 'x' (and the last 'L'/'K'), lets an 'L'/'K'
// beat a PAX path/linkpath, and forgets all of them at a 'g'; GNU tar and Python differ, so any such mix is refused.
class Pending {
  readonly #seen = new Map<string, number>(); // flag → offset
  pax: Extended = {};
  long: { path?: string; linkpath?: string } = {};

  add(h: Header): void {
    const earlier = h.flag === 'g' ? [...this.#seen.values()][0] : this.#seen.get(h.flag);
    if (earlier !== undefined) {
      const what = h.flag === 'g' ? 'a global header' : `a second '${h.flag}' extended header`;
      throw unsafe(
        `${what} at tar byte ${h.offset} follows the extended header at tar byte ${earlier} before any entry`,
      );
    }
    if (h.flag !== 'g') this.#seen.set(h.flag, h.offset);
  }

  get offset(): number | undefined {
    return [...this.#seen.values()][0];
  }

  // The entry with its extended records applied; a GNU long name and a PAX path for the same entry are refused.
  apply(h: Header): Header {
    if (this.long.path !== undefined && this.pax.path !== undefined)
      throw unsafe(
        `entry ${where(this.long.path, h.offset)} has both a GNU long name and a PAX path ${quoteName(this.pax.path)}`,
      );
    if (this.long.linkpath !== undefined && this.pax.linkpath !== undefined)
      throw unsafe(`entry ${where(h.name, h.offset)} has both a GNU long link and a PAX linkpath`);
    return {
      ...h,
      name: this.long.path ?? this.pax.path ?? h.name,
      linkname: this.long.linkpath ?? this.pax.linkpath ?? h.linkname,
      size: this.pax.size ?? h.size,
    };
  }
}

// Two zero blocks end the archive. Go fails on a zero block followed by a header (GNU tar and Python stop at it), so
// that is refused; a single zero block at the very end of the input is an end, as in Go.
async function endOfArchive(src: ByteSource, pending: Pending): Promise<typeof END> {
  const at = src.offset - BLOCK;
  const second = await src.exact(BLOCK, 'end-of-archive marker');
  if (second && !isZeroBlock(second))
    throw unsafe(`a zero block at tar byte ${at} is followed by a header (hidden entries after the end marker)`);
  const dangling = pending.offset;
  if (dangling !== undefined)
    throw unsafe(`the extended header at tar byte ${dangling} is followed by the end of the archive, not an entry`);
  return END;
}

// The next real entry header with any PAX / GNU long-name records before it applied; END at the end marker.
async function nextHeader(src: ByteSource): Promise<Header | typeof END> {
  const pending = new Pending();
  for (;;) {
    const block = await src.exact(BLOCK, 'header');
    if (!block) throw unsafe('truncated archive: no end-of-archive marker');
    if (isZeroBlock(block)) return endOfArchive(src, pending);
    const h = parseHeader(block, src.offset - BLOCK);
    if (!'xgLK'.includes(h.flag)) return pending.apply(h);
    pending.add(h);
    const data = await readExtended(src, h);
    if (h.flag === 'x') pending.pax = parsePax(data, h.offset, false);
    else if (h.flag === 'g') parsePax(data, h.offset, true);
    else if (h.flag === 'L') pending.long.path = longName(data, h.offset);
    else pending.long.linkpath = longName(data, h.offset);
  }
}

type BodyState = { remaining: number; padding: number; abandoned: boolean; name: string };

async function* bodyChunks(src: ByteSource, lock: Mutex, st: BodyState): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = await lock.run(async () => {
      if (st.abandoned)
        throw new KkoError('INTERNAL', `reading archive entry ${quoteName(st.name)} after the reader moved past it`);
      if (st.remaining === 0) return undefined;
      const c = await src.take(Math.min(st.remaining, CHUNK));
      if (!c) throw unsafe(`truncated archive: entry ${quoteName(st.name)} is missing ${st.remaining} bytes`);
      st.remaining -= c.length;
      return c;
    });
    if (!chunk) return;
    yield chunk;
  }
}

// Skip whatever the consumer left of the current body, then the block padding.
async function finishBody(src: ByteSource, st: BodyState): Promise<void> {
  if (st.remaining > 0) st.abandoned = true;
  await src.discard(st.remaining + st.padding, `entry ${quoteName(st.name)}`);
  st.remaining = 0;
}

// Yield the entries of a (decompressed) tar stream. Each body must be consumed or abandoned before asking for the
// next entry; an abandoned body is skipped. Hostile input throws UNSAFE_ARCHIVE naming the entry.
export async function* readTar(input: AsyncIterable<Buffer>, opts: ReadOptions = {}): AsyncGenerator<ArchiveEntry> {
  const src = new ByteSource(input);
  const lock = new Mutex();
  const admission = new Admission(opts);
  let current: BodyState | undefined;
  try {
    for (;;) {
      const st = current;
      if (st) await lock.run(() => finishBody(src, st));
      const h = await lock.run(() => nextHeader(src));
      if (h === END) {
        await lock.run(() => src.drain(MAX_TAIL));
        return;
      }
      const ok = admission.admit(h);
      current = { remaining: h.size, padding: padOf(h.size), abandoned: false, name: ok?.name ?? h.name };
      if (!ok) continue;
      const body = Readable.from(bodyChunks(src, lock, current), { objectMode: false, highWaterMark: CHUNK });
      yield {
        name: ok.name,
        size: h.size,
        type: ok.type,
        mode: h.mode,
        mtime: h.mtime,
        ...(h.linkname && ok.type !== 'file' ? { linkname: h.linkname } : {}),
        offset: src.offset,
        body,
      };
    }
  } finally {
    if (current && current.remaining > 0) current.abandoned = true;
    await src.close();
  }
}

// bzip2 and xz are not artifact formats kk or kko write; say so instead of failing on a "header checksum".
function refuseUnsupported(head: Buffer): void {
  if (
    head.subarray(0, 3).toString('latin1') === 'BZh' ||
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
  ) {
    throw new KkoError('INVALID_INPUT', 'reading archive: bzip2/xz compression is not supported', {
      hint: 'kk artifacts are tar.gz; kko also reads .tar.zst and plain .tar',
    });
  }
}

async function* prepend(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield r.value;
  }
}

// Detect the compression by magic bytes (archive/compress.ts decides); return the decompressed stream (errors surface on it).
export async function decompress(
  input: Readable,
  trace?: DecoderTrace,
): Promise<{ compression: ArchiveCompression; stream: Readable; compressedIn: () => number }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let size = 0;
  try {
    while (size < 8) {
      const r = await it.next();
      if (r.done) break;
      parts.push(r.value);
      size += r.value.length;
    }
  } catch (err) {
    throw wrapReadError(err);
  }
  const head = Buffer.concat(parts);
  try {
    refuseUnsupported(head);
  } catch (err) {
    input.destroy();
    throw err;
  }
  const d = decompressorFor(head, trace);
  const raw = Readable.from(prepend(head, it), { objectMode: false });
  if (d.compression === 'none') return { compression: d.compression, stream: raw, compressedIn: () => Number.NaN };
  pipeline(raw, d.transform, () => undefined); // an error destroys the transform with it; the reader reports it
  // zlib counts the compressed bytes its engine consumed (bytesWritten); the zstd decoder counts its own.
  const counter = d.transform as unknown as { bytesWritten?: number };
  return { compression: d.compression, stream: d.transform, compressedIn: () => counter.bytesWritten ?? Number.NaN };
}

// Decompress (by magic bytes) and read the tar entries of `input`.
export async function* readArchive(input: Readable, opts: ReadOptions = {}): AsyncGenerator<ArchiveEntry> {
  const { stream } = await decompress(input);
  yield* readTar(stream, opts);
}
