import { pipeline, Readable } from 'node:stream';
import { isKkoError, KkoError } from '../errors.js';
import { decompressorFor, type Compression } from './compress.js';
import { assertSafeName } from './tar.js';

// A streaming tar reader for artifacts we did not write: ustar, PAX `path`/`size`/`linkpath`, GNU `L`/`K` long
// names, over gzip, zstd or plain tar. Bodies stream; nothing but headers and small extended records is buffered.

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';
export type ArchiveEntry = { name: string; size: number; type: EntryType; mode: number; linkname?: string; body: Readable };
export type ArchiveCompression = Compression;
// links: kk artifacts hold regular files only, so links are refused unless a caller opts in to links inside the tree.
export type ReadOptions = { links?: 'refuse' | 'inside'; maxMetadataBytes?: number };

const BLOCK = 512;
const CHUNK = 64 * 1024;
const MAX_EXTENDED = 1024 * 1024; // PAX records and GNU long names
const MAX_TAIL = 16 * 1024 * 1024; // decompressed bytes read after the end-of-archive marker
export const METADATA_MAX_BYTES = 16 * 1024 * 1024;

// Small documents read whole (index.json, kko/*): a size beyond the cap is refused before a byte is read.
export function isMetadataName(name: string): boolean {
  return name === 'images/index.json' || name === 'images/oci-layout' || name.startsWith('kko/');
}

function unsafe(message: string): KkoError {
  return new KkoError('UNSAFE_ARCHIVE', `reading archive: ${message}`);
}

function wrapReadError(err: unknown): KkoError {
  if (isKkoError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && code.startsWith('Z_')) return new KkoError('UNSAFE_ARCHIVE', `reading archive: corrupt or truncated compressed data (${why})`, { cause: err });
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
    for (let n = 0; n < limit; ) {
      const c = await this.take(CHUNK);
      if (!c) return;
      n += c.length;
    }
  }
  async close(): Promise<void> {
    await this.#it.return?.().catch(() => undefined);
  }
}

type Header = { name: string; size: number; mode: number; flag: string; linkname: string; offset: number };
type Extended = { path?: string; linkpath?: string; size?: number };

function cstring(block: Buffer, start: number, len: number): string {
  const field = block.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

// Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field.
function numeric(block: Buffer, start: number, len: number, what: string): number {
  const field = block.subarray(start, start + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    if (field[0] === 0xff) throw unsafe(`negative ${what} in header at byte ${start}`);
    let v = (field[0] ?? 0) & 0x7f;
    for (const b of field.subarray(1)) v = v * 256 + b;
    if (!Number.isSafeInteger(v)) throw unsafe(`${what} too large`);
    return v;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw unsafe(`malformed ${what} field "${text}"`);
  return parseInt(text, 8);
}

function isZeroBlock(block: Buffer): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

// Parse one 512-byte header; the checksum (unsigned, or the historical signed sum) must match.
function parseHeader(block: Buffer, offset: number): Header {
  const raw = cstring(block, 0, 100);
  const magic = block.subarray(257, 263).toString('latin1');
  const prefix = magic === 'ustar\0' ? cstring(block, 345, 155) : '';
  const name = prefix ? `${prefix}/${raw}` : raw;
  let unsigned = 0;
  let signed = 0;
  block.forEach((b, i) => {
    const v = i >= 148 && i < 156 ? 0x20 : b;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  });
  const stored = numeric(block, 148, 8, 'checksum');
  if (stored !== unsigned && stored !== signed) throw unsafe(`header checksum mismatch at entry ${JSON.stringify(name)} (byte ${offset})`);
  const flag = String.fromCharCode(block[156] ?? 0);
  return { name, size: numeric(block, 124, 12, 'size'), mode: numeric(block, 100, 8, 'mode') & 0o7777, flag, linkname: cstring(block, 157, 100), offset };
}

// PAX records: "<len> <key>=<value>\n"; only path, linkpath and size matter to us.
function parsePax(data: Buffer): Extended {
  const out: Extended = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = space === -1 ? NaN : Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a) throw unsafe('malformed PAX extended header');
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    if (key === 'linkpath') out.linkpath = value;
    if (key === 'size') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw unsafe(`malformed PAX size "${value}"`);
      out.size = Number(value);
    }
    pos += len;
  }
  return out;
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

