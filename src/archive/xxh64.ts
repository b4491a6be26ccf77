// XXH64 (seed 0), streaming, in 32-bit halves: what a zstd frame's Content_Checksum is made of (RFC 8878 3.1.1:
// the low 4 bytes of XXH64 of the decompressed content). Hand-written because Node's crypto has no XXH64, the zstd
// decoder we use (fzstd) skips checksums, and an npm package for ~150 lines is not worth a dependency; BigInt
// would be 10-20x slower. The stripe loop is WebAssembly (below); the rest is JS on 32-bit halves. Checked against `zstd`'s own checksums and the reference vectors in xxh64.test.ts.

// 64-bit values are (hi, lo) pairs of unsigned 32-bit numbers; helpers return lo and leave hi in `H`.
let H = 0;

function mul(ah: number, al: number, bh: number, bl: number): number {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const high = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  H = (high + Math.imul(al, bh) + Math.imul(ah, bl)) >>> 0;
  return (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
}

function add(ah: number, al: number, bh: number, bl: number): number {
  const lo = al + bl;
  H = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  return lo >>> 0;
}

// Rotate left by r (0 < r < 32).
function rotl(h: number, l: number, r: number): number {
  H = ((h << r) | (l >>> (32 - r))) >>> 0;
  return ((l << r) | (h >>> (32 - r))) >>> 0;
}

const P1H = 0x9e3779b1,
  P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d,
  P2L = 0x27d4eb4f;
const P3H = 0x165667b1,
  P3L = 0x9e3779f9;
const P4H = 0x85ebca77,
  P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f,
  P5L = 0x165667c5;

// round(acc, input) = rotl(acc + input * P2, 31) * P1
function round(acch: number, accl: number, inh: number, inl: number): number {
  let l = mul(inh, inl, P2H, P2L);
  l = add(acch, accl, H, l);
  l = rotl(H, l, 31);
  return mul(H, l, P1H, P1L);
}

// acc = (acc ^ round(0, val)) * P1 + P4
function merge(acch: number, accl: number, vh: number, vl: number): number {
  const l = round(0, 0, vh, vl);
  const m = mul((acch ^ H) >>> 0, (accl ^ l) >>> 0, P1H, P1L);
  return add(H, m, P4H, P4L);
}

// The hot loop (32-byte stripes) runs in a tiny WebAssembly module assembled below, because WebAssembly has native
// 64-bit multiply and rotate: about 10x the speed of the same loop on 32-bit halves in JS, so checksumming keeps up
// with the zstd writer's raw blocks (a memcpy). s(p, end) runs the 4 lanes over [p, end) of its memory, with the
// lanes as 4 little-endian u64 at offset 0. Equivalent WAT:
//   (func (export "s") (param $p i32) (param $end i32) (local $v1 i64) ... (local $v4 i64)
//     v1..v4 := i64.load offset=0/8/16/24 (i32.const 0)
//     (block (loop (br_if 1 (i32.ge_u $p $end))
//       v{k} := (i64.mul (i64.rotl (i64.add v{k} (i64.mul (i64.load offset=8k $p) P2)) 31) P1)  ; k = 0..3
//       $p := $p + 32  (br 0)))
//     i64.store offset=0/8/16/24 (i32.const 0) v1..v4)
const KERNEL_DATA = 64; // input starts here, after the lanes
const KERNEL_SLICE = 256 * 1024; // input copied into the module's memory per call (5 pages in all)

function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function uleb(n: number): number[] {
  return n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...uleb(n >>> 7)];
}

function kernelBytes(): Uint8Array {
  const p1 = sleb(BigInt.asIntN(64, 0x9e3779b185ebca87n));
  const p2 = sleb(BigInt.asIntN(64, 0xc2b2ae3d27d4eb4fn));
  const lane = (k: number): number[] => [
    0x20,
    2 + k,
    0x20,
    0,
    0x29,
    3,
    8 * k,
    0x42,
    ...p2,
    0x7e,
    0x7c,
    0x42,
    31,
    0x89,
    0x42,
    ...p1,
    0x7e,
    0x21,
    2 + k,
  ];
  const body = [
    1,
    4,
    0x7e, // four i64 locals
    ...[0, 1, 2, 3].flatMap((k) => [0x41, 0, 0x29, 3, 8 * k, 0x21, 2 + k]),
    0x02,
    0x40,
    0x03,
    0x40,
    0x20,
    0,
    0x20,
    1,
    0x4f,
    0x0d,
    1,
    ...[0, 1, 2, 3].flatMap(lane),
    0x20,
    0,
    0x41,
    32,
    0x6a,
    0x21,
    0,
    0x0c,
    0,
    0x0b,
    0x0b,
    ...[0, 1, 2, 3].flatMap((k) => [0x41, 0, 0x20, 2 + k, 0x37, 3, 8 * k]),
    0x0b,
  ];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 0]), // type: (i32, i32) -> ()
    ...section(3, [1, 0]), // one function of that type
    ...section(5, [1, 0, 5]), // memory: 5 pages (320 KiB)
    ...section(7, [2, 1, 0x6d, 2, 0, 1, 0x73, 0, 0]), // export "m" (memory), "s" (function)
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

// Node has WebAssembly, but @types/node 20 does not declare it (TypeScript has it in lib.dom): the part used, typed.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

type Kernel = { mem: Buffer; lanes: Uint32Array; run: (p: number, end: number) => void };
let kernel: Kernel | undefined;

