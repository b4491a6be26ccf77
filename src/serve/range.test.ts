import { describe, expect, it } from 'vitest';
import { parseRange } from './range.js';

describe('parseRange (RFC 9110 14.1.2, one range)', () => {
  it.each([
    [undefined, 100, undefined],
    ['bytes=0-9', 100, { start: 0, end: 10 }],
    ['bytes=90-', 100, { start: 90, end: 100 }],
    ['bytes=-10', 100, { start: 90, end: 100 }],
    ['bytes=-1000', 100, { start: 0, end: 100 }],
    ['bytes=50-99999999999', 100, { start: 50, end: 100 }],
    ['items=0-1', 100, undefined], // another unit: ignored, the whole blob is sent
  ])('%s of %d bytes → %j', (header, size, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });

  it.each([
    ['bytes=100-'],
    ['bytes=5-2'],
    ['bytes=0-1,5-9'],
    ['bytes=-0'],
    ['bytes=-'],
    ['bytes=x-1'],
    [`bytes=${'9'.repeat(20)}-`],
  ])('refuses %s', (header) => {
    expect(() => parseRange(header, 100)).toThrow(RangeError);
  });
});
