import { randomBytes, randomInt } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Combine, tableCrc32 } from './crc32.js';

const rnd = randomBytes(300_000);

describe('crc32', () => {
  it('the table fallback agrees with zlib', () => {
    expect(tableCrc32(rnd, 0)).toBe(zlib.crc32(rnd));
    expect(tableCrc32(rnd.subarray(100), tableCrc32(rnd.subarray(0, 100), 0))).toBe(crc32(rnd, 0));
    expect(tableCrc32(Buffer.alloc(0), 0)).toBe(0);
  });
});

describe('crc32Combine', () => {
  it('gives zlib.crc32 of the concatenation, for random pieces of random lengths, 0 included', () => {
    const lengths = [0, 1, 2, 3, 4, 7, 8, 255, 256, 65535, 65536, 65537, 100_000];
    for (let i = 0; i < 300; i++) {
      const la = i < lengths.length ? (lengths[i] as number) : randomInt(0, 150_000);
      const lb = i < lengths.length ? (lengths[lengths.length - 1 - i] as number) : randomInt(0, 150_000);
      const a = rnd.subarray(0, la);
      const b = rnd.subarray(rnd.length - lb);
      const whole = zlib.crc32(Buffer.concat([a, b]));
      expect(crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length), `${la} + ${lb}`).toBe(whole);
    }
  });

  it('folds many pieces in order into the CRC of the whole (what the positional gzip trailer does)', () => {
    const cuts = [0, ...Array.from({ length: 40 }, () => randomInt(0, rnd.length)), rnd.length].sort((x, y) => x - y);
    let crc = 0;
    for (let i = 1; i < cuts.length; i++) {
      const piece = rnd.subarray(cuts[i - 1], cuts[i]);
      crc = crc32Combine(crc, zlib.crc32(piece), piece.length);
    }
    expect(crc).toBe(zlib.crc32(rnd));
  });

  it('past 2^32 bytes: A, then 2^32 + 1234567 zero bytes, then B, against zlib over the whole (streamed)', () => {
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const a = rnd.subarray(0, 1000);
    const b = rnd.subarray(1000, 3000);
    const zeroLength = 2 ** 32 + 1234567;
    let whole = zlib.crc32(a);
    let crcZeros = 0;
    for (let left = zeroLength; left > 0; left -= zeros.length) {
      const piece = zeros.subarray(0, Math.min(zeros.length, left));
      whole = zlib.crc32(piece, whole);
      crcZeros = zlib.crc32(piece, crcZeros);
    }
    whole = zlib.crc32(b, whole);
    const combined = crc32Combine(crc32Combine(zlib.crc32(a), crcZeros, zeroLength), zlib.crc32(b), b.length);
    expect(combined).toBe(whole);
    // the length is not taken modulo 2^32
    expect(crc32Combine(zlib.crc32(a), crcZeros, zeroLength % 2 ** 32)).not.toBe(
      crc32Combine(zlib.crc32(a), crcZeros, zeroLength),
    );
  }, 30_000);

  it('lengths up to 2^53 agree with themselves split in two (x^(8m) · x^(8n) = x^(8(m+n)))', () => {
    for (let i = 0; i < 50; i++) {
      const m = randomInt(0, 2 ** 47);
      const n = randomInt(0, 2 ** 47) * 8 + randomInt(0, 8);
      const crcA = randomInt(0, 2 ** 32);
      // crc32Combine(c, 0, n) is c · x^(8n) mod P: shifting by m then by n is shifting by m + n
      expect(crc32Combine(crc32Combine(crcA, 0, m), 0, n)).toBe(crc32Combine(crcA, 0, m + n));
    }
    expect(() => crc32Combine(0, 0, -1)).toThrow(RangeError);
    expect(() => crc32Combine(0, 0, 2 ** 53)).toThrow(RangeError);
  });
});
