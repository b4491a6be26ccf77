import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

type Run = { code: number; stdout: string; stderr: string };

async function run(argv: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Promise<Run> {
  const out = { stdout: '', stderr: '' };
  const io: CliIo = {
    stdout: (t) => void (out.stdout += t),
    stderr: (t) => void (out.stderr += t),
    env,
    cwd,
    isTTY: false,
  };
  const code = await main(argv, io);
  return { code, ...out };
}

async function json(argv: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Record<string, unknown>> {
  const r = await run([...argv, '--json'], env, cwd);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

let dir: string;
const HEAD = 'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\n';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-cli-mirror-'));
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `${HEAD}zone: cn\nregistries:\n- prefix: docker.io/library\n  mirrors:\n  - location: 127.0.0.1:5000/hub\n    plainHTTP: true\n  upstream: false\n- prefix: ghcr.io\n  mirrors: [{location: d.local, pullFrom: digest-only}]\n  upstream: false\ndownloads:\n- prefix: https://dl.k8s.io/\n  mirrors: [{location: http://127.0.0.1:8080/dl.k8s.io/}]\n`,
  );
  await writeFile(join(dir, 'bad.yaml'), `${HEAD}registries:\n- prefix: docker.io\n  mirror: []\n  upstream: maybe\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kko mirror list', () => {
  it.each([
    [[], {}, 'default', { zone: 'default', configFile: 'default' }, 0],
    [[], { KKZONE: 'cn' }, 'cn', { zone: 'env', configFile: 'default' }, 4],
    [['--zone', 'default'], { KKZONE: 'cn' }, 'default', { zone: 'flag', configFile: 'default' }, 0],
    [['--mirror-config', 'mirrors.yaml'], {}, 'cn', { zone: 'file', configFile: 'flag' }, 5],
    [[], { KKO_MIRROR_CONFIG: 'mirrors.yaml' }, 'cn', { zone: 'file', configFile: 'env' }, 5],
    [['--zone', 'default'], { KKO_MIRROR_CONFIG: 'mirrors.yaml' }, 'default', { zone: 'flag', configFile: 'env' }, 2],
  ])('%j with env %j → zone %s', async (args, env, zone, sources, registries) => {
    const p = await json(['mirror', 'list', ...args], env, dir);
    expect(p).toMatchObject({ zone, sources });
    expect(p.registries).toHaveLength(registries);
  });

  it('records the config file path, resolved against the cwd', async () => {
    const p = await json(['mirror', 'list', '--mirror-config', 'mirrors.yaml'], {}, dir);
    expect(p.configFile).toBe(join(dir, 'mirrors.yaml'));
    expect((p.registries as { prefix: string; origin: string }[]).map((r) => `${r.origin}:${r.prefix}`)).toEqual([
      'file:docker.io/library',
      'file:ghcr.io',
      'zone:docker.io',
      'zone:quay.io',
      'zone:registry.k8s.io',
    ]);
  });

  it('prints aligned text with the zone, its reason and the fallback order', async () => {
    const r = await run(['mirror', 'list'], { KKZONE: 'cn' });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^zone:\s+cn \(KKZONE env\)$/);
    const header = lines.find((l) => l.startsWith('PREFIX') && l.includes('REWRITE')) ?? '';
    const row = lines.find((l) => l.startsWith('docker.io ')) ?? '';
    expect(row.indexOf('registry.cn-beijing.aliyuncs.com/kubesphereio')).toBe(header.indexOf('SOURCE'));
    expect(row.indexOf('flatten')).toBe(header.indexOf('REWRITE'));
    expect(lines[lines.indexOf(row) + 1]).toMatch(/^\s+2\s+docker\.io \(upstream\)/);
    expect(r.stdout).toContain('https://kubernetes-release.pek3b.qingstor.com/release/');
  });
});

describe('kko mirror resolve', () => {
  it.each([
    [
      ['redis:7', '--zone', 'cn'],
      {},
      ['mirror:registry.cn-beijing.aliyuncs.com/kubesphereio/redis:7', 'upstream:docker.io/library/redis:7'],
    ],
    [['redis:7'], {}, ['upstream:docker.io/library/redis:7']],
    [['redis:7', '--mirror-config', 'mirrors.yaml'], {}, ['mirror:127.0.0.1:5000/hub/redis:7']],
    [
      ['quay.io/calico/node:v3.27.4'],
      { KKZONE: 'cn' },
      ['mirror:registry.cn-beijing.aliyuncs.com/kubesphereio/node:v3.27.4', 'upstream:quay.io/calico/node:v3.27.4'],
    ],
  ])('%j with env %j', async (args, env, expected) => {
    const r = await json(['mirror', 'resolve', ...args], env, dir);
    expect(r.kind).toBe('image');
    expect((r.sources as { via: string; image: string }[]).map((s) => `${s.via}:${s.image}`)).toEqual(expected);
  });

  it('passes endpoint TLS settings through', async () => {
    const r = await json(['mirror', 'resolve', 'redis:7', '--mirror-config', 'mirrors.yaml'], {}, dir);
    expect(r.sources).toEqual([
      expect.objectContaining({
        registry: '127.0.0.1:5000',
        repository: 'hub/redis',
        plainHTTP: true,
        skipTLSVerify: false,
        via: 'mirror',
        rule: 'docker.io/library',
      }),
    ]);
  });

  it.each([
    [
      ['--zone', 'cn'],
      [
        'mirror:https://kubernetes-release.pek3b.qingstor.com/release/v1.30.0/bin/linux/amd64/kubeadm',
        'upstream:https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm',
      ],
    ],
    [
      ['--zone', 'cn', '--mirror-config', 'mirrors.yaml'],
      [
        'mirror:http://127.0.0.1:8080/dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm',
        'upstream:https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm',
      ],
    ],
    [[], ['upstream:https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm']],
  ])('a URL with %j', async (args, expected) => {
    const r = await json(
      ['mirror', 'resolve', 'https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubeadm', ...args],
      {},
      dir,
    );
    expect(r.kind).toBe('download');
    expect((r.sources as { via: string; url: string }[]).map((s) => `${s.via}:${s.url}`)).toEqual(expected);
  });

  it('prints a numbered, aligned table', async () => {
    const r = await run(['mirror', 'resolve', 'calico/cni:v3.27.4', '--zone', 'cn']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('image docker.io/calico/cni:v3.27.4 (zone cn: --zone flag)');
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 3))).toEqual([
      ['#', 'VIA', 'SOURCE'],
      ['1', 'mirror', 'registry.cn-beijing.aliyuncs.com/kubesphereio/cni:v3.27.4'],
      ['2', 'upstream', 'docker.io/calico/cni:v3.27.4'],
    ]);
  });
});

describe('kko mirror errors and help', () => {
  it.each([
    ['KKZONE=bogus', ['mirror', 'list'], { KKZONE: 'bogus' }, 2, /KKZONE/],
    ['--zone bogus', ['mirror', 'resolve', 'redis', '--zone', 'bogus'], {}, 2, /--zone/],
    ['missing config', ['mirror', 'list', '--mirror-config', 'nope.yaml'], {}, 2, /no such file/],
    ['config is a directory', ['mirror', 'list'], { KKO_MIRROR_CONFIG: '.' }, 2, /directory/],
    ['bad image reference', ['mirror', 'resolve', 'Bad/Ref:x'], {}, 2, /invalid image reference/],
    [
      'no source left',
      ['mirror', 'resolve', 'ghcr.io/a/b:1', '--mirror-config', 'mirrors.yaml'],
      {},
      1,
      /no mirror serves/,
    ],
    ['missing argument', ['mirror', 'resolve'], {}, 2, /missing required argument/],
  ])('%s', async (_name, argv, env, code, stderr) => {
    const r = await run(argv, env, dir);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(stderr);
    expect(r.stdout).toBe('');
  });

  it('a bad config reports every issue as file:line:col', async () => {
    const r = await run(['mirror', 'list', '--mirror-config', 'bad.yaml'], {}, dir);
    expect(r.code).toBe(2);
    const file = join(dir, 'bad.yaml');
    expect(r.stderr).toContain(`${file}:5:3: error: registries[0].mirror:`);
    expect(r.stderr).toContain(`${file}:6:13: error: registries[0].upstream:`);
  });

  it.each([['list'], ['resolve']])('mirror %s --help shows examples', async (sub) => {
    const r = await run(['mirror', sub, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`kko mirror ${sub}`);
    expect(r.stdout).toContain('--mirror-config');
  });
});
