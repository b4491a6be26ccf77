import { describe, expect, it } from 'vitest';
import { parseReference } from '../reference/index.js';
import { resolveDownloadSources, resolveImageSources, rewriteReference } from './resolve.js';
import { mirrorPolicySchema, type RuleOrigin } from './schema.js';

// Rules as the loader produces them (schema defaults applied), from a plain object.
function policy(body: { registries?: unknown[]; downloads?: unknown[] }, origin: RuleOrigin = 'file') {
  const p = mirrorPolicySchema.parse({ apiVersion: 'kko.io/v1alpha1', kind: 'MirrorPolicy', ...body });
  return {
    registries: p.registries.map((r) => ({ ...r, origin })),
    downloads: p.downloads.map((d) => ({ ...d, origin })),
  };
}

const images = policy({
  registries: [
    { prefix: 'docker.io', mirrors: [{ location: '127.0.0.1:5000/hub', plainHTTP: true }] },
    {
      prefix: 'docker.io/library',
      mirrors: [{ location: 'mirror.local/lib' }, { location: 'flat.local/ns', rewrite: 'flatten' }],
      upstream: false,
    },
    {
      prefix: 'quay.io/calico',
      mirrors: [{ location: 'flat.local', rewrite: 'flatten', skipTLSVerify: true, certsPath: '/etc/certs' }],
    },
    {
      prefix: 'ghcr.io',
      mirrors: [
        { location: 'digests.local/gh', pullFrom: 'digest-only' },
        { location: 'tags.local/gh', pullFrom: 'tag-only' },
      ],
    },
    { prefix: 'localhost:5000', plainHTTP: true },
    { prefix: 'registry.k8s.io/pause', mirrors: [{ location: 'one.local/pause-mirror' }] },
  ],
});

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('resolveImageSources', () => {
  it.each([
    [
      'prefix rewrite, host only rule',
      'docker.io/bitnami/redis:7',
      ['127.0.0.1:5000/hub/bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ],
    ['longest prefix wins, upstream false', 'redis:7', ['mirror.local/lib/redis:7', 'flat.local/ns/redis:7']],
    [
      'segment boundary: libraryx is not library',
      'docker.io/libraryx/app:1',
      ['127.0.0.1:5000/hub/libraryx/app:1', 'docker.io/libraryx/app:1'],
    ],
    [
      'flatten to last segment',
      'quay.io/calico/node:v3.27.3',
      ['flat.local/node:v3.27.3', 'quay.io/calico/node:v3.27.3'],
    ],
    ['segment boundary: quay.io/calicox unmatched', 'quay.io/calicox/node:v1', ['quay.io/calicox/node:v1']],
    ['no rule: upstream only', 'gcr.io/distroless/static:nonroot', ['gcr.io/distroless/static:nonroot']],
    [
      'digest kept',
      `docker.io/bitnami/redis@${DIGEST}`,
      [`127.0.0.1:5000/hub/bitnami/redis@${DIGEST}`, `docker.io/bitnami/redis@${DIGEST}`],
    ],
    [
      'tag and digest kept',
      `quay.io/calico/cni:v1@${DIGEST}`,
      [`flat.local/cni:v1@${DIGEST}`, `quay.io/calico/cni:v1@${DIGEST}`],
    ],
    ['pullFrom tag-only for a tag ref', 'ghcr.io/org/app:1', ['tags.local/gh/org/app:1', 'ghcr.io/org/app:1']],
    [
      'pullFrom digest-only for a digest ref',
      `ghcr.io/org/app@${DIGEST}`,
      [`digests.local/gh/org/app@${DIGEST}`, `ghcr.io/org/app@${DIGEST}`],
    ],
    [
      'a prefix naming the whole repository',
      'registry.k8s.io/pause:3.9',
      ['one.local/pause-mirror:3.9', 'registry.k8s.io/pause:3.9'],
    ],
    ['prefix is not a string prefix of the repository', 'registry.k8s.io/pause-x:1', ['registry.k8s.io/pause-x:1']],
  ])('%s: %s', (_name, raw, expected) => {
    const got = resolveImageSources(parseReference(raw), images).map(
      (s) =>
        `${s.registry}/${s.repository}${s.ref.tag ? `:${s.ref.tag}` : ''}${s.ref.digest ? `@${s.ref.digest}` : ''}`,
    );
    expect(got).toEqual(expected);
  });

  it.each([
    [
      'docker.io/bitnami/redis:7',
      [
        { via: 'mirror', plainHTTP: true, skipTLSVerify: false, rule: 'docker.io' },
        { via: 'upstream', plainHTTP: false, skipTLSVerify: false, rule: 'docker.io' },
      ],
    ],
    [
      'quay.io/calico/node:v1',
      [
        { via: 'mirror', plainHTTP: false, skipTLSVerify: true, certsPath: '/etc/certs', rule: 'quay.io/calico' },
        { via: 'upstream', plainHTTP: false, skipTLSVerify: false },
      ],
    ],
    ['localhost:5000/team/app:1', [{ via: 'upstream', plainHTTP: true, skipTLSVerify: false, rule: 'localhost:5000' }]],
    ['gcr.io/x/y:1', [{ via: 'upstream', plainHTTP: false, skipTLSVerify: false }]],
  ])('endpoint settings pass through: %s', (raw, expected) => {
    const got = resolveImageSources(parseReference(raw), images);
    expect(got).toHaveLength(expected.length);
    got.forEach((s, i) => expect(s).toMatchObject(expected[i] ?? {}));
  });

  it('no rule: exactly the upstream, without a rule field', () => {
    const ref = parseReference('gcr.io/x/y:1');
    expect(resolveImageSources(ref, images)).toEqual([
      { registry: 'gcr.io', repository: 'x/y', ref, plainHTTP: false, skipTLSVerify: false, via: 'upstream' },
    ]);
  });

  it('repository and registry fields agree with the rewritten ref', () => {
    for (const s of resolveImageSources(parseReference('docker.io/bitnami/redis:7'), images)) {
      expect([s.registry, s.repository]).toEqual([s.ref.registry, s.ref.repository]);
    }
  });

  it('is empty when every mirror is filtered out and upstream is false', () => {
    const p = policy({
      registries: [{ prefix: 'ghcr.io', mirrors: [{ location: 'd.local', pullFrom: 'digest-only' }], upstream: false }],
    });
    expect(resolveImageSources(parseReference('ghcr.io/a/b:1'), p)).toEqual([]);
  });
});

describe('user rules before zone rules', () => {
  const mixed = {
    registries: [
      ...policy({ registries: [{ prefix: 'docker.io', mirrors: [{ location: 'user.local' }] }] }).registries,
      ...policy(
        {
          registries: [
            { prefix: 'docker.io/library', mirrors: [{ location: 'zone.local' }] },
            { prefix: 'quay.io', mirrors: [{ location: 'zone.local' }] },
          ],
        },
        'zone',
      ).registries,
    ],
    downloads: [
      ...policy({ downloads: [{ prefix: 'https://dl.k8s.io/', mirrors: [{ location: 'http://user/' }] }] }).downloads,
      ...policy(
        {
          downloads: [
            { prefix: 'https://dl.k8s.io/release/', mirrors: [{ location: 'https://zone/' }] },
            { prefix: 'https://get.helm.sh/', mirrors: [{ location: 'https://zone/helm/' }] },
          ],
        },
        'zone',
      ).downloads,
    ],
  };

  it.each([
    ['a shorter user prefix beats a longer zone one', 'redis:7', 'user.local/library/redis:7'],
    ['zone rules apply where no user rule matches', 'quay.io/a/b:1', 'zone.local/a/b:1'],
  ])('image: %s', (_name, raw, first) => {
    const [s] = resolveImageSources(parseReference(raw), mixed);
    expect(s && `${s.registry}/${s.repository}:${s.ref.tag}`).toBe(first);
  });

  it.each([
    [
      'a shorter user prefix beats a longer zone one',
      'https://dl.k8s.io/release/v1/kubeadm',
      'http://user/release/v1/kubeadm',
    ],
    ['zone rules apply where no user rule matches', 'https://get.helm.sh/helm.tgz', 'https://zone/helm/helm.tgz'],
  ])('download: %s', (_name, url, first) => {
    expect(resolveDownloadSources(url, mixed)[0]?.url).toBe(first);
  });
});

describe('rewriteReference', () => {
  it('refuses a rewrite that leaves no repository (INVALID_MIRROR_CONFIG)', () => {
    expect(() =>
      rewriteReference(parseReference('registry.k8s.io/pause:3.9'), 'registry.k8s.io/pause', 'mirror.local', 'prefix'),
    ).toThrow(expect.objectContaining({ code: 'INVALID_MIRROR_CONFIG' }));
  });
});

const downloads = policy({
  downloads: [
    { prefix: 'https://dl.k8s.io/', mirrors: [{ location: 'http://127.0.0.1:8080/dl.k8s.io/' }] },
    {
      prefix: 'https://dl.k8s.io/release/',
      mirrors: [{ location: 'https://a.local/rel/', skipTLSVerify: true }, { location: 'https://b.local/' }],
      upstream: false,
    },
    { prefix: 'https://github.com/etcd', mirrors: [{ location: 'https://m.local/etcd' }] },
  ],
});

describe('resolveDownloadSources', () => {
  it.each([
    [
      'longest prefix, upstream false',
      'https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm',
      ['https://a.local/rel/v1.30.0/bin/linux/amd64/kubeadm', 'https://b.local/v1.30.0/bin/linux/amd64/kubeadm'],
    ],
    [
      'shorter prefix with upstream',
      'https://dl.k8s.io/other/x',
      ['http://127.0.0.1:8080/dl.k8s.io/other/x', 'https://dl.k8s.io/other/x'],
    ],
    [
      'plain string prefix (not segments)',
      'https://github.com/etcd-io/x',
      ['https://m.local/etcd-io/x', 'https://github.com/etcd-io/x'],
    ],
    [
      'no rule',
      'https://get.helm.sh/helm-v3.14.3-linux-amd64.tar.gz',
      ['https://get.helm.sh/helm-v3.14.3-linux-amd64.tar.gz'],
    ],
  ])('%s: %s', (_name, url, expected) => {
    expect(resolveDownloadSources(url, downloads).map((s) => s.url)).toEqual(expected);
  });

  it('records via, rule and TLS', () => {
    expect(resolveDownloadSources('https://dl.k8s.io/release/x', downloads)).toEqual([
      { url: 'https://a.local/rel/x', via: 'mirror', rule: 'https://dl.k8s.io/release/', skipTLSVerify: true },
      { url: 'https://b.local/x', via: 'mirror', rule: 'https://dl.k8s.io/release/', skipTLSVerify: false },
    ]);
    expect(resolveDownloadSources('https://example.com/f', downloads)).toEqual([
      { url: 'https://example.com/f', via: 'upstream', skipTLSVerify: false },
    ]);
  });
});

describe('blockUpstream: the catch-all "never go upstream" rule (#9)', () => {
  const blocked = { ...images, blockUpstream: 'blockUpstream: true in m.yaml' };
  const downloads = {
    ...policy({ downloads: [{ prefix: 'https://dl.k8s.io/', mirrors: [{ location: 'http://127.0.0.1:8080/dl/' }] }] }),
    blockUpstream: 'blockUpstream: true in m.yaml',
  };

  it('keeps only the mirrors of a matching rule', () => {
    expect(
      resolveImageSources(parseReference('docker.io/bitnami/redis:7'), blocked).map((s) => [s.via, s.registry]),
    ).toEqual([['mirror', '127.0.0.1:5000']]);
    expect(resolveDownloadSources('https://dl.k8s.io/release/x', downloads).map((s) => s.url)).toEqual([
      'http://127.0.0.1:8080/dl/release/x',
    ]);
  });

  it.each([
    [
      'no rule matches an image',
      () => resolveImageSources(parseReference('gcr.io/distroless/static:nonroot'), blocked),
      /image gcr\.io\/distroless\/static:nonroot: refused by blockUpstream: true in m\.yaml: no mirror rule matches it/,
    ],
    [
      'a rule with no mirror (upstream only)',
      () => resolveImageSources(parseReference('localhost:5000/app:1'), blocked),
      /the rule for localhost:5000 has no mirror that serves it/,
    ],
    [
      'no rule matches a URL',
      () => resolveDownloadSources('https://get.helm.sh/helm.tgz', downloads),
      /download https:\/\/get\.helm\.sh\/helm\.tgz: refused by blockUpstream/,
    ],
  ])('refuses with the rule named: %s', (_name, call, message) => {
    expect(call).toThrow(message);
    try {
      call();
    } catch (err) {
      expect((err as { code: string }).code).toBe('UPSTREAM_BLOCKED');
    }
  });

  it('an optional extra source resolves to nothing instead of failing', () => {
    expect(resolveDownloadSources('https://get.helm.sh/helm.tgz', downloads, { optional: true })).toEqual([]);
  });

  it('without blockUpstream nothing changes (upstream last)', () => {
    expect(resolveImageSources(parseReference('gcr.io/distroless/static:nonroot'), images).map((s) => s.via)).toEqual([
      'upstream',
    ]);
  });
});
