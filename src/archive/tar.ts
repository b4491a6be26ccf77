import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { KkoError } from '../errors.js';
import { hasControl, safeText } from '../util/safe-text.js';

// One regular file of the archive: bytes in memory (metadata) or a file on disk (blobs, binaries).
// `first` entries (metadata) come before all others, so a reader sees the inventory before the blobs.
// `sha256` (hex) of a file entry is known from its digest or catalog checksum, so SHA256SUMS needs no re-read.
// `compressed`: the bytes are already gzip/zstd (image layers), so the compressor stores them instead of deflating.
// `open` (artifact sign, #12): the bytes come from a stream opened when the writer reaches the entry.
// `ready` (export #10, the archive written while layers arrive): resolves once `file` holds its final bytes (a blob the
// cache verified); the writer reads the file only then, and a rejection fails the archive.
export type TarEntry = (
  | { name: string; data: Buffer }
  | { name: string; file: string; size?: number; sha256?: string; ready?: () => Promise<void> }
  | { name: string; open: () => Promise<Readable>; size: number; sha256?: string }
) & { first?: boolean; compressed?: boolean };

// Where the tar bytes go: a compressor or a plain file. `store` marks bytes not worth compressing.
// A sink may keep a reference to a chunk until end(), so callers never reuse a buffer they wrote.
export interface ArchiveSink {
  write(chunk: Buffer, store: boolean): Promise<void>;
  end(): Promise<void>;
}

// Positional writing (#10, tar-at.ts): the archive's layout is fixed once every name and size is known, so a sink
// can leave room for a file entry's bytes and have them copied in later, by position, in any order.
// The output such a sink appends to: `put` adds bytes at the end, `skip` leaves room and says where it starts.
export interface PositionalOutput {
  put(chunks: readonly Buffer[]): Promise<void>;
  skip(bytes: number): Promise<number>;
}
// Where a placed file entry goes: `frame` gives the output bytes for its bytes `chunk` from offset `from` on (called
// in order of `from`, each chunk once) and the position they are written at; `at` is where the entry's room starts.
export type Placement = {
  readonly at: number;
  frame(chunk: Buffer, from: number): { position: number; buffers: Buffer[] };
};
// How a placed run is cut into blocks: `at` is where its output starts, `size` its length, each block of up to `block`
// bytes is preceded by `header(len)` (`headerLength` bytes), and `lead` (a frame header) comes before the first block.
export type BlockFraming = {
  readonly at: number;
  readonly size: number;
  readonly block: number;
  readonly headerLength: number;
  header(len: number): Buffer;
  readonly lead?: Buffer;
};

// A Placement's `frame` for a run cut into blocks: the output bytes for the run's bytes `chunk` from `from` on (the
// header of each block that starts among them, and `lead` first when `from` is 0) and where they go.
export function frameInBlocks(chunk: Buffer, from: number, f: BlockFraming): { position: number; buffers: Buffer[] } {
  // The lead goes out with the chunk at 0; a later chunk is placed past it.
  const buffers: Buffer[] = from === 0 && f.lead ? [f.lead] : [];
  const lead = from === 0 ? 0 : (f.lead?.length ?? 0);
  // Past the lead, the bytes before `from` and the header of each block up to and including from's own.
  let position = f.at + lead + from + f.headerLength * (Math.floor(from / f.block) + 1);
  for (let p = from, rest = chunk; rest.length > 0;) {
    const inBlock = p % f.block;
    if (inBlock === 0) {
      buffers.push(f.header(Math.min(f.block, f.size - p)));
      if (p === from) position -= f.headerLength; // the chunk opens its block: the header goes out with it
    }
    const take = Math.min(rest.length, f.block - inBlock);
    buffers.push(rest.subarray(0, take));
    rest = rest.subarray(take);
    p += take;
  }
  return { position, buffers };
}
// A sink over a PositionalOutput that places file entries: `place` leaves room for `size` bytes (`store`: the
// entry's `compressed` mark), or returns undefined when those bytes must come through write() in order instead.
// `flush` puts out what the writes so far give (a compressor's pending input), so only end()'s own bytes are left.
export interface PositionalSink extends ArchiveSink {
  place(size: number, store: boolean): Promise<Placement | undefined>;
  flush(): Promise<void>;
}

