import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../catalog/index.js';
import { kkNamingOf, rewriteNamespace, splitArchTag, type RegistryFacts } from '../manifest/index.js';
import { parseDigest } from '../reference/index.js';
import { planPush, type NamingMode } from './plan.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

const catalog = await loadCatalog();
const naming = (v: string): ReturnType<typeof kkNamingOf> & { version: string } => ({
  ...kkNamingOf(catalog.profile(v).features),
  version: v,
});

const entries = [
  { refName: 'docker.io/calico/cni:v3.27.4-amd64' },
  { refName: 'docker.io/calico/cni:v3.27.4-arm64' },
  { refName: 'registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9-amd64' },
  { refName: 'docker.io/library/nginx:1.25-amd64' },
];

function names(v: string, registry: RegistryFacts, mode: NamingMode = 'pull'): string[] {
  const plan = planPush({ entries, registry, kk: naming(v), mode, kkRepository: (r) => catalog.kkRepository(r) });
  return plan.images.flatMap((i) => [
    `${i.target.registry}/${i.target.repository}:${i.target.tag}`,
    ...i.children.map((c) => `  ${c.target.repository}:${c.target.tag}`),
  ]);
}

const priv = { privateRegistry: 'dockerhub.kubekey.local' };
const override = { ...priv, namespaceOverride: 'kubesphereio' };
const rewrite = { ...priv, namespaceRewrite: { policy: 'changePrefix', src: ['calico'], dest: 'mirror' } };

// The plan of one layout entry under kk v3.1.12's pull names (throws for a ref name kk could not push).
const planOne = (refName: string): unknown =>
  planPush({
    entries: [{ refName }],
    registry: priv,
    kk: naming('v3.1.12'),
    mode: 'pull',
    kkRepository: () => undefined,
  });

describe('push names per kk release', () => {
  it("pulls kk images under kk's default namespace: a cn manifest's pause goes to kubesphere/ (every release)", () => {
    for (const v of ['v3.1.5', 'v3.1.7', 'v3.1.12']) {
      expect(names(v, priv)).toEqual([
        'dockerhub.kubekey.local/calico/cni:v3.27.4',
        '  calico/cni:v3.27.4-amd64',
        '  calico/cni:v3.27.4-arm64',
        'dockerhub.kubekey.local/kubesphere/pause:3.9',
        '  kubesphere/pause:3.9-amd64',
        'dockerhub.kubekey.local/library/nginx:1.25',
        '  library/nginx:1.25-amd64',
      ]);
    }
  });

  it('--kk-push-names keeps the source namespace, as kk does (kubesphereio/pause: the classic "not found")', () => {
    expect(names('v3.1.12', priv, 'kk')).toContain('dockerhub.kubekey.local/kubesphereio/pause:3.9');
  });

  it('namespaceOverride: nodes always pull under it; kk v3.1.5 pushes under it, v3.1.7 and v3.1.12 do not', () => {
    const pulled = [
      'dockerhub.kubekey.local/kubesphereio/cni:v3.27.4',
      'dockerhub.kubekey.local/kubesphereio/nginx:1.25',
      'dockerhub.kubekey.local/kubesphereio/pause:3.9',
    ];
    for (const v of ['v3.1.5', 'v3.1.7', 'v3.1.12'])
      expect(names(v, override).filter((n) => !n.startsWith(' '))).toEqual(pulled);
    expect(names('v3.1.5', override, 'kk').filter((n) => !n.startsWith(' '))).toEqual(pulled);
    expect(names('v3.1.7', override, 'kk').filter((n) => !n.startsWith(' '))).toEqual([
      'dockerhub.kubekey.local/calico/cni:v3.27.4',
      'dockerhub.kubekey.local/kubesphereio/pause:3.9',
      'dockerhub.kubekey.local/library/nginx:1.25',
    ]);
  });

  it('namespaceRewrite applies from v3.1.8 only, on push and pull', () => {
    expect(names('v3.1.12', rewrite)).toContain('dockerhub.kubekey.local/mirror/cni:v3.27.4');
    expect(names('v3.1.12', rewrite)).toContain('dockerhub.kubekey.local/mirror/kubesphere/pause:3.9');
    expect(names('v3.1.12', rewrite, 'kk')).toContain('dockerhub.kubekey.local/mirror/cni:v3.27.4');
    expect(names('v3.1.7', rewrite)).toContain('dockerhub.kubekey.local/calico/cni:v3.27.4');
  });

  it('a privateRegistry path is kept in front of the namespace', () => {
    expect(names('v3.1.12', { privateRegistry: '10.0.0.5:5000/ks' })[0]).toBe('10.0.0.5:5000/ks/calico/cni:v3.27.4');
  });

  it('says where kk would differ, and warns under --kk-push-names', () => {
    const plan = planPush({
      entries,
      registry: priv,
      kk: naming('v3.1.12'),
      mode: 'pull',
      kkRepository: (r) => catalog.kkRepository(r),
    });
    expect(plan.issues.map((i) => [i.code, i.severity])).toEqual([['KK_WOULD_DIFFER', 'info']]);
    expect(plan.issues[0]?.message).toMatch(
      /kk v3.1.12 would push dockerhub.kubekey.local\/kubesphereio\/pause:3.9, nodes pull dockerhub.kubekey.local\/kubesphere\/pause:3.9/,
    );
    const kk = planPush({
      entries,
      registry: priv,
      kk: naming('v3.1.12'),
      mode: 'kk',
      kkRepository: (r) => catalog.kkRepository(r),
    });
    expect(kk.issues.map((i) => [i.code, i.severity])).toEqual([['PUSH_PULL_MISMATCH', 'warning']]);
  });

  it('two sources that land on one name and platform: the first is pushed, a warning names both', () => {
    const two = [
      { refName: 'docker.io/kubesphere/pause:3.9-amd64', digest: parseDigest('sha256:' + 'a'.repeat(64)) },
      {
        refName: 'registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9-amd64',
        digest: parseDigest('sha256:' + 'b'.repeat(64)),
      },
    ] as const;
    const plan = planPush({
      entries: two,
      registry: priv,
      kk: naming('v3.1.12'),
      mode: 'pull',
      kkRepository: (r) => catalog.kkRepository(r),
    });
    expect(plan.images).toHaveLength(1);
    expect(plan.images[0]?.children.map((c) => c.entry.refName)).toEqual(['docker.io/kubesphere/pause:3.9-amd64']);
    expect(plan.issues.map((i) => i.code)).toContain('PUSH_COLLISION');
  });

  it('refuses ref names kk could not push', () => {
    const bad = planOne;
    expect(() => bad('kubesphere:kube-apiserver:v1.21.5-amd64')).toThrow(/is not an image reference/);
    expect(() => bad('docker.io/calico/cni:v3.27.4')).toThrow(/no -<arch> suffix/);
  });
});

