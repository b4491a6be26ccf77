import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { KkoError } from '../errors.js';

// Just enough of tar (POSIX ustar, PAX and GNU long names) to stream one regular-file member out of an
// archive, e.g. linux-amd64/helm out of helm-<v>-linux-<arch>.tar.gz. Nothing is written to disk.

const BLOCK = 512;

type Header = { name: string; size: number; type: string };

// The bytes of member `name` of a gzip'd tar stream, from byte `skip` of the member on.
export function gzipTarMember(input: Readable, name: string, skip = 0): Readable {
  const gunzip = input.pipe(createGunzip());
  input.on('error', (err) => gunzip.destroy(err));
  gunzip.on('close', () => input.destroy()); // the rest of the archive is never read: release the file
  return Readable.from(asArchiveErrors(skipBytes(tarMember(gunzip, name), skip)));
}

// zlib's "incorrect header check" and friends say the file is not what it claims; retrying will not help.
async function* asArchiveErrors(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    if (err instanceof KkoError) throw err;
    throw new KkoError('DOWNLOAD_FAILED', `reading the archive: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

// Walk the headers of a tar stream and yield the data of the first regular file called `wanted`.
export async function* tarMember(source: AsyncIterable<Buffer>, wanted: string): AsyncGenerator<Buffer> {
  const reader = new BlockReader(source);
  try {
    yield* findMember(reader, wanted);
  } finally {
    await reader.close();
  }
}

async function* findMember(reader: BlockReader, wanted: string): AsyncGenerator<Buffer> {
  let longName: string | undefined;
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block === undefined || block.every((b) => b === 0)) break;
    const h = parseHeader(block);
    const padded = Math.ceil(h.size / BLOCK) * BLOCK;
    if (h.type === 'x' || h.type === 'L') {
      const data = (await reader.read(padded)) ?? truncated();
      longName = h.type === 'L' ? cString(data.subarray(0, h.size)) : (paxPath(data.subarray(0, h.size)) ?? longName);
      continue;
    }
    const memberName = normalizeName(longName ?? h.name);
    longName = undefined;
    if (memberName === wanted && h.type !== '5') {
      if (h.type !== '0' && h.type !== '\0' && h.type !== '7') {
        throw new KkoError('UNSAFE_ARCHIVE', `archive member "${wanted}" is not a regular file (tar type "${h.type}")`);
      }
      yield* reader.stream(h.size);
      return;
    }
    await reader.skip(padded);
  }
  throw new KkoError('DOWNLOAD_FAILED', `the archive has no member "${wanted}"`);
}

async function* skipBytes(source: AsyncIterable<Buffer>, skip: number): AsyncGenerator<Buffer> {
  let left = skip;
  for await (const chunk of source) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

function parseHeader(block: Buffer): Header {
  const stored = parseOctal(block.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  if (stored !== sum) throw new KkoError('DOWNLOAD_FAILED', 'not a tar archive (header checksum mismatch)');
  const name = cString(block.subarray(0, 100));
  const ustar = block.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = ustar ? cString(block.subarray(345, 500)) : '';
  return { name: prefix ? `${prefix}/${name}` : name, size: parseSize(block.subarray(124, 136)), type: String.fromCharCode(block[156] as number) };
}

// Octal, or GNU base-256 (high bit set) for sizes past 8 GiB.
function parseSize(field: Buffer): number {
  if (((field[0] as number) & 0x80) !== 0) {
    let n = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] as number);
    return n;
  }
  return parseOctal(field);
}

function parseOctal(field: Buffer): number {
  const text = cString(field).trim();
  if (!/^[0-7]*$/.test(text)) throw new KkoError('DOWNLOAD_FAILED', 'not a tar archive (bad numeric field)');
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
}

// The "path" record of a PAX extended header ("<len> path=<value>\n" records).
function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = Number(data.subarray(pos, space).toString('latin1'));
    if (space < 0 || !Number.isInteger(len) || len <= 0) return undefined;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    if (record.startsWith('path=')) return record.slice('path='.length);
    pos += len;
  }
  return undefined;
}

function normalizeName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

function truncated(): never {
  throw new KkoError('DOWNLOAD_FAILED', 'the archive is truncated');
}

// Exact-length reads over a stream of arbitrary chunks.
class BlockReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  // Exactly n bytes; undefined at a clean end of stream; throws when the stream ends part-way.
  async read(n: number): Promise<Buffer | undefined> {
    while (this.#buf.length < n) {
      const next = await this.#it.next();
      if (next.done) {
        if (this.#buf.length === 0) return undefined;
        return truncated();
      }
      this.#buf = this.#buf.length === 0 ? next.value : Buffer.concat([this.#buf, next.value]);
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  // n bytes as they arrive, without buffering them all.
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0) {
        const next = await this.#it.next();
        if (next.done) truncated();
        this.#buf = next.value;
      }
      const take = Math.min(left, this.#buf.length);
      yield this.#buf.subarray(0, take);
      this.#buf = this.#buf.subarray(take);
      left -= take;
    }
  }

  // Stop reading: the source stream is destroyed.
  async close(): Promise<void> {
    await this.#it.return?.();
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      // discard
    }
  }
}