// Write chunks to a stream (writeOut) or append them to a positional output.
export function emit(out: Writable | PositionalOutput, chunks: readonly Buffer[]): Promise<void> {
  return 'put' in out ? out.put(chunks) : writeOut(out, chunks);
}

// The PositionalOutput of a sink asked to place an entry (a sink over a stream cannot).
export function positionalOf(out: Writable | PositionalOutput): PositionalOutput {
  if (!('put' in out)) throw new KkoError('INTERNAL', 'placing an archive entry: the sink writes to a stream');
  return out;
}

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

// A ustar header; names over 100 bytes use the prefix field, and past 255 bytes a PAX "path" record.
function header(name: string, size: number, mtime: number, type: '0' | 'x' = '0'): Buffer {
  const h = Buffer.alloc(BLOCK);
  let base = name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100) {
      prefix = name.slice(0, cut);
      base = name.slice(cut + 1);
    } else {
      base = name.slice(0, 100); // the PAX record before this header carries the real name
    }
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid 0
  h.write(octal(0, 8), 116, 'ascii'); // gid 0
  // Sizes past 11 octal digits (8 GiB) are carried by a PAX "size" record; the field then holds 0.
  h.write(octal(size > MAX_USTAR_SIZE ? 0 : size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

const MAX_USTAR_SIZE = 0o77777777777;

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`);
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

const READ_CHUNK = 1024 * 1024;

// Write chunks in one corked batch (one writev for fs streams) and wait for 'drain' when the stream asks for it.
export async function writeOut(out: Writable, chunks: readonly Buffer[]): Promise<void> {
  if (out.errored) throw out.errored;
  if (out.destroyed || out.writableEnded)
    throw new KkoError('IO_ERROR', 'writing archive: output stream already closed');
  out.cork();
  for (const c of chunks) if (c.length > 0) out.write(c);
  out.uncork();
  if (!out.writableNeedDrain) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      out.off('drain', onDrain).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onError = (err: Error): void => done(err);
    const onClose = (): void =>
      done(out.errored ?? new KkoError('IO_ERROR', 'writing archive: output stream closed early'));
    out.on('drain', onDrain).on('error', onError).on('close', onClose);
  });
}

// A sink that writes the tar as it is (`--compress none`, and the inner stream of tests). Over a PositionalOutput it
// places every file entry: its bytes go unchanged into room of its size.
export class PlainSink implements PositionalSink {
  readonly #out: Writable | PositionalOutput;
  constructor(out: Writable | PositionalOutput) {
    this.#out = out;
  }
  write(chunk: Buffer): Promise<void> {
    return emit(this.#out, [chunk]);
  }
  async place(size: number): Promise<Placement> {
    const at = await positionalOf(this.#out).skip(size);
    return { at, frame: (chunk, from) => ({ position: at + from, buffers: [chunk] }) };
  }
  async flush(): Promise<void> {}
  async end(): Promise<void> {}
}

// A name an archive entry may have (what kk's untar and ours accept, '/'-separated): relative, no "."/".."/empty
// segment, no control character (a newline in a name would forge a line of SHA256SUMS or of any listing; kk
// artifacts name files by layout path and file name only).
export function isSafeName(name: string): boolean {
  if (name === '' || name.startsWith('/') || hasControl(name)) return false;
  return !name.split('/').some((s) => s === '' || s === '.' || s === '..');
}
export function assertSafeName(name: string): void {
  if (!isSafeName(name)) {
    throw new KkoError('UNSAFE_ARCHIVE', `refusing archive entry name "${safeText(name)}"`, {
      hint: 'an entry name is a relative path with no "."/".." or empty segment and no control character',
    });
  }
}

// signal: stop between chunks once it aborts (its reason is thrown); the caller removes what was written.
export type TarOptions = { mtime?: number; signal?: AbortSignal | undefined };

// The entries in archive order: `first` entries, then the rest, each group in byte order of names; names checked.
export function tarOrder(entries: readonly TarEntry[]): TarEntry[] {
  const rank = (e: TarEntry): number => (e.first ? 0 : 1);
  const keys = new Map(entries.map((e) => [e, Buffer.from(e.name)]));
  const sorted = [...entries].sort(
    (a, b) => rank(a) - rank(b) || Buffer.compare(keys.get(a) as Buffer, keys.get(b) as Buffer),
  );
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.name === sorted[i - 1]?.name)
      throw new KkoError('UNSAFE_ARCHIVE', `duplicate archive entry "${sorted[i]?.name}"`);
  }
  for (const e of sorted) assertSafeName(e.name);
  return sorted;
}

// The size an entry's data has in the archive (a file entry without one: its length on disk now).
export async function entrySize(e: TarEntry): Promise<number> {
  return 'data' in e ? e.data.length : 'open' in e ? e.size : (e.size ?? (await stat(e.file)).size);
}

// What precedes an entry's data: its ustar header, after a PAX header and record when the name or size needs one.
export function entryHead(name: string, size: number, mtime: number): Buffer[] {
  const longName = Buffer.byteLength(name) > 255;
  const head: Buffer[] = [];
  if (longName || size > MAX_USTAR_SIZE) {
    const pax = Buffer.concat([
      ...(longName ? [paxRecord('path', name)] : []),
      ...(size > MAX_USTAR_SIZE ? [paxRecord('size', String(size))] : []),
    ]);
    head.push(
      header(`PaxHeaders/${name.slice(-80)}`, pax.length, mtime, 'x'),
      Buffer.concat([pax, padding(pax.length)]),
    );
  }
  head.push(header(name, size, mtime));
  return head;
}

// The zero padding after an entry's data, and the two zero blocks that end the archive.
export { padding as entryPadding, ZEROS as TAR_END };

// Bytes seen past `size` (the file grew) or short of it at the end: the entry cannot be archived as planned.
export function sizeError(from: string, size: number, seen: number): KkoError {
  return new KkoError(
    'IO_ERROR',
    seen > size
      ? `archiving ${from}: file grew while being archived`
      : `archiving ${from}: expected ${size} bytes, read ${seen}`,
  );
}

export type FileEntry = Extract<TarEntry, { file: string }>;
// place (the positional writer, tar-at.ts): true when it took the file entry (it copies the bytes in itself, once they
// are ready), false when they are to go through the sink here, in order.
export type WriteTarOptions = TarOptions & { place?: (e: FileEntry, size: number) => Promise<boolean> };

// Write a deterministic tar: entries in tarOrder, regular files only, mode 0644,
// uid/gid 0, a fixed mtime (SOURCE_DATE_EPOCH or 0). File entries are streamed, never buffered. The data of
// `compressed` entries goes to the sink with store=true; headers, padding and everything else with store=false.
// The sink is not ended here: the caller ends it once the tar is complete.
export async function writeTar(
  entries: readonly TarEntry[],
  out: ArchiveSink,
  opts: WriteTarOptions = {},
): Promise<void> {
  const mtime = opts.mtime ?? 0;
  for (const e of tarOrder(entries)) {
    opts.signal?.throwIfAborted();
    const size = await entrySize(e);
    const store = e.compressed === true;
    for (const h of entryHead(e.name, size, mtime)) await out.write(h, false);
    if ('data' in e) {
      await out.write(e.data, store);
    } else if (!('file' in e && (await opts.place?.(e, size)))) {
      const from = 'open' in e ? e.name : e.file;
      if ('file' in e) await untilReady(e, opts.signal);
      let seen = 0;
      for await (const chunk of 'open' in e
        ? await e.open()
        : (createReadStream(e.file, { highWaterMark: READ_CHUNK }) as Readable)) {
        seen += (chunk as Buffer).length;
        if (seen > size) throw sizeError(from, size, seen);
        opts.signal?.throwIfAborted();
        await out.write(chunk as Buffer, store);
      }
      if (seen !== size) throw sizeError(from, size, seen);
    }
    await out.write(padding(size), false);
  }
  await out.write(ZEROS, false);
}

// Wait for a file entry's `ready`; an abort ends the wait with its reason (the entry may never get ready then).
async function untilReady(e: FileEntry, signal: AbortSignal | undefined): Promise<void> {
  if (!e.ready) return;
  if (!signal) return e.ready();
  signal.throwIfAborted();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([e.ready(), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

// SOURCE_DATE_EPOCH (reproducible-builds.org) when set and valid, else 0.
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const v = env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : 0;
}