function getKernel(): Kernel {
  if (kernel) return kernel;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelBytes()));
  const memory = instance.exports.m as { buffer: ArrayBuffer };
  kernel = {
    mem: Buffer.from(memory.buffer),
    lanes: new Uint32Array(memory.buffer, 0, 8),
    run: instance.exports.s as (p: number, end: number) => void,
  };
  return kernel;
}

export class Xxh64 {
  // v1..v4 as [hi, lo] pairs, then the 32-byte tail buffer.
  readonly #v = new Uint32Array(8);
  readonly #tail = Buffer.alloc(32);
  #tailLen = 0;
  #total = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    const v = this.#v;
    v[1] = add(P1H, P1L, P2H, P2L); // seed + P1 + P2
    v[0] = H;
    v[2] = P2H; // seed + P2
    v[3] = P2L;
    v[4] = 0; // seed
    v[5] = 0;
    v[6] = ~P1H >>> 0; // seed - P1 (P1's low half is not 0, so no carry)
    v[7] = -P1L >>> 0;
    this.#tailLen = 0;
    this.#total = 0;
  }

  update(data: Uint8Array): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#total += buf.length;
    let off = 0;
    if (this.#tailLen > 0) {
      const n = Math.min(32 - this.#tailLen, buf.length);
      buf.copy(this.#tail, this.#tailLen, 0, n);
      this.#tailLen += n;
      off = n;
      if (this.#tailLen < 32) return;
      this.#stripes(this.#tail, 0, 32);
      this.#tailLen = 0;
    }
    const end = off + ((buf.length - off) & ~31);
    this.#stripes(buf, off, end);
    this.#tailLen = buf.copy(this.#tail, 0, end);
  }

  // Whole stripes of b[from, to) through the kernel; the lanes go in and out as (lo, hi) u32 pairs.
  #stripes(b: Buffer, from: number, to: number): void {
    if (from >= to) return;
    const v = this.#v;
    const k = getKernel();
    for (let i = 0; i < 4; i++) {
      k.lanes[2 * i] = v[2 * i + 1] as number;
      k.lanes[2 * i + 1] = v[2 * i] as number;
    }
    for (let off = from; off < to; off += KERNEL_SLICE) {
      const n = b.copy(k.mem, KERNEL_DATA, off, Math.min(to, off + KERNEL_SLICE));
      k.run(KERNEL_DATA, KERNEL_DATA + n);
    }
    for (let i = 0; i < 4; i++) {
      v[2 * i + 1] = k.lanes[2 * i] as number;
      v[2 * i] = k.lanes[2 * i + 1] as number;
    }
  }

  // The low 32 bits of the digest (what zstd stores); digest() has the full value as 16 hex digits.
  digestLow32(): number {
    this.#finish();
    return this.#lo;
  }

  digest(): string {
    this.#finish();
    return this.#hi.toString(16).padStart(8, '0') + this.#lo.toString(16).padStart(8, '0');
  }

  #hi = 0;
  #lo = 0;

  #finish(): void {
    const v = this.#v;
    let h: number, l: number;
    if (this.#total >= 32) {
      l = rotl(v[0] as number, v[1] as number, 1);
      let sh = H,
        sl = l;
      for (const [i, r] of [
        [2, 7],
        [4, 12],
        [6, 18],
      ] as const) {
        l = rotl(v[i] as number, v[i + 1] as number, r);
        sl = add(sh, sl, H, l);
        sh = H;
      }
      for (let i = 0; i < 8; i += 2) {
        sl = merge(sh, sl, v[i] as number, v[i + 1] as number);
        sh = H;
      }
      h = sh;
      l = sl;
    } else {
      h = P5H;
      l = P5L;
    }
    l = add(h, l, Math.floor(this.#total / 0x100000000) >>> 0, this.#total >>> 0);
    h = H;
    [h, l] = this.#tailRounds(h, l);
    this.#avalanche(h, l);
  }

  #tailRounds(h0: number, l0: number): [number, number] {
    const t = this.#tail;
    let h = h0,
      l = l0,
      p = 0;
    for (; p + 8 <= this.#tailLen; p += 8) {
      const k = round(0, 0, t.readUInt32LE(p + 4), t.readUInt32LE(p));
      l = rotl((h ^ H) >>> 0, (l ^ k) >>> 0, 27);
      l = mul(H, l, P1H, P1L);
      l = add(H, l, P4H, P4L);
      h = H;
    }
    if (p + 4 <= this.#tailLen) {
      const k = mul(0, t.readUInt32LE(p), P1H, P1L);
      l = rotl((h ^ H) >>> 0, (l ^ k) >>> 0, 23);
      l = mul(H, l, P2H, P2L);
      l = add(H, l, P3H, P3L);
      h = H;
      p += 4;
    }
    for (; p < this.#tailLen; p++) {
      const k = mul(0, t[p] as number, P5H, P5L);
      l = rotl((h ^ H) >>> 0, (l ^ k) >>> 0, 11);
      l = mul(H, l, P1H, P1L);
      h = H;
    }
    return [h, l];
  }

  // h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  #avalanche(h0: number, l0: number): void {
    let h = h0,
      l = (l0 ^ (h0 >>> 1)) >>> 0;
    l = mul(h, l, P2H, P2L);
    h = H;
    l = (l ^ ((l >>> 29) | (h << 3))) >>> 0;
    h = (h ^ (h >>> 29)) >>> 0;
    l = mul(h, l, P3H, P3L);
    h = H;
    this.#lo = (l ^ h) >>> 0;
    this.#hi = h;
  }
}
