import { describe, expect, it } from 'vitest';
import type { BinaryItem } from '../catalog/index.js';
import type { KkManifest } from '../manifest/index.js';
import { binaryCandidates, binaryDigest } from './binaries.js';
import { loadCatalog } from '../catalog/index.js';
import { isoPath, parseIsoChecksum, planIso } from './iso.js';
import { planDownloads, planManifestDownloads, plannedFiles } from './plan.js';

const HEX = 'ab'.repeat(32);
type Os = NonNullable<KkManifest['spec']['operatingSystems']>[number];

describe('ISO planning', () => {
  it.each([`sha256:${HEX}`, HEX.toUpperCase(), `${HEX}  ubuntu-20.04-debs-amd64.iso\n`])(
    'accepts the checksum form %j',
    (raw) => {
      expect(parseIsoChecksum(raw, 'x')).toBe(`sha256:${HEX}`);
    },
  );

  it.each(['md5:abc', HEX.slice(1), ''])('refuses %j as a checksum', (raw) => {
    expect(() => parseIsoChecksum(raw, 'x')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('builds kk’s path and refuses parts that would escape it', () => {
    expect(isoPath({ arch: 'arm64', id: 'centos', version: '7' })).toBe('repository/arm64/centos/7/centos-7-arm64.iso');
    for (const bad of ['..', '../x', 'a/b', ''])
      expect(() => isoPath({ arch: 'amd64', id: bad, version: '1' })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
  });

  // Values from the manifest: quoted, cut and escaped in the message, which still names the field.
  it.each([
    [
      'a 1 MB id',
      { id: `u${'x'.repeat(1024 * 1024)}` },
      /^operatingSystems id "ux+"… \(1048577 characters\) cannot be part/,
    ],
    [
      'control characters in the version',
      { version: '1\u001b]0;pwned\u0007\r\n\u009b' },
      /^operatingSystems version "1\\u001b\]0;pwned\\u0007\\r\\n\\u009b" cannot be part/,
    ],
    [
      'a 1 MB checksum',
      { checksum: `sha256:${'f'.repeat(1024 * 1024)}` },
      /^ubuntu 22\.04 amd64: repository\.iso\.checksum: "sha256:f+"… \(1048583 characters\) is not a sha256 checksum$/,
    ],
    [
      'control characters in the checksum',
      { checksum: 'ab\u001b[2J\u0007\r\n\u009b' },
      /repository\.iso\.checksum: "ab\\u001b\[2J\\u0007\\r\\n\\u009b" is not/,
    ],
  ])('refuses %s with a short, escaped message', (_what, over, want) => {
    const { checksum, ...os } = over as { checksum?: string; id?: string; version?: string };
    const entry: Os = {
      arch: 'amd64',
      id: 'ubuntu',
      version: '22.04',
      ...os,
      repository: { iso: { url: 'https://x/y.iso', checksum: checksum ?? HEX } },
    };
    let message = '';
    try {
      planIso(entry);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(want);
    expect(message.length).toBeLessThan(500);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('refuses an ISO path part longer than a file name can be', () => {
    expect(() => isoPath({ arch: 'amd64', id: 'u'.repeat(256), version: '1' })).toThrow(
      /operatingSystems id "u+"… \(256 characters\)/,
    );
    expect(isoPath({ arch: 'amd64', id: 'u'.repeat(255), version: '1' })).toContain(`/${'u'.repeat(255)}/1/`);
  });

  it('takes url and localPath as kk does (url wins when fetching), and skips OSes without an ISO', () => {
    const os: Os = {
      arch: 'amd64',
      id: 'ubuntu',
      version: '22.04',
      repository: { iso: { url: 'https://x/y.iso', localPath: 'y.iso', checksum: HEX } },
    };
    expect(planIso(os, '/m')).toEqual({
      id: 'ubuntu',
      version: '22.04',
      arch: 'amd64',
      path: 'repository/amd64/ubuntu/22.04/ubuntu-22.04-amd64.iso',
      url: 'https://x/y.iso',
      localPath: 'y.iso',
      baseDir: '/m',
      checksum: `sha256:${HEX}`,
    });
    expect(planIso({ arch: 'amd64', id: 'ubuntu', version: '22.04' })).toBeUndefined();
    expect(
      planIso({ arch: 'amd64', id: 'ubuntu', version: '22.04', repository: { iso: { checksum: HEX } } }),
    ).toBeUndefined();
  });
});

const helm: BinaryItem = {
  id: 'helm',
  component: 'helm',
  version: 'v3.14.3',
  arch: 'arm64',
  path: 'helm/v3.14.3/arm64/helm',
  url: 'https://get.helm.sh/helm-v3.14.3-linux-arm64.tar.gz',
  sha256: HEX,
  extract: 'linux-arm64/helm',
};

describe('binary sources and checksums', () => {
  it('helm: the tarball by default; in the cn zone kk’s raw QingStor binary first', () => {
    expect(binaryCandidates(helm, { downloads: [] })).toEqual([
      { url: helm.url, via: 'upstream', skipTLSVerify: false, archive: true },
    ]);
    expect(binaryCandidates(helm, { zone: 'cn', downloads: [] }).map((c) => [c.url, c.archive])).toEqual([
      ['https://kubernetes-helm.pek3b.qingstor.com/linux-arm64/v3.14.3/helm', false],
      [helm.url, true],
    ]);
  });

  it('the dry-run plan lists the sources the fetch tries: helm in the cn zone starts at QingStor', () => {
    const policy = { zone: 'cn', downloads: [] };
    const iso = {
      id: 'ubuntu',
      version: '22.04',
      arch: 'amd64',
      path: 'repository/amd64/ubuntu/22.04/ubuntu-22.04-amd64.iso',
      url: 'https://x/y.iso',
    };
    const files = plannedFiles({ binaries: [helm], isos: [iso] }, policy);
    expect(files.binaries).toEqual([
      { path: helm.path, sha256: HEX, sources: binaryCandidates(helm, policy).map((c) => c.url) },
    ]);
    expect(files.binaries[0]?.sources[0]).toBe('https://kubernetes-helm.pek3b.qingstor.com/linux-arm64/v3.14.3/helm');
    expect(files.isos[0]?.sources).toEqual(['https://x/y.iso']);
  });

  it('a missing checksum names the version and the nearest known ones', () => {
    const known = Array.from({ length: 30 }, (_, i) => `v1.${i + 10}.0`);
    const item = { ...helm, id: 'kubeadm', component: 'kubeadm', version: 'v1.99.1', sha256: undefined };
    expect(() => binaryDigest(item, { checksumVersions: () => known })).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_VERSION',
        hint: expect.stringMatching(/nearest .*v1\.39\.0 \(30 in all, v1\.10\.0 … v1\.39\.0\)/),
      }),
    );
    expect(() => binaryDigest(item, { checksumVersions: () => ['v1.28.0'] })).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('v1.28.0') }),
    );
  });
});

describe('planDownloads', () => {
  const m = (checksum: string, binaries = true): KkManifest => ({
    apiVersion: 'kubekey.kubesphere.io/v1alpha2',
    kind: 'Manifest',
    metadata: { name: 't' },
    spec: {
      arches: ['amd64', 'arm64'],
      operatingSystems: [
        {
          arch: 'amd64',
          id: 'debian',
          version: '11',
          repository: { iso: { localPath: 'd.iso', ...(checksum ? { checksum } : {}) } },
        },
      ],
      ...(binaries ? { components: { helm: { version: 'v3.14.3' }, harbor: { version: 'v2.10.1' } } } : {}),
    },
  });

  it('one item per artifact path across manifests; localPath resolves against each manifest’s folder; checksums must agree', async () => {
    const catalog = await loadCatalog();
    const profile = catalog.profile('v3.1.9');
    const plan = planDownloads(catalog, profile, [{ manifest: m(''), file: '/a/m.yaml' }, m(HEX), m(HEX, false)]);
    expect(plan.binaries.map((b) => b.path)).toEqual([
      'helm/v3.14.3/amd64/helm',
      'registry/harbor/v2.10.1/amd64/harbor-offline-installer-v2.10.1.tgz',
      'helm/v3.14.3/arm64/helm',
    ]);
    expect(plan.isos).toEqual([expect.objectContaining({ baseDir: '/a', checksum: `sha256:${HEX}` })]);
    expect(() => planDownloads(catalog, profile, [m(HEX), m('cd'.repeat(32))])).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });
});

describe('distributions kko cannot package', () => {
  it('refuses k3s instead of writing an artifact without its binaries', async () => {
    const catalog = await loadCatalog();
    const manifest = {
      apiVersion: 'kubekey.kubesphere.io/v1alpha2',
      kind: 'Manifest',
      metadata: { name: 'k' },
      spec: { arches: ['amd64'], kubernetesDistributions: [{ type: 'k3s', version: 'v1.24.7' }] },
    } as const;
    expect(() => planDownloads(catalog, catalog.profile('v3.1.5'), [manifest as never])).toThrow(
      /type kubernetes only/,
    );
  });

  it('names a hostile type quoted, cut and escaped', async () => {
    const catalog = await loadCatalog();
    for (const type of [`k${'3'.repeat(1024 * 1024)}`, 'k3s\u001b]0;pwned\u0007\r\n\u009b']) {
      const manifest = {
        apiVersion: 'kubekey.kubesphere.io/v1alpha2',
        kind: 'Manifest',
        metadata: { name: 'k' },
        spec: { arches: ['amd64'], kubernetesDistributions: [{ type, version: type }] },
      } as const;
      let message = '';
      try {
        planDownloads(catalog, catalog.profile('v3.1.5'), [manifest as never]);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^kubernetesDistributions type "k.*: kko packages binaries for type kubernetes only$/);
      expect(message.length).toBeLessThan(500);
      // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
      expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
  });
});

describe('planManifestDownloads: the kk release is asked for only when binaries are planned', () => {
  const manifest = (spec: KkManifest['spec']): KkManifest => ({
    apiVersion: 'kubekey.kubesphere.io/v1alpha2',
    kind: 'Manifest',
    metadata: { name: 'x' },
    spec,
  });

  it('an images-only manifest plans nothing and never asks', async () => {
    const catalog = await loadCatalog();
    const asked: Array<string | undefined> = [];
    const r = await planManifestDownloads(
      catalog,
      [manifest({ arches: ['amd64'], images: ['docker.io/library/redis:7'] })],
      async (rec) => (asked.push(rec), 'v3.1.12'),
    );
    expect(asked).toEqual([]);
    expect(r).toEqual({ downloads: { binaries: [], isos: [] } });
  });

  it('binaries: the recorded version is handed to the picker and its profile plans them', async () => {
    const catalog = await loadCatalog();
    const asked: Array<string | undefined> = [];
    const m = manifest({
      arches: ['amd64'],
      components: { helm: { version: 'v3.14.3' } },
      kko: { kkVersion: 'v3.1.5' } as KkManifest['spec']['kko'],
    });
    const r = await planManifestDownloads(catalog, [m], async (rec) => (asked.push(rec), 'v3.1.5'));
    expect(asked).toEqual(['v3.1.5']);
    expect(r.profile?.version).toBe('v3.1.5');
    expect(r.downloads.binaries.map((b) => b.path)).toEqual(['helm/v3.14.3/amd64/helm']);
  });
});
