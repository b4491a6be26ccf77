import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { kkNamingOf } from '../manifest/index.js';
import { formatReference, parseReference } from '../reference/index.js';
import { parseTarget as parse, parseTargets as parseAll, targetNames, type TargetNaming } from './targets.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});
// The naming push uses for kk v3.1.12: pull names, or kk's own push names.
const naming = (mode: 'pull' | 'kk' = 'pull', kk = 'v3.1.12'): TargetNaming => ({
  kk: kkNamingOf(catalog.profile(kk).features),
  mode,
  kkRepository: (r) => catalog.kkRepository(r),
});
const parseTarget = (spec: string, mode?: 'pull' | 'kk', kk?: string) => parse(spec, naming(mode, kk));
const parseTargets = (specs: string[]) => parseAll(specs, naming());

describe('sync targets', () => {
  it.each([
    [
      'reg.local:5000',
      'docker.io/calico/cni:v3.27.3',
      ['reg.local:5000/calico/cni:v3.27.3-amd64', 'reg.local:5000/calico/cni:v3.27.3'],
    ],
    [
      'reg.local/kubesphereio',
      'docker.io/calico/cni:v3.27.3',
      ['reg.local/kubesphereio/cni:v3.27.3-amd64', 'reg.local/kubesphereio/cni:v3.27.3'],
    ],
    // kk's ImageRepo puts an empty namespace under library/ (manifest/push-name.ts, docs/kubekey-facts.md §9).
    [
      '10.0.0.5:5000',
      'registry.k8s.io/pause:3.9',
      ['10.0.0.5:5000/library/pause:3.9-amd64', '10.0.0.5:5000/library/pause:3.9'],
    ],
    [
      'localhost:5000/a/b',
      'docker.io/library/busybox',
      ['localhost:5000/a/b/busybox:latest-amd64', 'localhost:5000/a/b/busybox:latest'],
    ],
  ])('--to %s names %s as nodes pull it', (to, ref, want) => {
    const n = targetNames(parseReference(ref), parseTarget(to));
    expect([formatReference(n.arch('amd64')), formatReference(n.top)]).toEqual(want);
  });

  it.each([
    // kk's cn form of a kk image: nodes pull it under kk's default namespace; kk's push keeps kubesphereio
    ['pull', 'v3.1.12', 'r.local', 'r.local/kubesphere/pause:3.9'],
    ['kk', 'v3.1.12', 'r.local', 'r.local/kubesphereio/pause:3.9'],
    ['pull', 'v3.1.12', 'r.local/ns', 'r.local/ns/pause:3.9'],
    ['kk', 'v3.1.5', 'r.local/ns', 'r.local/ns/pause:3.9'],
    ['kk', 'v3.1.12', 'r.local/ns', 'r.local/kubesphereio/pause:3.9'],
  ] as const)('%s names (kk %s) --to %s: %s', (mode, kk, to, want) => {
    const n = targetNames(
      parseReference('registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9'),
      parseTarget(to, mode, kk),
    );
    expect(formatReference(n.top)).toBe(want);
  });

  it('arm/v7 becomes -arm-v7, as in the layout names', () => {
    expect(targetNames(parseReference('docker.io/calico/node:v3'), parseTarget('r.local')).arch('arm/v7').tag).toBe(
      'v3-arm-v7',
    );
  });

  it('an image named by digest only is put by digest, with no tag', () => {
    const n = targetNames(parseReference(`docker.io/calico/node@sha256:${'a'.repeat(64)}`), parseTarget('r.local'));
    expect(n.top.tag).toBeUndefined();
    expect(n.arch('amd64').tag).toBeUndefined();
  });

  it.each(['https://r.local', 'r.local/ns:tag', 'r.local/ns@sha256:x', 'noport/ns', 'r.local/UPPER', ''])(
    'refuses --to %j',
    (to) => {
      expect(() => parseTarget(to)).toThrow(/--to/);
    },
  );

  it('refuses a target given twice and an empty list', () => {
    expect(() => parseTargets(['r.local/ns', 'r.local/ns/'])).toThrow(/given twice/);
    expect(() => parseTargets([])).toThrow(/no target/);
  });

  // --to is typed by the user, but a pasted megabyte or a stray escape sequence is still quoted, cut and escaped.
  it.each([
    ['a 1 MB target', `r.local/${'n'.repeat(1024 * 1024)}:tag`],
    ['a 1 MB host', `${'h'.repeat(1024 * 1024)}/ns`],
    ['control characters', 'r.local/ns\u001b]0;pwned\u0007\r\nok\u009b:tag'],
    ['control characters in the host', 'evil\u001b[2J\u0007\r\n\u009b/ns'],
  ])('refuses %s with a short, escaped message naming --to', (_what, to) => {
    let message = '';
    try {
      parseTarget(to);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^--to "/);
    expect(message.length).toBeLessThan(2000);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
