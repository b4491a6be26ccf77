import { PassThrough, Transform, type TransformCallback, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isKkoError, KkoError } from '../errors.js';
import { BlockCutter, GzipSink } from './gzip-writer.js';
import { Xxh64 } from './xxh64.js';
import { ZstdFrameWalker } from './zstd-frames.js';
import {
  emit,
  frameInBlocks,
  PlainSink,
  positionalOf,
  type BlockFraming,
  type Placement,
  type PositionalOutput,
  type PositionalSink,
} from './tar.js';

export type Compression = 'gzip' | 'zstd' | 'none';

// What a decoder tells a caller that wants random access later (artifact-store): each zstd Raw_Block as the decoder
// emits it, with where its bytes sit in the decompressed stream and in the compressed one (a raw block's bytes are
// stored verbatim, so that compressed span can be read back without decoding).
export type DecoderTrace = { rawBlock?: (decompressed: number, compressed: number, size: number) => void };

// zstd is optional at run time: the codecs are imported only when `--compress zstd` is used or a .tar.zst is read,
// so kko keeps working (gzip, none) on a host where they cannot be loaded.
export type ZstdCompress = (data: Buffer, level: number) => Uint8Array;
export type ZstdLoader = () => Promise<ZstdCompress>;
export type SinkOptions = { level?: number; loadZstd?: ZstdLoader };

// The level the writer uses when none is given (gzip: zlib's default, 6; zstd: 3). publish records it (#12).
export const DEFAULT_LEVEL = { gzip: 6, zstd: 3 } as const;

// The levels a compression takes (gzip: zlib's 1..9; zstd: 1..22, its --ultra top; none: no level at all).
export const LEVEL_RANGE = { gzip: [1, 9], zstd: [1, 22] } as const;

