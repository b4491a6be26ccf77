import { describe, expect, it } from 'vitest';
import { parseLocalRegistry, renderNodeConfig, type LocalRegistry, type NodeConfigInput } from './index.js';

const IMAGES = [
  'quay.io/calico/cni:v3.27.3',
  'docker.io/kubesphere/pause:3.9',
  'docker.io/library/haproxy:2.9.6-alpine',
  'docker.io/kubesphere/pause:3.9',
];
// kk's own push names (mode 'kk') unless a test says otherwise.
const input = (
  registry: Partial<LocalRegistry> = {},
  overrideOnPush = false,
  images = IMAGES,
  mode: NodeConfigInput['mode'] = 'kk',
): NodeConfigInput => ({
  images,
  registry: { privateRegistry: '10.0.0.5:5000', plainHTTP: false, skipTLSVerify: false, ...registry },
  kk: { overrideOnPush, rewrite: !overrideOnPush },
  mode,
});
const file = (out: ReturnType<typeof renderNodeConfig>, path: string): string | undefined =>
  out.files.find((f) => f.path === path)?.text;
const codes = (out: ReturnType<typeof renderNodeConfig>): string[] => out.issues.map((i) => i.code);

describe('containerd hosts.toml', () => {
  it('renders one sorted file per upstream plus the registry itself, with the CA', () => {
    const out = renderNodeConfig(input({ caFile: '/etc/kko/ca.crt' }), 'containerd');
    expect(out.files.map((f) => f.path)).toEqual([
      '10.0.0.5:5000/hosts.toml',
      'docker.io/hosts.toml',
      'quay.io/hosts.toml',
    ]);
    expect(file(out, 'docker.io/hosts.toml')).toBe(
      '# Written by kko mirror render: pull docker.io images from 10.0.0.5:5000 first.\n' +
        'server = "https://registry-1.docker.io"\n\n' +
        '[host."https://10.0.0.5:5000"]\n  capabilities = ["pull", "resolve"]\n  ca = "/etc/kko/ca.crt"\n',
    );
    expect(file(out, 'quay.io/hosts.toml')).toContain('server = "https://quay.io"\n');
    expect(file(out, '10.0.0.5:5000/hosts.toml')).toBe(
      '# Written by kko mirror render: how to reach 10.0.0.5:5000 itself.\nserver = "https://10.0.0.5:5000"\n\n' +
        '[host."https://10.0.0.5:5000"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "/etc/kko/ca.crt"\n',
    );
    expect(out.issues).toEqual([]);
  });

  it('uses an http:// host for --plain-http (no ca, no skip_verify) and override_path for a registry path', () => {
    const out = renderNodeConfig(
      input({ privateRegistry: 'reg.local/ks', plainHTTP: true, skipTLSVerify: true, caFile: '/ca.crt' }),
      'containerd',
    );
    expect(file(out, 'docker.io/hosts.toml')).toBe(
      '# Written by kko mirror render: pull docker.io images from reg.local/ks first.\nserver = "https://registry-1.docker.io"\n\n' +
        '[host."http://reg.local/v2/ks"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n',
    );
    expect(file(out, 'reg.local/hosts.toml')).toContain('[host."http://reg.local"]\n');
  });

  it('writes skip_verify for an https registry', () => {
    expect(file(renderNodeConfig(input({ skipTLSVerify: true }), 'containerd'), 'quay.io/hosts.toml')).toContain(
      '  skip_verify = true\n',
    );
  });

  it('warns and leaves out an upstream whose images kk pushed into namespaceOverride (kk ≤ v3.1.6)', () => {
    const out = renderNodeConfig(input({ namespaceOverride: 'kubesphere' }, true), 'containerd');
    // docker.io/kubesphere/pause keeps its name; library/haproxy and calico/cni were flattened into kubesphere/.
    expect(out.files.map((f) => f.path)).toEqual(['10.0.0.5:5000/hosts.toml', 'docker.io/hosts.toml']);
    expect(codes(out)).toEqual(['NAMESPACE_REWRITE', 'NAMESPACE_REWRITE']);
    expect(out.issues[0]?.message).toContain(
      'docker.io/library/haproxy:2.9.6-alpine (pushed as 10.0.0.5:5000/kubesphere/haproxy:2.9.6-alpine, a mirror asks for 10.0.0.5:5000/library/haproxy:2.9.6-alpine)',
    );
    expect(out.issues[1]?.message).toMatch(/no hosts\.toml for quay\.io/);
  });

  it('has nothing to warn about when kk ignores namespaceOverride on push (v3.1.7+)', () => {
    const out = renderNodeConfig(input({ namespaceOverride: 'kubesphere' }, false), 'containerd');
    expect(out.issues).toEqual([]);
    expect(out.files).toHaveLength(3);
  });

  it("uses the names kko's push created (the pull names): namespaceOverride flattens at every kk release", () => {
    const out = renderNodeConfig(input({ namespaceOverride: 'kubesphere' }, false, IMAGES, 'pull'), 'containerd');
    expect(out.files.map((f) => f.path)).toEqual(['10.0.0.5:5000/hosts.toml', 'docker.io/hosts.toml']);
    expect(codes(out)).toEqual(['NAMESPACE_REWRITE', 'NAMESPACE_REWRITE']);
  });

  it('applies namespaceRewrite as the push did (kk v3.1.8+), and kk default namespaces in pull mode', () => {
    const rw = { policy: 'changePrefix', src: ['calico'], dest: 'mirror' };
    const out = renderNodeConfig(
      {
        ...input({ privateRegistry: 'reg.local', namespaceRewrite: rw }, false, IMAGES, 'pull'),
        kkRepository: (r) => (r.repository === 'kubesphereio/pause' ? 'docker.io/kubesphere/pause' : undefined),
      },
      'registries.conf',
    );
    const text = file(out, 'registries.conf') ?? '';
    expect(text).toContain('prefix = "quay.io/calico"');
    expect(text).toContain('location = "reg.local/mirror"');
    const cn = renderNodeConfig(
      {
        ...input(
          { privateRegistry: 'reg.local' },
          false,
          ['registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9'],
          'pull',
        ),
        kkRepository: () => 'docker.io/kubesphere/pause',
      },
      'registries.conf',
    );
    expect(file(cn, 'registries.conf')).toContain('location = "reg.local/kubesphere"');
  });

  it('warns when two upstreams are pushed to one name', () => {
    const out = renderNodeConfig(
      input({}, false, ['docker.io/calico/cni:v3.27.3', 'quay.io/calico/cni:v3.27.3']),
      'containerd',
    );
    expect(codes(out)).toEqual(['PUSH_COLLISION']);
  });
});

