import { KkoError } from '../errors.js';
import { Xxh64 } from './xxh64.js';

// The frame structure of a zstd stream (RFC 8878 3.1), walked ahead of the decoder (fzstd), which neither bounds the
// window it allocates nor checks Content_Checksum. The walker sees every byte before the decoder does, so:
// - a frame whose window (Window_Descriptor, or Frame_Content_Size when single-segment) is over 128 MiB is refused
//   before anything is allocated — zstd's own decoder refuses those too unless given --long=N / --memory;
// - a frame's checksum (low 32 bits of XXH64 of its content) is compared once all its blocks have come out of the
//   decoder; fzstd emits exactly one ondata() per block, in order, so blocks are counted to find the frame's end;
// - the decoder's work is bounded: fzstd allocates each frame's window and moves the whole window for every block it
//   emits, so tiny blocks under a large window cost a window per 4 input bytes (2,000 one-byte blocks under a
//   128 MiB window: 9.6 KB, 12 s; a 10 MB file, hours). The window bytes allocated and moved may be at most
//   ZSTD_WORK_PER_OUT per byte emitted or ZSTD_WORK_PER_IN per compressed byte, plus ZSTD_WORK_SLACK. Measured:
//   `zstd -3` needs 16/out, `zstd -19` 64/out on zeros and 28 K/in on repetitive text (split blocks under an 8 MiB
//   window), kko's own frames <= 32/out; `--ultra`/`--long` pass on a tar (11 K/in) and fail on repetitive text.
//   The bytes emitted may be at most ZSTD_MAX_RATIO per compressed byte plus ZSTD_OUT_SLACK (deflate's own limit:
//   what kk's tar.gz can carry fits), since RLE blocks turn 4 bytes into 128 KiB and all of it is hashed.

export const ZSTD_MAX_WINDOW = 128 * 1024 * 1024;
export const ZSTD_WORK_PER_OUT = 256;
export const ZSTD_WORK_PER_IN = 64 * 1024;
export const ZSTD_WORK_SLACK = 1024 * 1024 * 1024;
export const ZSTD_MAX_RATIO = 1032;
export const ZSTD_OUT_SLACK = 1024 * 1024 * 1024;

const HINT_WINDOW =
  'kko, like `zstd -d` without --long, reads windows up to 128 MiB; recompress it: zstd -dc --long=31 ART | zstd -19 -o ART2';
const HINT_WORK =
  'recompress it with a smaller window (zstd -19, without --long or --ultra), or use gzip: zstd -dc ART | zstd -19 -o ART2';
const HINT_CORRUPT = 'the file is corrupt (`zstd -t` says so too); copy or export it again';

type Frame = {
  index: number;
  offset: number;
  window: number;
  blocks: number;
  done: boolean;
  checksum?: number;
  hasChecksum: boolean;
};
type State = 'magic' | 'descriptor' | 'header' | 'blockHeader' | 'blockBody' | 'checksum' | 'skipSize' | 'skip';

function refuse(message: string, hint: string): KkoError {
  return new KkoError('UNSAFE_ARCHIVE', `reading archive: ${message}`, { hint });
}