describe('kk helpers', () => {
  it.each([
    ['v3.27.4-amd64', { tag: 'v3.27.4', architecture: 'amd64' }],
    ['3.9-arm-v7', { tag: '3.9', architecture: 'arm', variant: 'v7' }],
    ['2.9.6-alpine-arm64', { tag: '2.9.6-alpine', architecture: 'arm64' }],
    ['stable', undefined],
    ['1.0-x86', undefined],
  ])('splitArchTag(%s)', (tag, want) => {
    expect(splitArchTag(tag)).toEqual(want);
  });

  it.each([
    ['calico', { policy: 'changePrefix', src: ['calico'], dest: 'mirror' }, 'mirror'],
    ['kubesphere', { policy: 'changePrefix', src: ['calico'], dest: 'mirror' }, 'mirror/kubesphere'],
    ['a/b', { policy: 'changePrefix', src: ['a', 'b'], dest: 'x' }, 'a/x'], // the last src that matches wins
    ['calico', { policy: 'other', src: ['calico'], dest: 'mirror' }, 'calico'],
  ])('rewriteNamespace(%s)', (ns, rw, want) => {
    expect(rewriteNamespace(ns, rw)).toBe(want);
  });
});

// A ref name is the artifact's (images/index.json annotation): in the refusal it is quoted, cut and escaped.
describe('a hostile ref name in the artifact', () => {
  it.each([
    [
      'a 1 MB ref name',
      `docker.io/x/y:${MB_TEXT}`,
      /ref name "docker\.io\/x\/y:x+"… \(1048590 characters\) is not an image reference$/,
    ],
    [
      'control characters',
      `docker.io/x/y:1${CONTROL_TEXT}`,
      /ref name "docker\.io\/x\/y:1ev\\u001b\]0;pwned\\u0007.*" is not an image reference$/,
    ],
    [
      'no arch suffix, a long name',
      `docker.io/x/${'y'.repeat(200)}:${'t'.repeat(128)}@sha256:${'a'.repeat(64)}`,
      /ref name "docker\.io\/x\/y+.*"… \(\d+ characters\) has no -<arch> suffix$/,
    ],
  ])('%s', async (_what, refName, want) => {
    const m = await messageOf(() => planOne(refName));
    expect(m).toMatch(/^reading the artifact's images\/index\.json: ref name "/);
    expect(m).toMatch(want);
    expectSafeText(m);
  });
});
