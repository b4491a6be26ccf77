import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let manifest: string;
const IMAGES = [
  'docker.io/kubesphere/pause:3.9',
  'docker.io/library/haproxy:2.9.6-alpine',
  'quay.io/calico/cni:v3.27.3',
];

beforeAll(async () => {
  tmp = await tempDir('kko-cli-render-');
  manifest = join(tmp.dir, 'manifest.yaml');
  await writeFile(
    manifest,
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata:\n  name: s\nspec:\n  arches: [amd64]\n  images:\n${IMAGES.map((i) => `  - ${i}\n`).join('')}`,
  );
});
afterAll(async () => tmp.cleanup());

const render = (...args: string[]) => runCli(['mirror', 'render', '-m', manifest, ...args]);

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('kko mirror render', () => {
  it('prints daemon.json to stdout and the docker.io-only warning to stderr', async () => {
    const r = await render('--registry', '10.0.0.5:5000', '--format', 'docker', '--plain-http');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      'registry-mirrors': ['http://10.0.0.5:5000'],
      'insecure-registries': ['10.0.0.5:5000'],
    });
    expect(r.stderr).toMatch(
      /warning: docker's registry-mirrors serve only docker.io; not mirrored: quay.io \(1 image\)/,
    );
  });

  it('prints every containerd file to stdout under a header', async () => {
    const r = await render('--registry', '10.0.0.5:5000', '--format', 'containerd');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^# --- .*$/gm)).toEqual([
      '# --- 10.0.0.5:5000/hosts.toml',
      '# --- docker.io/hosts.toml',
      '# --- quay.io/hosts.toml',
    ]);
  });

  it('writes DIR/<upstream>/hosts.toml, refuses to overwrite any file without --force, then overwrites with it', async () => {
    const out = join(tmp.dir, 'certs.d');
    await mkdir(join(out, 'quay.io'), { recursive: true });
    await writeFile(join(out, 'quay.io', 'hosts.toml'), 'mine\n');
    const refused = await render('--registry', '10.0.0.5:5000', '--format', 'containerd', '-o', out);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/quay\.io\/hosts\.toml: file exists/);
    expect(await listTree(out)).toEqual(['quay.io/hosts.toml']); // nothing written when one target exists
    const forced = await render('--registry', '10.0.0.5:5000', '--format', 'containerd', '-o', out, '--force');
    expect(forced.code).toBe(0);
    expect(await listTree(out)).toEqual(['10.0.0.5:5000/hosts.toml', 'docker.io/hosts.toml', 'quay.io/hosts.toml']);
    expect(await readFile(join(out, 'quay.io', 'hosts.toml'), 'utf8')).toContain('[host."https://10.0.0.5:5000"]');
  });

  it('takes privateRegistry, namespaceOverride and auths from a kk Cluster config (-f)', async () => {
    const cluster = join(tmp.dir, 'cluster.yaml');
    await writeFile(
      cluster,
      [
        'apiVersion: kubekey.kubesphere.io/v1alpha2',
        'kind: Cluster',
        'metadata: {name: c}',
        'spec:',
        '  registry:',
        '    privateRegistry: dockerhub.kubekey.local',
        '    namespaceOverride: kubesphereio',
        '    auths:',
        '      dockerhub.kubekey.local: {skipTLSVerify: true, certsPath: /etc/docker/certs.d/dockerhub.kubekey.local}',
        '',
      ].join('\n'),
    );
    const r = await render('-f', cluster, '--format', 'containerd', '--kk-version', 'v3.1.5');
    expect(r.code).toBe(0);
    // kk v3.1.5 pushed every image into kubesphereio/, which no manifest image lives in: no upstream is mirrorable.
    expect(r.stderr).toMatch(
      /warning: containerd can only prefix a path, not rewrite namespaces: no hosts.toml for docker.io/,
    );
    expect(r.stdout.match(/^# --- .*$/gm)).toBeNull(); // one file left: the registry's own hosts.toml
    // kko's push (the names nodes pull) flattens into kubesphereio/ at every release: the same warning
    const kko = await render('-f', cluster, '--format', 'containerd', '--kk-version', 'v3.1.8');
    expect(kko.code).toBe(0);
    expect(kko.stderr).toMatch(/no hosts.toml for docker.io/);
    // kk v3.1.8's own push keeps each image's namespace: every upstream is a prefix mirror
    const newer = await render('-f', cluster, '--format', 'containerd', '--kk-version', 'v3.1.8', '--kk-push-names');
    expect(newer.stderr).not.toMatch(/namespaces/);
    expect(newer.stdout).toContain('# --- quay.io/hosts.toml');
    expect(newer.stdout).toContain(
      '[host."https://dockerhub.kubekey.local"]\n  capabilities = ["pull", "resolve"]\n  ca = "/etc/docker/certs.d/dockerhub.kubekey.local/ca.crt"\n  skip_verify = true\n',
    );
  });

  it.each([
    [['--format', 'docker'], /no registry/],
    [['--registry', 'r.local', '--format', 'cri-o'], /unknown --format/],
    [['--registry', 'r.local'], /missing --format/],
    [['--registry', 'http://r.local', '--format', 'kk'], /no scheme/],
    [['--registry', 'r.local', '--format', 'kk', '--ca', 'relative.crt'], /absolute path/],
  ])('exits 2 on bad input %j', async (args, message) => {
    const r = await render(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