async function readExtended(src: ByteSource, h: Header): Promise<Buffer> {
  if (h.size > MAX_EXTENDED) throw unsafe(`extended header for ${JSON.stringify(h.name)} is ${h.size} bytes (limit ${MAX_EXTENDED})`);
  const data = h.size === 0 ? Buffer.alloc(0) : await src.exact(h.size, `extended header ${JSON.stringify(h.name)}`);
  if (!data) throw unsafe(`truncated archive: extended header ${JSON.stringify(h.name)} has no data`);
  await src.discard(padOf(h.size), 'extended header padding');
  return data;
}

const END = Symbol('end');

// The next real entry header with any PAX / GNU long-name records before it applied; END at the end marker.
async function nextHeader(src: ByteSource): Promise<Header | typeof END> {
  const ext: Extended = {};
  for (;;) {
    const block = await src.exact(BLOCK, 'header');
    if (!block) throw unsafe('truncated archive: no end-of-archive marker');
    if (isZeroBlock(block)) return END;
    const h = parseHeader(block, src.offset - BLOCK);
    if (h.flag === 'x') Object.assign(ext, parsePax(await readExtended(src, h)));
    else if (h.flag === 'g') await readExtended(src, h);
    else if (h.flag === 'L') ext.path = cstring(await readExtended(src, h), 0, h.size);
    else if (h.flag === 'K') ext.linkpath = cstring(await readExtended(src, h), 0, h.size);
    else return { ...h, name: ext.path ?? h.name, linkname: ext.linkpath ?? h.linkname, size: ext.size ?? h.size };
  }
}

const TYPES: Readonly<Record<string, EntryType>> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '1': 'hardlink', '2': 'symlink' };

// "./a/b" → "a/b"; the root directory entry "./" → undefined (skipped). Everything else must pass the writer's rule.
function normaliseName(raw: string, type: EntryType): string | undefined {
  if (raw === '' || raw.includes('\0')) throw unsafe(`refusing entry with an empty or NUL-containing name ${JSON.stringify(raw)}`);
  let name = type === 'directory' ? raw.replace(/\/+$/, '') : raw;
  while (name.startsWith('./')) name = name.slice(2);
  if (name === '' || name === '.') {
    if (type === 'directory') return undefined;
    throw unsafe(`refusing entry with an empty name ${JSON.stringify(raw)}`);
  }
  try {
    assertSafeName(name);
  } catch {
    throw unsafe(`refusing entry ${JSON.stringify(raw)}: absolute path or "."/".." segment`);
  }
  return name;
}

// Links are refused by default; with links: 'inside', a target must resolve inside the tree (a hardlink: to an earlier file).
function checkLink(h: Header, name: string, type: EntryType, opts: ReadOptions, seen: ReadonlyMap<string, EntryType>): void {
  if ((opts.links ?? 'refuse') === 'refuse') throw unsafe(`refusing ${type} ${JSON.stringify(name)} -> ${JSON.stringify(h.linkname)}: artifacts hold regular files only`);
  if (h.linkname === '' || h.linkname.startsWith('/')) throw unsafe(`refusing ${type} ${JSON.stringify(name)}: absolute or empty target ${JSON.stringify(h.linkname)}`);
  const target = type === 'symlink' ? [...name.split('/').slice(0, -1), h.linkname].join('/') : h.linkname;
  const parts: string[] = [];
  for (const seg of target.split('/')) {
    if (seg === '..' && parts.length === 0) throw unsafe(`refusing ${type} ${JSON.stringify(name)}: target ${JSON.stringify(h.linkname)} escapes the archive`);
    if (seg === '..') parts.pop();
    else if (seg !== '.' && seg !== '') parts.push(seg);
  }
  if (type === 'hardlink' && seen.get(parts.join('/')) !== 'file') throw unsafe(`refusing hardlink ${JSON.stringify(name)}: target ${JSON.stringify(h.linkname)} is not an earlier file`);
}

// Every parent of a name is a directory from now on; a parent that is already a file or link is refused.
function claimParents(name: string, seen: Map<string, EntryType>): void {
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const dir = name.slice(0, i);
    const t = seen.get(dir);
    if (t && t !== 'directory') throw unsafe(`refusing entry ${JSON.stringify(name)}: its parent ${JSON.stringify(dir)} is a ${t}`);
    seen.set(dir, 'directory');
  }
}

