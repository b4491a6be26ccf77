import { describe, expect, it } from 'vitest';
import { compareVersions, minorInRange, minorOf, nearestVersions, withVPrefix } from './version.js';

describe('versions', () => {
  it('sorts naturally', () => {
    expect(['v1.20.0', 'v1.19.15', 'v1.19.8', 'v1.19.0'].sort(compareVersions)).toEqual([
      'v1.19.0',
      'v1.19.8',
      'v1.19.15',
      'v1.20.0',
    ]);
    expect(['1.7.13', '1.6.24', '1.7.2'].sort(compareVersions)).toEqual(['1.6.24', '1.7.2', '1.7.13']);
  });
  it('minors and ranges', () => {
    expect(minorOf('v1.28.12')).toBe('v1.28');
    expect(minorInRange('v1.26.15', { min: 'v1.21', max: 'v1.26' })).toBe(true);
    expect(minorInRange('v1.27.0', { min: 'v1.21', max: 'v1.26' })).toBe(false);
    expect(minorInRange('v1.20.4', { min: 'v1.21' })).toBe(false);
  });
  it('nearest versions prefer the same minor', () => {
    expect(nearestVersions('v1.28.99', ['v1.27.16', 'v1.28.12', 'v1.28.11', 'v1.29.0'], 2)).toEqual([
      'v1.28.11',
      'v1.28.12',
    ]);
  });
});

describe('withVPrefix (kk normalizedBuildVersion)', () => {
  it.each([
    ['1.28.12', 'v1.28.12'],
    ['v1.28.12', 'v1.28.12'],
    ['1.28.12-k3s', 'v1.28.12-k3s'],
    ['1.28', '1.28'],
    ['latest', 'latest'],
  ])('%s → %s', (input, out) => expect(withVPrefix(input)).toBe(out));
});
