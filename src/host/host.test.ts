import { describe, expect, it } from 'vitest';
import { hostKey, mergeHosts } from './host.js';

describe('mergeHosts (mirror rule + kk registry.auths)', () => {
  it.each([
    ['nothing set', {}, {}, { plainHTTP: false, skipTLSVerify: false }],
    ['an opt-in in the rule holds', { plainHTTP: true }, {}, { plainHTTP: true, skipTLSVerify: false }],
    [
      'an opt-in in auths holds',
      { plainHTTP: false, skipTLSVerify: false },
      { skipTLSVerify: true },
      { plainHTTP: false, skipTLSVerify: true },
    ],
    [
      'the rule’s certsPath wins',
      { certsPath: '/rule' },
      { certsPath: '/auths' },
      { plainHTTP: false, skipTLSVerify: false, certsPath: '/rule' },
    ],
    [
      'auths fills in a certsPath',
      {},
      { certsPath: '/auths' },
      { plainHTTP: false, skipTLSVerify: false, certsPath: '/auths' },
    ],
  ])('%s', (_name, primary, fallback, expected) => {
    expect(mergeHosts(primary, fallback)).toEqual(expected);
  });
});

describe('hostKey', () => {
  it('is equal for the same server reached the same way, and differs on any connection setting', () => {
    expect(hostKey('r:5000', { plainHTTP: false })).toBe(hostKey('r:5000', {}));
    const keys = [
      hostKey('r:5000', {}),
      hostKey('r:5001', {}),
      hostKey('r:5000', { plainHTTP: true }),
      hostKey('r:5000', { skipTLSVerify: true }),
      hostKey('r:5000', { certsPath: '/c' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