// Why `level` is not a level of `compression` (undefined when it is): recorded by publish, read back by pull.
export function levelProblem(compression: Compression, level: number): string | undefined {
  if (compression === 'none') return 'an uncompressed archive (compression none) has no level';
  const [min, max] = LEVEL_RANGE[compression];
  if (!Number.isInteger(level)) return 'not a whole number';
  return level < min || level > max ? `${compression} takes ${min} to ${max}` : undefined;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const CHECKSUM_FLAG = 0x04; // Frame_Header_Descriptor bit 2: a 4-byte Content_Checksum follows the last block
// Frame header of our raw-block frames: no content size, not single-segment, a content checksum, no dictionary
// (descriptor 0x04), window 2^17 = 128 KiB (Window_Descriptor 0x38), so a block may carry the full 128 KiB (RFC 8878 3.1.1).
const RAW_FRAME_HEADER = Buffer.concat([ZSTD_MAGIC, Buffer.from([CHECKSUM_FLAG, 0x38])]);
const RAW_LAST_EMPTY = Buffer.from([0x01, 0x00, 0x00]); // Last_Block=1, Raw_Block, Block_Size=0
const MAX_RAW_BLOCK = 128 * 1024;
const ZSTD_BATCH = 4 * 1024 * 1024; // input per zstd frame: past level 3's 2 MiB window, so little ratio is lost

let zstdCompress: Promise<ZstdCompress> | undefined;

// The zstd compressor: @bokuweb/zstd-wasm (zstd 1.5 built to WebAssembly, no native build, no download at install).
export function loadZstdCompress(): Promise<ZstdCompress> {
  zstdCompress ??= (async () => {
    const mod = await import('@bokuweb/zstd-wasm');
    await mod.init();
    return (data: Buffer, level: number) => mod.compress(data, level);
  })();
  return zstdCompress;
}

// Load the codec for `compress` (zstd lazily) and return the factory of its sink, over a stream or over a file
// written by position (tar-at.ts: each sink places its `store` entries); a codec that cannot be loaded fails here,
// before any output exists.
export async function prepareSink(
  compress: Compression,
  opts: SinkOptions = {},
): Promise<(out: Writable | PositionalOutput) => PositionalSink> {
  if (compress === 'gzip') return (out) => new GzipSink(out, opts.level === undefined ? {} : { level: opts.level });
  if (compress === 'none') return (out) => new PlainSink(out);
  let codec: ZstdCompress;
  try {
    codec = await (opts.loadZstd ?? loadZstdCompress)();
  } catch (err) {
    throw new KkoError(
      'INVALID_INPUT',
      `--compress zstd: the zstd library could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
        hint: 'use --compress gzip (what kk reads), or reinstall kko with its dependencies',
      },
    );
  }
  const level = opts.level ?? DEFAULT_LEVEL.zstd;
  return (out) => new ZstdSink(out, codec, level);
}

function rawBlockHeader(len: number, last: boolean): Buffer {
  const h = Buffer.alloc(3);
  h.writeUIntLE((len << 3) | (last ? 1 : 0), 0, 3); // Block_Type 0 = Raw_Block in bits 1-2
  return h;
}

// A frame's Content_Checksum: the low 32 bits of XXH64 of what `hash` has seen, little-endian; `hash` starts over.
function checksumOf(hash: Xxh64): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32LE(hash.digestLow32());
  hash.reset();
  return c;
}

// A .tar.zst as a sequence of zstd frames (RFC 8878 3.1: a decoder reads concatenated frames as one stream):
// `store` bytes go into frames of raw blocks we write ourselves (a memcpy), the rest is compressed by the
// library in frames of up to 4 MiB. Every frame carries a content checksum (XXH64, what `zstd` writes by default),
// so `zstd -t` and kko's reader check every byte. `zstd -d`, `tar --zstd` and fzstd read it.
export class ZstdSink implements PositionalSink {
  readonly #out: Writable | PositionalOutput;
  readonly #compress: ZstdCompress;
  readonly #level: number;
  #pending = new BlockCutter(ZSTD_BATCH);
  #raw = new BlockCutter(MAX_RAW_BLOCK);
  #rawOpen = false;
  readonly #rawHash = new Xxh64();
  readonly #hash = new Xxh64();
  #frames = 0;

  constructor(out: Writable | PositionalOutput, compress: ZstdCompress, level: number) {
    this.#out = out;
    this.#compress = compress;
    this.#level = level;
  }

  async write(chunk: Buffer, store: boolean): Promise<void> {
    if (chunk.length === 0) return;
    if (store) return this.#writeRaw(chunk);
    await this.#closeRaw();
    for (const batch of this.#pending.push(chunk)) await this.#writeFrame(batch);
  }

  // Room for `size` store bytes copied in later (tar-at.ts), what write(bytes, true) of them would have given: one raw
  // frame (the tar header before them is compressed, so they open a frame of their own and the padding after them
  // ends it). Bytes to compress (store false) come through write() in order.
  async place(size: number, store: boolean): Promise<Placement | undefined> {
    const out = positionalOf(this.#out);
    if (!store) return undefined;
    if (size === 0) return { at: await out.skip(0), frame: () => ({ position: 0, buffers: [] }) };
    await this.flush();
    this.#frames++;
    return new PlacedRawFrame(await out.skip(rawFrameLength(size)), size);
  }

  // Emit what the writes so far give (the pending compressed batch, an open raw frame).
  async flush(): Promise<void> {
    await this.#writeFrame(this.#pending.take());
    await this.#closeRaw();
  }

  async end(): Promise<void> {
    await this.flush();
    if (this.#frames === 0) await this.#writeFrame([Buffer.alloc(0)]); // an empty input is still one frame
  }

  async #writeRaw(chunk: Buffer): Promise<void> {
    await this.#writeFrame(this.#pending.take());
    const out: Buffer[] = this.#rawOpen ? [] : [RAW_FRAME_HEADER];
    this.#rawOpen = true;
    this.#rawHash.update(chunk);
    for (const block of this.#raw.push(chunk)) out.push(rawBlockHeader(MAX_RAW_BLOCK, false), ...block);
    await this.#emit(out);
  }

  // End the open raw frame: the partial block, an empty last block, the checksum.
  async #closeRaw(): Promise<void> {
    if (!this.#rawOpen) return;
    const bytes = this.#raw.pending;
    const out = bytes > 0 ? [rawBlockHeader(bytes, false), ...this.#raw.take()] : [];
    this.#rawOpen = false;
    this.#frames++;
    await this.#emit([...out, RAW_LAST_EMPTY, checksumOf(this.#rawHash)]);
  }

  // One compressed frame of `parts`; no parts, no frame. The library writes no checksum (its simple API cannot be
  // asked to), so we set the flag in its frame header and append the checksum after its last block.
  async #writeFrame(parts: Buffer[]): Promise<void> {
    if (parts.length === 0) return;
    const input = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    const out = this.#compress(input, this.#level); // a copy out of the library's heap, ours to change
    const frame = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    if (frame.length < 6 || !frame.subarray(0, 4).equals(ZSTD_MAGIC) || ((frame[4] as number) & CHECKSUM_FLAG) !== 0) {
      throw new KkoError('INTERNAL', 'zstd library returned an unexpected frame (no magic, or a checksum already)');
    }
    frame[4] = (frame[4] as number) | CHECKSUM_FLAG;
    this.#hash.update(input);
    this.#frames++;
    await this.#emit([frame, checksumOf(this.#hash)]);
  }

  #emit(chunks: readonly Buffer[]): Promise<void> {
    return emit(this.#out, chunks);
  }
}

// The bytes a raw frame of `size` content bytes takes: its header, a 3-byte header per block of up to 128 KiB, the
// empty last block and the checksum (what ZstdSink's #writeRaw and #closeRaw write).
function rawFrameLength(size: number): number {
  return RAW_FRAME_HEADER.length + size + 3 * Math.ceil(size / MAX_RAW_BLOCK) + RAW_LAST_EMPTY.length + 4;
}

// A placed raw frame whose header goes at `at`, as the copy fills it in (in order of `from`): the bytes from `from` on
// with the header of each block that starts among them; the last bytes close the frame (empty last block, checksum
// of the content).
class PlacedRawFrame implements Placement {
  readonly at: number;
  readonly #framing: BlockFraming;
  readonly #hash = new Xxh64();
  constructor(at: number, size: number) {
    this.at = at;
    const header = (len: number): Buffer => rawBlockHeader(len, false);
    this.#framing = { at, size, block: MAX_RAW_BLOCK, headerLength: 3, header, lead: RAW_FRAME_HEADER };
  }
  frame(chunk: Buffer, from: number): { position: number; buffers: Buffer[] } {
    this.#hash.update(chunk);
    const out = frameInBlocks(chunk, from, this.#framing);
    if (from + chunk.length === this.#framing.size) out.buffers.push(RAW_LAST_EMPTY, checksumOf(this.#hash));
    return out;
  }
}

// fzstd's streaming Decompress behind the Transform interface; corrupt or truncated input is UNSAFE_ARCHIVE.
// Input is fed in small slices and the transform waits for the reader whenever its buffer is full, so a block that
// expands a lot (an RLE block turns 4 bytes into 128 KiB) cannot pile up unread output in memory.
type FzstdModule = typeof import('fzstd');
type Decoder = InstanceType<FzstdModule['Decompress']>;
const DECODE_SLICE = 4 * 1024;

class ZstdDecompress extends Transform {
  #decoder: Decoder | undefined;
  readonly #frames: ZstdFrameWalker;

  constructor(trace?: DecoderTrace) {
    super();
    this.#frames = new ZstdFrameWalker(trace?.rawBlock);
  }

  // Compressed bytes walked so far (what zlib calls bytesWritten).
  get bytesWritten(): number {
    return this.#frames.position;
  }
  #full = false;
  #wake: (() => void) | undefined;

  async #ensure(): Promise<Decoder> {
    if (this.#decoder) return this.#decoder;
    let mod: FzstdModule;
    try {
      mod = await import('fzstd');
    } catch (err) {
      throw new KkoError('INVALID_INPUT', 'reading archive: the zstd decoder (fzstd) could not be loaded', {
        cause: err,
        hint: 'decompress it first: zstd -d ART',
      });
    }
    this.#decoder = new mod.Decompress((data, final) => {
      if (!final) this.#frames.block(data); // one call per block; `final` marks the end of an empty stream
      if (data.length > 0 && !this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) this.#full = true;
    });
    return this.#decoder;
  }

  async #feed(chunk: Buffer, final: boolean): Promise<void> {
    const d = await this.#ensure();
    let off = 0;
    do {
      const slice = chunk.subarray(off, off + DECODE_SLICE);
      off += DECODE_SLICE;
      const last = final && off >= chunk.length;
      try {
        this.#frames.walk(slice); // refuses a frame header before the decoder allocates its window
        d.push(slice, last);
        if (last) this.#frames.finish();
      } catch (err) {
        if (isKkoError(err)) throw err;
        throw new KkoError(
          'UNSAFE_ARCHIVE',
          `reading archive: corrupt or truncated zstd data (${err instanceof Error ? err.message : String(err)})`,
          { cause: err },
        );
      }
      if (this.#full) await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#full = false;
    } while (off < chunk.length);
  }

  #run(chunk: Buffer, final: boolean, callback: TransformCallback): void {
    this.#feed(chunk, final).then(
      () => callback(),
      (err: unknown) =>
        callback(isKkoError(err) ? err : new KkoError('INTERNAL', `reading archive: ${String(err)}`, { cause: err })),
    );
  }

  override _read(size: number): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.#run(chunk, false, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#run(Buffer.alloc(0), true, callback);
  }
}

// A zstd skippable frame (magic 0x184D2A5?, RFC 8878 3.1.2) may open a stream (pzstd writes one): `zstd -d` and
// `tar --zstd` skip it; reading the file as a plain tar instead would see its payload as the archive.
function isSkippableMagic(b: Buffer): boolean {
  return (b.readUInt32LE(0) & 0xfffffff0) >>> 0 === 0x184d2a50;
}

// The decompressor for a stream whose first bytes are `firstBytes` (at least 4): gunzip for gzip (1f 8b), a zstd
// decoder for zstd (28 b5 2f fd, or a skippable frame), else a pass-through. The caller writes the whole stream, first bytes included.
export function decompressorFor(
  firstBytes: Buffer,
  trace?: DecoderTrace,
): { compression: Compression; transform: Transform } {
  if (firstBytes[0] === 0x1f && firstBytes[1] === 0x8b)
    return { compression: 'gzip', transform: createGunzip({ chunkSize: 64 * 1024 }) };
  if (firstBytes.length >= 4 && (firstBytes.subarray(0, 4).equals(ZSTD_MAGIC) || isSkippableMagic(firstBytes)))
    return { compression: 'zstd', transform: new ZstdDecompress(trace) };
  return { compression: 'none', transform: new PassThrough() };
}
