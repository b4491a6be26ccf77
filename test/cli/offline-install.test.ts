import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRecorder } from '../support/loaded-modules.js';
import { runCli, tempDir } from './run-cli.js';

// The npm tarball carried across the air gap: `npm pack` bundles the runtime dependencies, so
// `npm install -g --offline ./kko-<version>.tgz` works with an empty npm cache and no registry (here: a dead
// loopback port), and builds nothing (no TypeScript on the host).
const execP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  bundleDependencies: string[];
};

let work: { dir: string; cleanup: () => Promise<void> };
let tarball: string;
let prefix: string;

// npm with nothing of this machine's: a fresh cache, no user config, a registry nobody listens on.
function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: work.dir,
    npm_config_cache: join(work.dir, 'npm-cache'),
    npm_config_userconfig: join(work.dir, 'npmrc'),
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  return execP('npm', args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }).catch((err: unknown) => {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('npm is not on PATH (the offline-install test runs the real npm)');
    throw new Error(`npm ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}`);
  });
}

beforeAll(async () => {
  work = await tempDir('kko-offline-install-');
  // dist/ is fresh (test/global-setup.ts builds it); --ignore-scripts skips prepack's rebuild under running tests
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work.dir], ROOT);
  const [info] = JSON.parse(packed.stdout) as Array<{
    filename: string;
    bundled: string[];
    files: Array<{ path: string }>;
  }>;
  expect(info?.bundled.sort()).toEqual(Object.keys(pkg.dependencies).sort());
  expect(info?.files.some((f) => f.path.startsWith('dist/standalone/'))).toBe(false); // the 100 MB executable stays out
  tarball = join(work.dir, info?.filename ?? '');
  prefix = join(work.dir, 'prefix');
  await npm(['install', '-g', '--offline', '--ignore-scripts', '--prefix', prefix, tarball], work.dir); // the README's command
}, 180_000);

afterAll(async () => work?.cleanup());

describe('npm install -g --offline of the packed tarball', () => {
  it('declares every runtime dependency bundled', () => {
    expect(pkg.bundleDependencies.sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it('installs the bundled dependencies only, and nothing is built (no src/, no install scripts)', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'kko');
    const deps = (await readdir(join(installed, 'node_modules'))).filter((d) => !d.startsWith('.'));
    expect(deps.sort()).toEqual(
      [...new Set(Object.keys(pkg.dependencies).map((d) => d.split('/')[0] as string))].sort(),
    );
    expect(deps).not.toContain('typescript');
    expect(await readdir(join(installed, 'dist'))).toContain('catalog.bundle.json');
    expect(await readdir(installed)).not.toContain('src');
    const scripts = (
      JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    expect(Object.keys(scripts).filter((s) => /^(pre|post)?install$/.test(s))).toEqual([]);
  });

  it('the installed kko runs: --version, and manifest create writes what the checkout writes', async () => {
    const bin = join(prefix, 'bin', 'kko');
    const env = { PATH: dirname(process.execPath) };
    expect((await execP(bin, ['--version'], { env, cwd: work.dir })).stdout).toBe(`${pkg.version}\n`);
    const args = ['manifest', 'create', '--with-kubernetes', 'v1.28.12', '--kk-version', 'v3.1.12'];
    const created = await execP(bin, args, { env, cwd: work.dir });
    expect(created.stdout).toBe((await runCli(args)).stdout);
  });

  it('the installed kko runs the CLI bundle (no src/ there; npm install gives the files the time they were unpacked, which says nothing)', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'kko');
    const loadedBy = await loadRecorder(work.dir);
    const { stdout, loaded } = await loadedBy(join(installed, 'bin', 'kko.js'), ['--version']);
    expect(stdout).toBe(`${pkg.version}\n`);
    expect(loaded).toContain(pathToFileURL(join(installed, 'dist', 'bundle', 'kko.mjs')).href);
  });
});
