// XXH64 (seed 0), streaming, in 32-bit halves: what a zstd frame's Content_Checksum is made of (RFC 8878 3.1.1:
// the low 4 bytes of XXH64 of the decompressed content). Hand-written because Node's crypto has no XXH64, the zstd
// decoder we use (fzstd) skips checksums, and an npm package for ~100 lines is not worth a dependency; BigInt
// would be 10-20x slower. Checked against `zstd`'s own checksums and the reference vectors in xxh64.test.ts.

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

const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

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

function u32(b: Uint8Array, p: number): number {
  return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
}

// The hot loop: round() on v[i], v[i+1] in place, with the multiplications spelled out (no calls, no shared H).
const P2L0 = P2L & 0xffff, P2L1 = P2L >>> 16, P1L0 = P1L & 0xffff, P1L1 = P1L >>> 16;
function roundInto(v: Uint32Array, i: number, inh: number, inl: number): void {
  let a0 = inl & 0xffff;
  let a1 = inl >>> 16;
  let p00 = a0 * P2L0;
  let p01 = a0 * P2L1;
  let p10 = a1 * P2L0;
  let mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const tl = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const th = a1 * P2L1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(inl, P2H) + Math.imul(inh, P2L);
  const sl = (v[i + 1] as number) + tl;
  const sh = ((v[i] as number) + th + (sl > 0xffffffff ? 1 : 0)) >>> 0;
  const al = sl >>> 0;
  const rh = ((sh << 31) | (al >>> 1)) >>> 0;
  const rl = ((al << 31) | (sh >>> 1)) >>> 0;
  a0 = rl & 0xffff;
  a1 = rl >>> 16;
  p00 = a0 * P1L0;
  p01 = a0 * P1L1;
  p10 = a1 * P1L0;
  mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  v[i + 1] = ((mid & 0xffff) << 16) | (p00 & 0xffff);
  v[i] = a1 * P1L1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L);
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
    v[7] = (-P1L) >>> 0;
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

  #stripes(b: Buffer, from: number, to: number): void {
    const v = this.#v;
    for (let p = from; p < to; p += 32) {
      roundInto(v, 0, u32(b, p + 4), u32(b, p));
      roundInto(v, 2, u32(b, p + 12), u32(b, p + 8));
      roundInto(v, 4, u32(b, p + 20), u32(b, p + 16));
      roundInto(v, 6, u32(b, p + 28), u32(b, p + 24));
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
      let sh = H, sl = l;
      for (const [i, r] of [[2, 7], [4, 12], [6, 18]] as const) {
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
    let h = h0, l = l0, p = 0;
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
    let h = h0, l = (l0 ^ (h0 >>> 1)) >>> 0;
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
