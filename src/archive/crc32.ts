import * as zlib from 'node:zlib'; // a namespace import: zlib.crc32 is missing before Node 20.15

// CRC-32 (ISO 3309 / ITU-T V.42, the gzip polynomial, reflected), as a gzip trailer holds it.

// zlib.crc32 where Node has it (20.15+), else a table.
export const crc32: (data: Buffer, value: number) => number =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

const POLY = 0xedb88320; // x^32 + x^26 + … + 1 without its x^32 term, bit-reversed (bit 31 is x^0, bit 0 is x^31)

let table: Uint32Array | undefined;
// Byte-at-a-time CRC-32 for Node versions without zlib.crc32.
export function tableCrc32(data: Buffer, value: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (const b of data) c = (table[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

// The CRC-32 of A followed by B, from crcA, crcB and B's length alone (the positional gzip writer, #10: each stored
// run's CRC is computed while it is copied, in any order, and the member's CRC is put together at the end).
//
// Over GF(2), a CRC is linear in the message: appending n bytes to A multiplies A's register by x^(8n) modulo the
// polynomial P, and B's own bytes add B's register. The gzip CRC also presets the register to all ones and inverts
// it at the end; the two are the same constant, so its effect over A·x^(8n) and B's cancels but for one copy, and
//   crc(A ‖ B) = crcA · x^(8·lenB) mod P  ⊕  crcB
// holds for the final values too. x^(8n) mod P comes from x^(8·2^k) mod P (k = 0..52, squared from x^8) for the
// bits of n, so any length up to 2^53 costs at most 53 multiplications of 32 × 32 bits.
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`crc32Combine: length ${lenB}`);
  return (mulModP(xPow8n(lenB), crcA >>> 0) ^ crcB) >>> 0;
}

const ONE = 0x80000000; // the polynomial 1 (x^0) in the reflected order

// a · b mod P, both reflected: for each term x^i of a (bit 31 - i), add b · x^i; b · x is a shift towards bit 0,
// and an x^32 that comes out of bit 0 is replaced by P's lower terms.
function mulModP(a: number, b: number): number {
  let product = 0;
  let rest = a;
  let bx = b;
  for (let bit = ONE; bit !== 0 && rest !== 0; bit >>>= 1) {
    if (rest & bit) {
      product ^= bx;
      rest ^= bit;
    }
    bx = bx & 1 ? (bx >>> 1) ^ POLY : bx >>> 1;
  }
  return product >>> 0;
}

let squares: number[] | undefined; // squares[k] = x^(8·2^k) mod P

// x^(8n) mod P, n a safe integer (bits taken by division: n may pass 2^32).
function xPow8n(n: number): number {
  if (!squares) {
    let x8 = ONE;
    for (let i = 0; i < 8; i++) x8 = x8 & 1 ? (x8 >>> 1) ^ POLY : x8 >>> 1;
    squares = [x8 >>> 0];
    for (let k = 1; k < 53; k++) {
      const prev = squares[k - 1] as number;
      squares.push(mulModP(prev, prev));
    }
  }
  let result = ONE;
  for (let k = 0, rest = n; rest > 0; k++, rest = Math.floor(rest / 2))
    if (rest % 2 === 1) result = mulModP(result, squares[k] as number);
  return result;
}