describe('docker daemon.json', () => {
  it('mirrors docker.io only, insecure for plain HTTP, and names what it cannot mirror', () => {
    const out = renderNodeConfig(input({ plainHTTP: true }), 'docker');
    expect(out.files).toEqual([
      {
        path: 'daemon.json',
        text: '{\n  "registry-mirrors": [\n    "http://10.0.0.5:5000"\n  ],\n  "insecure-registries": [\n    "10.0.0.5:5000"\n  ]\n}\n',
      },
    ]);
    expect(codes(out)).toEqual(['DOCKER_HUB_ONLY']);
    expect(out.issues[0]?.message).toContain('quay.io (1 image)');
    expect(out.issues[0]?.hint).toContain('10.0.0.5:5000/calico/cni:v3.27.3');
  });

  it('has no mirror for a registry path, and points the CA at /etc/docker/certs.d', () => {
    const out = renderNodeConfig(
      input({ privateRegistry: 'reg.local/ks', caFile: '/etc/kko/ca.crt' }, false, [
        'docker.io/library/haproxy:2.9.6-alpine',
      ]),
      'docker',
    );
    expect(file(out, 'daemon.json')).toBe('{}\n');
    expect(codes(out)).toEqual(['MIRROR_PATH', 'CA_FILE']);
    expect(out.issues[1]?.message).toContain('/etc/docker/certs.d/reg.local/ca.crt');
  });
});

