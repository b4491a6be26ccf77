import { describe, expect, it } from 'vitest';
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches } from './descriptor.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

describe('platforms', () => {
  it.each([
    [
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    [
      { os: 'linux', architecture: 'aarch64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    [
      { os: 'linux', architecture: 'arm64', variant: '8' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    [
      { os: 'Linux', architecture: 'x86_64' },
      { os: 'linux', architecture: 'amd64' },
    ],
    [
      { os: 'linux', architecture: 'arm' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
    [
      { os: 'linux', architecture: 'armel' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
    ],
  ])('normalizes %j', (input, want) => {
    expect(normalizePlatform(input)).toEqual(want);
  });

  it.each([
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/arm64/v8', 'linux/arm64', true],
    ['arm64', 'linux/arm64/v8', true],
    ['linux/amd64', 'linux/amd64', true],
    ['linux/amd64', 'linux/arm64', false],
    ['linux/amd64', 'windows/amd64', false],
    ['linux/arm/v7', 'linux/arm/v6', false],
    ['linux/arm', 'linux/arm/v7', true],
    ['linux/amd64', 'linux/amd64/v3', true], // a want without variant accepts any amd64 level
    ['linux/amd64/v3', 'linux/amd64', false],
  ])('%s wants, %s has → %s', (want, have, ok) => {
    expect(platformMatches(parsePlatform(want), parsePlatform(have))).toBe(ok);
  });

  it('parses and formats', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe('linux/arm64/v8');
    expect(() => parsePlatform('linux//x')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => parsePlatform('a/b/c/d')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});

describe('parsePlatform: a hostile value', () => {
  it.each([
    ['a 1 MB value', `a/b/c/${MB_TEXT}`],
    ['control characters', `a/b/c/${CONTROL_TEXT}`],
  ])('%s is quoted, cut and escaped', async (_what, value) => {
    const m = await messageOf(() => parsePlatform(value));
    expect(m).toMatch(/^invalid platform "a\/b\/c\/.*: expected os\/arch\[\/variant\] or arch$/);
    expectSafeText(m);
  });
});
