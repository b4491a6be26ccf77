import { describe, expect, it } from 'vitest';
import { parseChallenges } from './challenge.js';

describe('parseChallenges (RFC 7235)', () => {
  it.each([
    ['Basic realm="basic-realm"', [{ scheme: 'basic', params: { realm: 'basic-realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:samalba/my-app:pull,push',
          },
        },
      ],
    ],
    ['BEARER Realm = "r" , Service=svc', [{ scheme: 'bearer', params: { realm: 'r', service: 'svc' } }]],
    ['Bearer realm="a \\"quoted\\" \\\\ value"', [{ scheme: 'bearer', params: { realm: 'a "quoted" \\ value' } }]],
    [
      'Bearer realm="x,y", error="insufficient_scope"',
      [{ scheme: 'bearer', params: { realm: 'x,y', error: 'insufficient_scope' } }],
    ],
    [
      'Basic realm="b", Bearer realm="t", service="s"',
      [
        { scheme: 'basic', params: { realm: 'b' } },
        { scheme: 'bearer', params: { realm: 't', service: 's' } },
      ],
    ],
    [
      'Negotiate abc+/9==, Basic realm="r"',
      [
        { scheme: 'negotiate', params: {}, token68: 'abc+/9==' },
        { scheme: 'basic', params: { realm: 'r' } },
      ],
    ],
    ['Bearer', [{ scheme: 'bearer', params: {} }]],
    [
      'Basic, Bearer realm="t"',
      [
        { scheme: 'basic', params: {} },
        { scheme: 'bearer', params: { realm: 't' } },
      ],
    ],
  ])('%s', (header, want) => {
    expect(parseChallenges(header)).toEqual(want);
  });

  it('returns nothing for an absent or empty header', () => {
    expect(parseChallenges(null)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges(' , ')).toEqual([]);
  });

  it('survives an unterminated quoted string', () => {
    expect(parseChallenges('Bearer realm="oops')).toEqual([{ scheme: 'bearer', params: { realm: 'oops' } }]);
  });
});