describe('registries.conf', () => {
  it('renders one prefix rule per upstream', () => {
    const out = renderNodeConfig(input({ skipTLSVerify: true }), 'registries.conf');
    expect(file(out, 'registries.conf')).toBe(
      "# Written by kko mirror render: pull these registries' images from 10.0.0.5:5000 first.\n\n" +
        '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n\n[[registry.mirror]]\nlocation = "10.0.0.5:5000"\ninsecure = true\n\n' +
        '[[registry]]\nprefix = "quay.io"\nlocation = "quay.io"\n\n[[registry.mirror]]\nlocation = "10.0.0.5:5000"\ninsecure = true\n',
    );
    expect(out.issues).toEqual([]);
  });

  it('expresses namespaceOverride with one rule per namespace', () => {
    const out = renderNodeConfig(
      input({ privateRegistry: 'reg.local/ks', namespaceOverride: 'kubesphereio' }, true),
      'registries.conf',
    );
    const text = file(out, 'registries.conf') ?? '';
    expect(text.match(/^prefix = .*$/gm)).toEqual([
      'prefix = "docker.io/kubesphere"',
      'prefix = "docker.io/library"',
      'prefix = "quay.io/calico"',
    ]);
    expect(text.match(/^location = "reg.*$/gm)).toEqual(Array(3).fill('location = "reg.local/ks/kubesphereio"'));
    expect(text).not.toContain('insecure');
    expect(out.issues).toEqual([]);
  });
});

describe('kk registry block', () => {
  it('renders privateRegistry, mirrors, insecure registries and an auths entry with certsPath', () => {
    const out = renderNodeConfig(
      input({ caFile: '/etc/docker/certs.d/10.0.0.5:5000/ca.crt', namespaceOverride: 'kubesphereio' }),
      'kk',
    );
    expect(file(out, 'registry.yaml')).toBe(
      [
        '# Written by kko mirror render: the registry block of a kk Cluster config (under spec:).',
        'registry:',
        '  privateRegistry: "10.0.0.5:5000"',
        '  namespaceOverride: "kubesphereio"',
        '  registryMirrors: ["https://10.0.0.5:5000"]',
        '  insecureRegistries: []',
        '  auths:',
        '    "10.0.0.5:5000":',
        '      # username: <user>    (add when the registry needs a login)',
        '      # password: <password>',
        '      skipTLSVerify: false',
        '      plainHTTP: false',
        '      certsPath: "/etc/docker/certs.d/10.0.0.5:5000"',
        '',
      ].join('\n'),
    );
    expect(out.issues).toEqual([]);
  });

  it('keys auths by the host part of a registry with a path and leaves registryMirrors empty', () => {
    const text =
      file(renderNodeConfig(input({ privateRegistry: 'reg.local/ks', plainHTTP: true }), 'kk'), 'registry.yaml') ?? '';
    expect(text).toContain('  registryMirrors: []\n  insecureRegistries: ["reg.local"]\n  auths:\n    "reg.local":\n');
    expect(text).toContain('      skipTLSVerify: true\n      plainHTTP: true\n');
  });

  it('warns that kk ignores a CA file not named *.crt', () => {
    expect(codes(renderNodeConfig(input({ caFile: '/etc/ssl/ca.pem' }), 'kk'))).toEqual(['CA_FILE']);
  });
});

describe('input checks', () => {
  it.each([
    ['https://reg.local', /no scheme/],
    ['reg', /not a registry host/],
    ['reg.local//x', /not a registry host and path/],
    ['Reg.local/UPPER', /not a registry host and path/],
  ])('refuses registry %s', (raw, message) => {
    expect(() => parseLocalRegistry(raw)).toThrow(message);
    expect(() => renderNodeConfig(input({ privateRegistry: raw }), 'kk')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });

  it('splits host and path', () => {
    expect(parseLocalRegistry('10.0.0.5:5000/a/b/')).toEqual({ host: '10.0.0.5:5000', path: 'a/b' });
  });

  it.each([[{ caFile: 'ca.crt' }], [{ caFile: '/etc/ca\n.crt' }], [{ namespaceOverride: 'Bad NS' }]])(
    'refuses %j with INVALID_INPUT and no raw control characters',
    (reg) => {
      let err: unknown;
      try {
        renderNodeConfig(input(reg), 'containerd');
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_INPUT' });
      expect((err as Error).message).not.toMatch(/\n/);
    },
  );

  it('refuses a manifest without images', () => {
    expect(() => renderNodeConfig(input({}, false, []), 'docker')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });

  it('is deterministic whatever the image order', () => {
    for (const format of ['containerd', 'docker', 'registries.conf', 'kk'] as const) {
      expect(renderNodeConfig(input({}, false, [...IMAGES].reverse()), format)).toEqual(
        renderNodeConfig(input(), format),
      );
    }
  });
});
