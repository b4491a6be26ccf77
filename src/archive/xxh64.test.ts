import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Xxh64 } from './xxh64.js';

function xxh(data: Buffer, step = data.length || 1): Xxh64 {
  const x = new Xxh64();
  for (let off = 0; off < data.length; off += step) x.update(data.subarray(off, off + step));
  return x;
}

describe('Xxh64', () => {
  it.each([
    ['', 'ef46db3751d8e999'],
    ['a', 'd24ec4f1a98c6e5b'],
    ['abc', '44bc2cf5ad770999'],
    ['Nobody inspects the spammish repetition', 'fbcea83c8a378bf1'],
  ])('reference vector %j', (text, want) => {
    expect(xxh(Buffer.from(text)).digest()).toBe(want);
  });

  it('matches the checksum the zstd CLI writes (last 4 bytes of a --check frame), in any chunking', () => {
    for (const size of [0, 1, 7, 31, 32, 33, 100, 4096, 1_000_003]) {
      const data = randomBytes(size);
      const r = spawnSync('zstd', ['-q', '-c', '--check', '-1'], { input: data });
      expect(r.status, r.stderr?.toString()).toBe(0);
      const stored = r.stdout.readUInt32LE(r.stdout.length - 4);
      for (const step of [1, 5, 32, 64 * 1024]) {
        if (step === 1 && size > 5000) continue;
        const x = xxh(data, step);
        expect(x.digestLow32(), `size ${size} step ${step}`).toBe(stored);
      }
    }
  });

  it('reset() starts over', () => {
    const x = xxh(Buffer.from('abc'));
    x.reset();
    x.update(Buffer.from('a'));
    expect(x.digest()).toBe('d24ec4f1a98c6e5b');
  });
});