// Validate one header against everything refused: type, name, duplicates, links, metadata size.
function admit(h: Header, seen: Map<string, EntryType>, opts: ReadOptions): { name: string; type: EntryType } | undefined {
  const type = TYPES[h.flag];
  if (!type) {
    const kind = h.flag === '3' ? 'character device' : h.flag === '4' ? 'block device' : h.flag === '6' ? 'FIFO' : `entry type "${h.flag}"`;
    throw unsafe(`refusing ${kind} ${JSON.stringify(h.name)}`);
  }
  const fileType: EntryType = type === 'file' && h.name.endsWith('/') ? 'directory' : type; // V7 convention
  const name = normaliseName(h.name, fileType);
  if (name === undefined) return undefined;
  const before = seen.get(name);
  if (before && !(before === 'directory' && fileType === 'directory')) {
    throw unsafe(`refusing ${before === 'directory' ? 'entry that shadows a directory' : 'duplicate entry'} ${JSON.stringify(name)}`);
  }
  claimParents(name, seen);
  if (fileType === 'symlink' || fileType === 'hardlink') checkLink(h, name, fileType, opts, seen);
  const cap = opts.maxMetadataBytes ?? METADATA_MAX_BYTES;
  if (isMetadataName(name) && h.size > cap) throw unsafe(`refusing ${JSON.stringify(name)}: ${h.size} bytes is over the ${cap}-byte limit for metadata`);
  seen.set(name, fileType);
  return { name, type: fileType };
}

type BodyState = { remaining: number; padding: number; abandoned: boolean; name: string };

async function* bodyChunks(src: ByteSource, lock: Mutex, st: BodyState): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = await lock.run(async () => {
      if (st.abandoned) throw new KkoError('INTERNAL', `reading archive entry ${JSON.stringify(st.name)} after the reader moved past it`);
      if (st.remaining === 0) return undefined;
      const c = await src.take(Math.min(st.remaining, CHUNK));
      if (!c) throw unsafe(`truncated archive: entry ${JSON.stringify(st.name)} is missing ${st.remaining} bytes`);
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
  await src.discard(st.remaining + st.padding, `entry ${JSON.stringify(st.name)}`);
  st.remaining = 0;
}

// Yield the entries of a (decompressed) tar stream. Each body must be consumed or abandoned before asking for the
// next entry; an abandoned body is skipped. Hostile input throws UNSAFE_ARCHIVE naming the entry.
export async function* readTar(input: AsyncIterable<Buffer>, opts: ReadOptions = {}): AsyncGenerator<ArchiveEntry> {
  const src = new ByteSource(input);
  const lock = new Mutex();
  const seen = new Map<string, EntryType>();
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
      const ok = admit(h, seen, opts);
      current = { remaining: h.size, padding: padOf(h.size), abandoned: false, name: ok?.name ?? h.name };
      if (!ok) continue;
      const body = Readable.from(bodyChunks(src, lock, current), { objectMode: false, highWaterMark: CHUNK });
      yield { name: ok.name, size: h.size, type: ok.type, mode: h.mode, ...(h.linkname && ok.type !== 'file' ? { linkname: h.linkname } : {}), body };
    }
  } finally {
    if (current && current.remaining > 0) current.abandoned = true;
    await src.close();
  }
}

// bzip2 and xz are not artifact formats kk or kko write; say so instead of failing on a "header checksum".
function refuseUnsupported(head: Buffer): void {
  if (head.subarray(0, 3).toString('latin1') === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new KkoError('INVALID_INPUT', 'reading archive: bzip2/xz compression is not supported', { hint: 'kk artifacts are tar.gz; kko also reads .tar.zst and plain .tar' });
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
export async function decompress(input: Readable): Promise<{ compression: ArchiveCompression; stream: Readable }> {
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
  const d = decompressorFor(head);
  const raw = Readable.from(prepend(head, it), { objectMode: false });
  if (d.compression === 'none') return { compression: d.compression, stream: raw };
  pipeline(raw, d.transform, () => undefined); // an error destroys the transform with it; the reader reports it
  return { compression: d.compression, stream: d.transform };
}

// Decompress (by magic bytes) and read the tar entries of `input`.
export async function* readArchive(input: Readable, opts: ReadOptions = {}): AsyncGenerator<ArchiveEntry> {
  const { stream } = await decompress(input);
  yield* readTar(stream, opts);
}