function windowOf(ss: boolean, fields: Buffer, fcsBytes: number, fcsFlag: number): number {
  if (!ss) {
    const wd = fields[0] as number;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  let fcs = 0;
  for (let i = 0; i < fcsBytes; i++) fcs += (fields[fields.length - fcsBytes + i] as number) * 2 ** (8 * i);
  return fcsFlag === 1 ? fcs + 256 : fcs;
}

export class ZstdFrameWalker {
  #state: State = 'magic';
  #need = 4;
  #buf: number[] = [];
  #pos = 0; // compressed bytes walked
  #frames: Frame[] = []; // frames whose content is not yet checked
  #current: Frame | undefined;
  #descriptor = 0;
  #last = false;
  #count = 0;
  #emitted = 0; // blocks of the head frame the decoder has emitted
  #work = 0; // bytes the decoder allocated for windows and moved within them
  #out = 0; // bytes the decoder emitted
  readonly #hash = new Xxh64();
  readonly #onRaw: ((decompressed: number, compressed: number, size: number) => void) | undefined;
  readonly #pendingBlocks: { raw: boolean; at: number; size: number }[] = []; // walked, not yet emitted (onRaw only)

  // onRaw: told of each Raw_Block as the decoder emits it (its decompressed offset, compressed offset and size).
  constructor(onRaw?: (decompressed: number, compressed: number, size: number) => void) {
    this.#onRaw = onRaw;
  }

  get position(): number {
    return this.#pos;
  }

  // Walk `chunk` (throws UNSAFE_ARCHIVE on a refused frame header); call before handing it to the decoder.
  walk(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#state === 'blockBody' || this.#state === 'skip') {
        const n = Math.min(this.#need, chunk.length - off);
        off += n;
        this.#pos += n;
        this.#need -= n;
        if (this.#need === 0) this.#step(Buffer.alloc(0));
        continue;
      }
      this.#buf.push(chunk[off++] as number);
      this.#pos++;
      if (this.#buf.length === this.#need) {
        const field = Buffer.from(this.#buf);
        this.#buf = [];
        this.#step(field);
      }
    }
  }

  // One decoded block (fzstd's ondata); checks a frame's checksum once its last block is out.
  block(data: Uint8Array): void {
    const head = this.#frames[0];
    if (!head) throw new KkoError('INTERNAL', 'reading archive: zstd decoder produced a block outside any frame');
    this.#hash.update(data);
    this.#emitted++;
    const walked = this.#onRaw ? this.#pendingBlocks.shift() : undefined;
    if (walked?.raw && walked.size === data.length && data.length > 0) this.#onRaw?.(this.#out, walked.at, walked.size);
    this.#out += data.length;
    if (this.#out > ZSTD_MAX_RATIO * this.#pos + ZSTD_OUT_SLACK) {
      throw refuse(
        `zstd frame ${head.index} at compressed byte ${head.offset}: ${this.#out} bytes out of ${this.#pos} compressed bytes (more than ${ZSTD_MAX_RATIO}:1)`,
        HINT_WORK,
      );
    }
    this.#charge(head, head.window);
    this.#settle();
  }

  // At the end of input: every frame complete and checked.
  finish(): void {
    if (this.#state !== 'magic' || this.#buf.length > 0 || this.#frames.length > 0) {
      throw refuse(
        `truncated zstd stream (it ends inside frame ${this.#current?.index ?? this.#count + 1}, at compressed byte ${this.#pos})`,
        HINT_CORRUPT,
      );
    }
  }

  // Count decoder work (window bytes allocated or moved) against the budget; refuse past it.
  #charge(frame: Frame, bytes: number): void {
    this.#work += bytes;
    if (this.#work <= Math.max(ZSTD_WORK_PER_OUT * this.#out, ZSTD_WORK_PER_IN * this.#pos) + ZSTD_WORK_SLACK) return;
    throw refuse(
      `zstd frame ${frame.index} at compressed byte ${frame.offset}: its ${frame.window}-byte window and small blocks (${frame.blocks} so far) would make the decoder move more than ${ZSTD_WORK_PER_OUT} bytes per byte out and ${ZSTD_WORK_PER_IN} per byte in`,
      HINT_WORK,
    );
  }

  #settle(): void {
    for (let head = this.#frames[0]; head && head.done && this.#emitted === head.blocks; head = this.#frames[0]) {
      const got = this.#hash.digestLow32();
      if (head.hasChecksum && got !== head.checksum) {
        throw refuse(
          `zstd frame ${head.index} at compressed byte ${head.offset}: content checksum mismatch (stored 0x${(head.checksum ?? 0).toString(16)}, computed 0x${got.toString(16)})`,
          HINT_CORRUPT,
        );
      }
      this.#frames.shift();
      this.#hash.reset();
      this.#emitted = 0;
    }
  }

  #to(state: State, need: number): void {
    this.#state = state;
    this.#need = need;
  }

  #step(field: Buffer): void {
    switch (this.#state) {
      case 'magic':
        return this.#magic(field);
      case 'descriptor':
        return this.#descriptorByte(field[0] as number);
      case 'header':
        return this.#header(field);
      case 'blockHeader':
        return this.#blockHeader(field.readUIntLE(0, 3));
      case 'blockBody':
        return this.#endBlock();
      case 'checksum':
        (this.#current as Frame).checksum = field.readUInt32LE(0);
        return this.#endFrame();
      case 'skipSize': {
        const n = field.readUInt32LE(0);
        return n === 0 ? this.#to('magic', 4) : this.#to('skip', n);
      }
      case 'skip':
        return this.#to('magic', 4);
    }
  }

  #magic(field: Buffer): void {
    const m = field.readUInt32LE(0);
    if (m === 0xfd2fb528) return this.#to('descriptor', 1);
    if ((m & 0xfffffff0) === 0x184d2a50) return this.#to('skipSize', 4);
    throw refuse(`not a zstd frame at compressed byte ${this.#pos - 4}`, HINT_CORRUPT);
  }

  #descriptorByte(fhd: number): void {
    if (fhd & 0x08) throw refuse(`zstd frame at compressed byte ${this.#pos - 5}: reserved bit set`, HINT_CORRUPT);
    this.#descriptor = fhd;
    const ss = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const fcsBytes = fcsFlag === 0 ? ss : 1 << fcsFlag;
    this.#to('header', (ss ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcsBytes);
  }

  #header(fields: Buffer): void {
    const fhd = this.#descriptor;
    const offset = this.#pos - 5 - fields.length;
    const ss = ((fhd >> 5) & 1) === 1;
    const fcsFlag = fhd >> 6;
    const window = windowOf(ss, fields, fcsFlag === 0 ? (ss ? 1 : 0) : 1 << fcsFlag, fcsFlag);
    if (window > ZSTD_MAX_WINDOW)
      throw refuse(
        `zstd frame at compressed byte ${offset} needs a ${window}-byte window (limit ${ZSTD_MAX_WINDOW})`,
        HINT_WINDOW,
      );
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    if (dictBytes > 0 && fields.readUIntLE(ss ? 0 : 1, dictBytes) !== 0)
      throw refuse(`zstd frame at compressed byte ${offset} needs a dictionary`, HINT_CORRUPT);
    this.#current = {
      index: ++this.#count,
      offset,
      window,
      blocks: 0,
      done: false,
      hasChecksum: ((fhd >> 2) & 1) === 1,
    };
    this.#frames.push(this.#current);
    this.#charge(this.#current, window); // fzstd allocates (and zero-fills) the window now
    this.#to('blockHeader', 3);
  }

  #blockHeader(v: number): void {
    const type = (v >> 1) & 3;
    if (type === 3)
      throw refuse(`zstd frame ${this.#count}: reserved block type at compressed byte ${this.#pos - 3}`, HINT_CORRUPT);
    this.#last = (v & 1) === 1;
    (this.#current as Frame).blocks++;
    const size = type === 1 ? 1 : v >>> 3;
    if (this.#onRaw) this.#pendingBlocks.push({ raw: type === 0, at: this.#pos, size: v >>> 3 });
    if (size === 0) return this.#endBlock();
    this.#to('blockBody', size);
  }

  #endBlock(): void {
    if (!this.#last) return this.#to('blockHeader', 3);
    if ((this.#current as Frame).hasChecksum) return this.#to('checksum', 4);
    this.#endFrame();
  }

  #endFrame(): void {
    (this.#current as Frame).done = true;
    this.#current = undefined;
    this.#to('magic', 4);
    this.#settle();
  }
}
