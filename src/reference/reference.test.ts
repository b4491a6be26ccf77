import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { formatReference, kkImageNameProblem, parseReference } from './reference.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';
import { parseDigest } from './digest.js';

describe('parseReference', () => {
  it.each([
    ['redis:5', { registry: 'docker.io', repository: 'library/redis', tag: '5' }],
    ['calico/node:v3.27.3', { registry: 'docker.io', repository: 'calico/node', tag: 'v3.27.3' }],
    ['docker.io/kubesphere/pause:3.9', { registry: 'docker.io', repository: 'kubesphere/pause', tag: '3.9' }],
    ['index.docker.io/library/alpine', { registry: 'docker.io', repository: 'library/alpine' }],
    ['127.0.0.1:5000/hub/calico/cni:v1', { registry: '127.0.0.1:5000', repository: 'hub/calico/cni', tag: 'v1' }],
    ['localhost/a/b:1', { registry: 'localhost', repository: 'a/b', tag: '1' }],
    [
      'quay.io/argoproj/argocd@sha256:' + 'a'.repeat(64),
      { registry: 'quay.io', repository: 'argoproj/argocd', digest: 'sha256:' + 'a'.repeat(64) },
    ],
    [
      'minio/minio:RELEASE.2019-08-07T01-59-21Z',
      { registry: 'docker.io', repository: 'minio/minio', tag: 'RELEASE.2019-08-07T01-59-21Z' },
    ],
    [
      'reg.example:65535/a__b/c---d/e.f_g:1',
      { registry: 'reg.example:65535', repository: 'a__b/c---d/e.f_g', tag: '1' },
    ],
    ['reg.example:1/a/b:' + 'T'.repeat(128), { registry: 'reg.example:1', repository: 'a/b', tag: 'T'.repeat(128) }],
    ['[::1]:5000/a/b:1', { registry: '[::1]:5000', repository: 'a/b', tag: '1' }],
    [`r.io/${'a'.repeat(250)}`, { registry: 'r.io', repository: 'a'.repeat(250) }],
    [
      'a/b@sha512:' + 'c'.repeat(128),
      { registry: 'docker.io', repository: 'a/b', digest: 'sha512:' + 'c'.repeat(128) },
    ],
  ])('%s', (input, want) => {
    const ref = parseReference(input);
    expect(ref).toEqual(want);
    expect(parseReference(formatReference(ref))).toEqual(ref);
  });

  it.each([
    '',
    'UPPER/case:1',
    'a//b:1',
    'docker.io/x:bad tag',
    'x@sha256:zz',
    'bad_host:99999999/a/b:1',
    // the distribution grammar, in full (#7)
    ' docker.io/a/b:1',
    'docker.io/a/b:1 ',
    'docker.io/a/b:1\n',
    'docker.io/a\tb:1',
    'docker.io/a/b\u001b]0;x\u0007:1',
    'docker.io/a/b:1\u0085',
    'reg.example:0/a/b:1',
    'reg.example:65536/a/b:1',
    'docker.io/Library/redis:5',
    'a._b:1',
    'a-/b:1',
    '-a/b:1',
    'a/b:-tag',
    'a/b:.t',
    'a/b:' + 't'.repeat(129),
    `r.io/${'a'.repeat(251)}`,
    'a/b@sha256:' + 'A'.repeat(64),
    'a/b@sha256:' + 'a'.repeat(63),
    'a/b@1sha:' + 'a'.repeat(32),
  ])('rejects %j', (input) => {
    expect(() => parseReference(input)).toThrow(KkoError);
    try {
      parseReference(input);
    } catch (err) {
      expect((err as KkoError).code).toBe('INVALID_REFERENCE');
    }
  });
});

describe('parseReference messages', () => {
  it.each([
    ['docker.io/Library/redis:5', 'repository "Library" must be lowercase'],
    ['docker.io/a/b:1 ', 'whitespace at position 16'],
    ['docker.io/a/b:1\r', 'a control character at position 16'],
    ['reg.example:70000/a/b:1', 'registry port 70000 is not from 1 to 65535'],
    [`r.io/${'a'.repeat(251)}`, 'name is 256 characters, more than 255'],
  ])('%j: %s', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });

  it('quotes the input with its control characters escaped', () => {
    expect(() => parseReference('a/b\u001b[2J:1')).toThrow('invalid image reference "a/b\\u001b[2J:1"');
    // a megabyte reference (an inventory row, a manifest line): named cut, with its length
    const long = `a/${'b'.repeat(1 << 20)}\u009b:1`;
    let message = '';
    try {
      parseReference(long);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid image reference "a\/b+"… \(1048581 characters\): /);
    expect(message.length).toBeLessThan(700);
  });
});

describe('kkImageNameProblem (kk validateImageName)', () => {
  it.each([
    ['docker.io/library/redis:5', false],
    ['registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9', false],
    ['redis:5', true],
    ['library/redis:5', true],
    ['docker.io/library/redis', true],
    ['docker.io/library/redis@sha256:' + 'a'.repeat(64), true],
    ['127.0.0.1:5000/library/redis:5', false],
  ])('%s → problem=%s', (raw, bad) => {
    expect(kkImageNameProblem(raw) !== undefined).toBe(bad);
  });
});

// Each part named in the message is quoted and cut like the whole reference: a megabyte tag is not echoed twice.
describe('hostile parts of a reference', () => {
  it.each([
    ['a 1 MB tag', `docker.io/x/y:${MB_TEXT}`, /: bad tag "x+"… \(1048576 characters\)$/],
    ['a long path component', `docker.io/${'x'.repeat(200)}!/y:1`, /: bad path component "x+"… \(201 characters\)$/],
    [
      'a long upper-case repository',
      `docker.io/X${'x'.repeat(199)}/y:1`,
      /: repository "Xx+"… \(200 characters\) must be lowercase$/,
    ],
    ['a 1 MB digest', `docker.io/x/y@sha256:${MB_TEXT}`, /: bad digest "sha256:x+"… \(1048583 characters\)$/],
  ])('%s', async (_what, input, want) => {
    const m = await messageOf(() => parseReference(input));
    expect(m).toMatch(/^invalid image reference "/);
    expect(m).toMatch(want);
    expectSafeText(m, 1500);
  });

  it.each([
    ['a 1 MB digest', `sha256:${MB_TEXT}`],
    ['control characters', `sha256:${CONTROL_TEXT}`],
  ])('parseDigest names %s quoted, cut and escaped', async (_what, input) => {
    const m = await messageOf(() => parseDigest(input));
    expect(m).toMatch(/^invalid digest "sha256:.*: expected sha256:<64 lower-case hex>$/);
    expectSafeText(m);
  });
});
