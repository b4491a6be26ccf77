import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { VERSION } from '../../src/version.js';
import { fixtureSet, pushImage, pushIndex } from '../support/builders.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tempDir, type CliRun } from './run-cli.js';

// The standalone executable (scripts/build-standalone.js, a Node single executable application) on a host
// without Node: built fresh into a temp dir, moved away from the repository, run with an empty environment and a
// PATH without node. Its output is the one of `node bin/kko.js`, whose catalog and codecs come from the package.
const execP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'kko.js');
const NO_NODE = { PATH: '/nonexistent' };

let work: { dir: string; cleanup: () => Promise<void> };
let exe: string;
let host: string; // a folder outside the repository, the "offline host"
let reg: TestRegistry;

async function exec(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliRun> {
  try {
    const { stdout, stderr } = await execP(file, args, {
      cwd: opts.cwd ?? host,
      env: opts.env ?? NO_NODE,
      maxBuffer: 32 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err; // could not start at all
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
const standalone = (args: string[]): Promise<CliRun> => exec(exe, args);
const packaged = (args: string[]): Promise<CliRun> => exec(process.execPath, [BIN, ...args], { env: { PATH: '' } });

beforeAll(async () => {
  work = await tempDir('kko-standalone-');
  const built = await execP(process.execPath, [join(ROOT, 'scripts', 'build-standalone.js'), join(work.dir, 'build')], {
    cwd: ROOT,
  });
  expect(built.stdout).toMatch(/kko: kko \d+\.\d+\.\d+, Node v\d+/);
  host = join(work.dir, 'host');
  await mkdir(host);
  exe = join(host, 'kko');
  await copyFile(join(work.dir, 'build', 'kko'), exe);
  await execP('chmod', ['755', exe]);
  reg = await startRegistry({ mode: 'plain' });
  const fx = fixtureSet({ baseSize: 96 * 1024, layerSize: 32 * 1024 });
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await pushImage(c, 'kubesphere/kube-apiserver', 'v1.28.12', fx.apiserver);
  await c.close();
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  await work?.cleanup();
});

describe('the standalone executable (no node on PATH, empty environment)', () => {
  it('--version prints the version; an unknown command is exit 2', async () => {
    expect(await standalone(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const bad = await standalone(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe((await packaged(['frobnicate'])).stderr);
  });

  it('manifest create: the embedded catalog writes the same manifest byte for byte', async () => {
    for (const args of [
      ['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--kk-version', 'v3.1.12'],
      [
        'manifest',
        'create',
        '--with-kubernetes',
        'v1.26.15',
        '--kk-version',
        'v3.1.9',
        '--zone',
        'cn',
        '--with-kubesphere',
        '--ks-components',
        'core,devops',
        '--arch',
        'amd64,arm64',
      ],
    ]) {
      const [a, b] = [await standalone(args), await packaged(args)];
      expect(a.code).toBe(0);
      expect(a.stdout).toContain('kind: Manifest');
      expect(a).toEqual(b);
    }
    // `kko version` lists every kk profile of the catalog: the embedded one is complete
    expect(await standalone(['version', '--json'])).toEqual(await packaged(['version', '--json']));
  });

  it('exports a .tar.zst (zstd WebAssembly) from a registry and verifies it (fzstd), as the packaged CLI does', async () => {
    const m = [
      'apiVersion: kubekey.kubesphere.io/v1alpha2',
      'kind: Manifest',
      'metadata: {name: t}',
      'spec:',
      '  arches: [amd64]',
      '  images:',
    ];
    await writeFile(
      join(host, 'm.yaml'),
      [...m, '  - docker.io/kubesphere/pause:3.9', '  - docker.io/kubesphere/kube-apiserver:v1.28.12', ''].join('\n'),
    );
    const mirrors = [
      'apiVersion: kko.io/v1alpha1',
      'kind: MirrorPolicy',
      'registries:',
      '- prefix: docker.io',
      '  mirrors:',
      `  - {location: ${reg.host}, plainHTTP: true}`,
      '  upstream: false',
      '',
    ];
    await writeFile(join(host, 'mirrors.yaml'), mirrors.join('\n'));
    const exportArgs = (out: string, cache: string) => [
      'artifact',
      'export',
      '-m',
      'm.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '--cache',
      cache,
      '--compress',
      'zstd',
      '-o',
      out,
    ];
    const exported = await standalone(exportArgs('sea.tar.zst', 'cache-sea'));
    expect(exported.stderr).not.toMatch(/error/);
    expect(exported.code).toBe(0);
    // GNU tar + zstd read it; the packaged CLI writes the same bytes (deterministic output, same codec)
    const listed = await execP('tar', ['--zstd', '-tf', 'sea.tar.zst'], { cwd: host });
    expect(listed.stdout).toContain('images/index.json');
    expect((await packaged(exportArgs('node.tar.zst', 'cache-node'))).code).toBe(0);
    expect((await readFile(join(host, 'sea.tar.zst'))).equals(await readFile(join(host, 'node.tar.zst')))).toBe(true);

    const verified = await standalone(['artifact', 'verify', 'sea.tar.zst', '--json']);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, compression: 'zstd' });
    expect(verified).toEqual(await packaged(['artifact', 'verify', 'sea.tar.zst', '--json']));
  });

  it('verify refuses a .tar.zst with a flipped byte: exit 2 and the message of the packaged CLI', async () => {
    const bytes = await readFile(join(host, 'sea.tar.zst'));
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 0xff;
    await writeFile(join(host, 'bad.tar.zst'), bytes);
    const [a, b] = [
      await standalone(['artifact', 'verify', 'bad.tar.zst']),
      await packaged(['artifact', 'verify', 'bad.tar.zst']),
    ];
    expect(a.code).toBe(2); // a corrupt archive is invalid input
    expect(a.stderr).toMatch(/^error: /m);
    expect(a).toEqual(b);
  });
});
