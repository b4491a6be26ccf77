import { describe, expect, it } from 'vitest';
import { formatLock, lockDrift, lockPathFor, parseLock } from './lock.js';
import type { LockedImage, ManifestLock } from './lock-schema.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const img = (ref: string, digest: string, arches: Record<string, string>): LockedImage => ({
  ref,
  digest,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  arches,
});
const lock = (images: LockedImage[]): ManifestLock => ({ apiVersion: 'kko.io/v1alpha1', kind: 'ManifestLock', images });

describe('manifest lock', () => {
  it.each([
    ['/m/manifest.yaml', '/m/manifest.lock.json'],
    ['/m/a.YML', '/m/a.lock.json'],
    ['/m/manifest', '/m/manifest.lock.json'],
    ['/m/x.json', '/m/x.json.lock.json'],
  ])('%s → %s', (m, want) => expect(lockPathFor(m)).toBe(want));

  it('formats in byte order of refs and arches, whatever the input order, and parses back', () => {
    const a = formatLock(
      lock([img('b:1', d('b'), { arm64: d('2'), amd64: d('1') }), img('a:1', d('a'), { amd64: d('3') })]),
    );
    const b = formatLock(
      lock([img('a:1', d('a'), { amd64: d('3') }), img('b:1', d('b'), { amd64: d('1'), arm64: d('2') })]),
    );
    expect(a).toBe(b);
    expect(a.indexOf('"a:1"')).toBeLessThan(a.indexOf('"b:1"'));
    expect(a.indexOf('amd64')).toBeLessThan(a.indexOf('arm64'));
    expect(formatLock(parseLock(a, 'x'))).toBe(a);
  });

  it('refuses unknown fields and bad digests, naming the field', () => {
    expect(() => parseLock(JSON.stringify({ ...lock([]), extra: 1 }), 'l.json')).toThrow(/l\.json: \(top\)/);
    expect(() => parseLock(JSON.stringify(lock([img('a:1', 'sha256:x', {})])), 'l.json')).toThrow(/images\.0\.digest/);
    expect(() => parseLock('{', 'l.json')).toThrow(/not JSON/);
  });

  it('drift: a moved tag, an image and an arch the lock lacks; nothing for a match', () => {
    const was = new Map(
      [img('a:1', d('a'), { amd64: d('1') }), img('b:1', d('b'), { amd64: d('2') })].map((i) => [i.ref, i]),
    );
    const now = lock([
      img('a:1', d('a'), { amd64: d('1'), arm64: d('3') }),
      img('b:1', d('c'), { amd64: d('4') }),
      img('n:1', d('n'), { amd64: d('5') }),
    ]);
    expect(lockDrift(was, now)).toEqual([
      { ref: 'a:1', arch: 'arm64', now: d('3') },
      { ref: 'b:1', locked: d('b'), now: d('c') },
      { ref: 'n:1', now: d('n') },
    ]);
    expect(lockDrift(was, lock([...was.values()]))).toEqual([]);
  });
});

describe('parseLock: not JSON', () => {
  it.each([
    ['control characters', `${CONTROL_TEXT}{}`],
    ['a 1 MB file', `z${MB_TEXT}`],
  ])('%s: the message names the lock, escaped and short', async (_what, text) => {
    const m = await messageOf(() => parseLock(text, '/m/kk.lock.json'));
    expect(m).toMatch(/^reading the lock \/m\/kk\.lock\.json: not JSON: /);
    expectSafeText(m);
  });
});
