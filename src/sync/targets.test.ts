import { describe, expect, it } from 'vitest';
import { formatReference, parseReference } from '../reference/index.js';
import { parseTarget, parseTargets, targetNames } from './targets.js';

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
  ])('--to %s names %s as kk pushes it', (to, ref, want) => {
    const n = targetNames(parseReference(ref), parseTarget(to));
    expect([formatReference(n.arch('amd64')), formatReference(n.top)]).toEqual(want);
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
});
