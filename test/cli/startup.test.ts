import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, realpath, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSet } from '../support/builders.js';
import { exportArgs, manifestYaml } from '../support/cli-args.js';
import { seedFixtureSource } from '../support/fixture-source.js';
import { loadRecorder, type LoadRecorder } from '../support/loaded-modules.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { VERSION } from '../../src/version.js';
import { tempDir } from './run-cli.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'kko.js');

// #10: the command definitions (src/cli/commands) are cheap and every action loads what it needs when it runs
// (src/cli/actions, through import()). bin/kko.js runs the CLI bundled (dist/bundle/, scripts/build-bundle.js) while
// that bundle is fresh, else dist/cli/main.js. Each run records the modules it loads (test/support/loaded-modules.ts).

// What costs start-up (zod with its locales, undici, yaml: ~0.2 s together) and the library modules behind actions;
// the definitions may name the few constants their option texts show (choices, zones, node-config formats).
const HEAVY =
  /\/node_modules\/(zod|undici|yaml|bcryptjs|fzstd|@bokuweb)\/|\/dist\/(?!cli\/(?!actions\/)|util\/|errors|version|log|catalog\/choices|mirror\/zones|node-config\/types)/;
describe('CLI start-up (#10)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let distMain: string; // runs dist/cli/main.js as bin/kko.js runs the bundle
  let loadedBy: LoadRecorder;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('kko-startup-'));
    loadedBy = await loadRecorder(dir);
    distMain = join(dir, 'dist-main.mjs');
    await writeFile(
      distMain,
      `const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/cli/main.js')).href)});\nprocess.exitCode = await main(process.argv.slice(2));\n`,
    );
  });
  afterAll(async () => cleanup());

  const runners = [
    ['bin/kko.js (the bundle)', () => BIN],
    ['dist/cli/main.js', () => distMain],
  ] as const;

  it('bin/kko.js runs the bundle (npm run build and the tests’ global setup build it with dist/)', async () => {
    const { stdout, loaded } = await loadedBy(BIN, ['--version']);
    expect(stdout).toBe(`${VERSION}\n`);
    expect(loaded).toContain(pathToFileURL(join(ROOT, 'dist/bundle/kko.mjs')).href);
    expect(loaded.filter((u) => u.includes('/dist/cli/'))).toEqual([]);
  });

  it.each(runners)(
    '%s: --version, --help and a command’s --help load no schema, HTTP, YAML or library module',
    async (_, script) => {
      for (const args of [
        ['--version'],
        ['--help'],
        ['artifact', 'export', '--help'],
        ['manifest', 'create', '--help'],
      ]) {
        const { stdout, modules } = await loadedBy(script(), args);
        expect(stdout.length, args.join(' ')).toBeGreaterThan(0);
        expect(modules.length, args.join(' ')).toBeGreaterThan(5); // the hook saw the CLI load
        expect(
          modules.filter((u) => HEAVY.test(u)),
          args.join(' '),
        ).toEqual([]);
      }
    },
  );

  it('--help still lists every option of a command whose action is loaded lazily', async () => {
    const { stdout } = await loadedBy(BIN, ['artifact', 'export', '--help']);
    for (const flag of ['--manifest', '--mirror-config', '--concurrency', '--with-referrers', '--split-size', '--base'])
      expect(stdout).toContain(flag);
  });

  it.each(runners)('%s: an action loads its modules when it runs', async (_, script) => {
    const { stdout, modules } = await loadedBy(script(), ['version', '--json']);
    expect(JSON.parse(stdout)).toHaveProperty('kk');
    expect(modules.some((u) => u.endsWith('/dist/cli/actions/version.js'))).toBe(true);
    expect(modules.some((u) => u.includes('/dist/catalog/'))).toBe(true);
  });

  it.each(runners)('%s: an export --dry-run contacts no host and loads no HTTP client', async (_, script) => {
    await writeFile(join(dir, 'dry.yaml'), manifestYaml(['docker.io/kubesphere/pause:3.9']));
    const r = await loadedBy(script(), ['artifact', 'export', '-m', 'dry.yaml', '--dry-run', '-o', 'dry.tar']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('kubesphere/pause:3.9');
    expect(r.modules.some((u) => u.includes('/node_modules/zod/'))).toBe(true); // the action did load
    expect(r.modules.filter((u) => u.includes('/node_modules/undici/'))).toEqual([]);
  });

  it('an internal error’s stack trace names the dist/ files, not the bundle’s chunks', async () => {
    // A stdout that throws a TypeError, as a bug would: exit 70 and the stack (src/cli/stack.ts maps the frames).
    const script = join(dir, 'internal-error.mjs');
    await writeFile(
      script,
      `const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/bundle/kko.mjs')).href)});
let err = '';
const io = { stdout: () => { throw new TypeError('boom'); }, stderr: (t) => { err += t; }, env: { PATH: '' }, cwd: process.cwd(), isTTY: false };
const code = await main(['manifest', 'create', '--with-kubernetes', 'v1.28.12'], io);
process.stdout.write(JSON.stringify({ code, err }));
`,
    );
    const { code, err } = JSON.parse((await run(process.execPath, [script])).stdout) as { code: number; err: string };
    expect(code).toBe(70);
    expect(err).toContain('internal error (please report): TypeError: boom');
    expect(err).toMatch(/dist\/cli\/actions\/manifest-create\.js:\d+:\d+\)/);
    expect(err).toMatch(/dist\/cli\/main\.js:\d+:\d+\)/);
    expect(err).not.toContain('/dist/bundle/');
  });

  // A copy of the built package in `pkg` with its files' times kept, and a src/ (a checkout: bin/kko.js compares the
  // bundle's inputs' times only there). `modulesIn`/node_modules/: a link to each package of the checkout's, but
  // bcryptjs (bundled) a copy, to be touched.
  async function copyPackage(pkg: string, modulesIn: string): Promise<void> {
    await mkdir(pkg, { recursive: true });
    for (const part of ['bin', 'dist', 'catalog', 'scripts', 'package.json'])
      await cp(join(ROOT, part), join(pkg, part), {
        recursive: true,
        preserveTimestamps: true,
        filter: (src) => !src.startsWith(join(ROOT, 'dist', 'standalone')),
      });
    const modules = await realpath(join(ROOT, 'node_modules'));
    await mkdir(join(modulesIn, 'node_modules'));
    for (const name of await readdir(modules))
      if (name === 'bcryptjs')
        await cp(join(modules, name), join(modulesIn, 'node_modules', name), {
          recursive: true,
          preserveTimestamps: true,
        });
      else await symlink(join(modules, name), join(modulesIn, 'node_modules', name));
    await mkdir(join(pkg, 'src'));
  }

  describe('a copy of the built package, the files’ times kept (as npm leaves them)', () => {
    let pkg: string;
    let bin: string;
    beforeAll(async () => {
      pkg = join(dir, 'pkg');
      await copyPackage(pkg, pkg);
      bin = join(pkg, 'bin', 'kko.js');
    });

    it('bin/kko.js falls back to dist/cli/main.js once a file the bundle was made from is newer (tsc alone)', async () => {
      const bundleEntry = pathToFileURL(join(pkg, 'dist/bundle/kko.mjs')).href;
      const fresh = await loadedBy(bin, ['--version']);
      expect(fresh.stdout).toBe(`${VERSION}\n`);
      expect(fresh.loaded).toContain(bundleEntry);

      // What tsc does: dist/version.js rewritten (a new version, a new mtime); the bundle still has the old one.
      const versionJs = join(pkg, 'dist', 'version.js');
      const text = await readFile(versionJs, 'utf8');
      expect(text).toContain(`'${VERSION}'`);
      await writeFile(versionJs, text.replace(`'${VERSION}'`, "'9.9.9-stale'"));
      const stale = await loadedBy(bin, ['--version']);
      expect(stale.stdout).toBe('9.9.9-stale\n');
      expect(stale.loaded).toContain(pathToFileURL(join(pkg, 'dist/cli/main.js')).href);
      expect(stale.loaded).not.toContain(bundleEntry);

      // Rebuilt (npm run build's last step), the bundle carries the change and runs again.
      await run(process.execPath, [join(pkg, 'scripts', 'build-bundle.js')], { cwd: pkg });
      const rebuilt = await loadedBy(bin, ['--version']);
      expect(rebuilt.stdout).toBe('9.9.9-stale\n');
      expect(rebuilt.loaded).toContain(bundleEntry);
    });

    it('bin/kko.js falls back to dist/cli/main.js once a bundled package’s file is newer (another version installed)', async () => {
      await run(process.execPath, [join(pkg, 'scripts', 'build-bundle.js')], { cwd: pkg });
      const bundleEntry = pathToFileURL(join(pkg, 'dist/bundle/kko.mjs')).href;
      expect((await loadedBy(bin, ['--version'])).loaded).toContain(bundleEntry);
      const stamp = JSON.parse(await readFile(join(pkg, 'dist/bundle/stamp.json'), 'utf8')) as { inputs: string[] };
      expect(stamp.inputs).toContain('../node_modules/bcryptjs/index.js');
      const file = join(pkg, 'node_modules', 'bcryptjs', 'index.js');
      const was = await stat(file);
      const later = new Date(Date.now() + 60_000);
      await utimes(file, later, later);
      const stale = await loadedBy(bin, ['--version']);
      expect(stale.code).toBe(0);
      expect(stale.loaded).toContain(pathToFileURL(join(pkg, 'dist/cli/main.js')).href);
      expect(stale.loaded).not.toContain(bundleEntry);
      // An older copy put in its place (a restore, a checkout of an old tree with its times) is not the bundled one
      // either: each file must have the time it had when the bundle was built, not just be no newer.
      const earlier = new Date(was.mtimeMs - 86_400_000);
      await utimes(file, earlier, earlier);
      const older = await loadedBy(bin, ['--version']);
      expect(older.loaded).toContain(pathToFileURL(join(pkg, 'dist/cli/main.js')).href);
      await utimes(file, was.atime, was.mtime);
      expect((await loadedBy(bin, ['--version'])).loaded).toContain(bundleEntry); // its own time again: fresh
    });

    it('a kko running from the bundle outlives a rebuild: its lazily imported chunks stay for one build', async () => {
      const versionJs = join(pkg, 'dist', 'cli', 'actions', 'version.js');
      const phrase = 'patch releases per minor';
      const build = async (label: string) => {
        const text = await readFile(versionJs, 'utf8');
        await writeFile(versionJs, text.replace(/patch releases per minor( \([a-z]+\))?/, `${phrase} (${label})`));
        await run(process.execPath, [join(pkg, 'scripts', 'build-bundle.js')], { cwd: pkg });
      };
      await build('a');
      // Loaded now, `kko version` run after the next build: its action chunk is import()ed only then.
      const script = join(dir, 'late-action.mjs');
      await writeFile(
        script,
        `const { main } = await import(${JSON.stringify(pathToFileURL(join(pkg, 'dist/bundle/kko.mjs')).href)});
process.stdout.write('ready\\n');
process.stdin.once('data', async () => { process.exitCode = await main(['version']); process.stdin.destroy(); });
`,
      );
      const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      let code: number | null | undefined;
      const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve((code = c))));
      while (!out.includes('ready\n') && code === undefined) await new Promise((r) => setTimeout(r, 20));
      expect(code, err).toBeUndefined(); // still running, its action not yet loaded
      await build('b');
      child.stdin.write('go\n');
      expect(await exited, err).toBe(0);
      expect(out).toContain(`${phrase} (a)`); // the code it started with, not a mix
      // One build later the first build's chunks are gone (only the one before the newest is kept).
      const chunksOf = async () =>
        (JSON.parse(await readFile(join(pkg, 'dist/bundle/stamp.json'), 'utf8')) as { chunks: string[] }).chunks;
      const b = await chunksOf();
      await build('c');
      const kept = await readdir(join(pkg, 'dist', 'bundle'));
      for (const name of b) expect(kept, name).toContain(name);
      const c = await chunksOf();
      expect(kept.filter((n) => n !== 'stamp.json' && !b.includes(n) && !c.includes(n))).toEqual([]);
    });

    it('the pre-checked catalog data is checked again once the compiled catalog schema differs from its checker', async () => {
      expect((await loadedBy(bin, ['version', '--json'])).code).toBe(0);
      // A schema that every shipped checksum now fails: the bundle's data (checked by the old one) must not pass.
      const schemaJs = join(pkg, 'dist', 'catalog', 'schema.js');
      const text = await readFile(schemaJs, 'utf8');
      expect(text).toContain('/^[a-f0-9]{64}$/');
      await writeFile(schemaJs, text.replace('/^[a-f0-9]{64}$/', '/^[a-f0-9]{65}$/'));
      const r = await loadedBy(bin, ['version', '--json']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/checksums\.json.*expected 64 lower-case hex characters/);
      expect(r.stderr).toMatch(/error: the catalog has \d+ error\(s\)/);
    });
  });

  describe('building the bundle (scripts/build-bundle.js) and packing it', () => {
    const buildBundle = (pkg: string) =>
      run(process.execPath, [join(pkg, 'scripts', 'build-bundle.js')], { cwd: pkg }).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
      );
    const leftovers = async (pkg: string) => (await readdir(join(pkg, 'dist'))).filter((n) => n.startsWith('.bundle.'));

    it('node_modules/ only in a parent folder (a worktree, a workspace): built, its files stamped by their path', async () => {
      const outer = join(dir, 'outer');
      const pkg = join(outer, 'pkg');
      await copyPackage(pkg, outer);
      const b = await buildBundle(pkg);
      expect(b.code, b.stderr).toBe(0);
      expect(await leftovers(pkg)).toEqual([]);
      const stamp = JSON.parse(await readFile(join(pkg, 'dist/bundle/stamp.json'), 'utf8')) as { inputs: string[] };
      expect(stamp.inputs).toContain('../../node_modules/bcryptjs/index.js');
      const pkgBin = join(pkg, 'bin', 'kko.js');
      const bundleEntry = pathToFileURL(join(pkg, 'dist/bundle/kko.mjs')).href;
      expect((await loadedBy(pkgBin, ['--version'])).loaded).toContain(bundleEntry);
      const later = new Date(Date.now() + 60_000);
      await utimes(join(outer, 'node_modules', 'bcryptjs', 'index.js'), later, later);
      expect((await loadedBy(pkgBin, ['--version'])).loaded).not.toContain(bundleEntry); // stale: dist/cli/main.js
    });

    it('a previous chunk that cannot be kept (not a file) fails neither the build nor leaves dist/.bundle.* behind', async () => {
      const pkg = join(dir, 'pkg-chunk');
      await copyPackage(pkg, pkg);
      const stampFile = join(pkg, 'dist/bundle/stamp.json');
      const stamp = JSON.parse(await readFile(stampFile, 'utf8')) as { chunks: string[] };
      await mkdir(join(pkg, 'dist/bundle/odd-chunk.mjs')); // link() of a directory: EPERM
      await writeFile(stampFile, JSON.stringify({ ...stamp, chunks: [...stamp.chunks, 'odd-chunk.mjs'] }));
      const b = await buildBundle(pkg);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stderr).toMatch(/warning: build-bundle: the previous build's odd-chunk\.mjs is not kept/);
      expect(await leftovers(pkg)).toEqual([]);
      expect((await loadedBy(join(pkg, 'bin', 'kko.js'), ['--version'])).loaded).toContain(
        pathToFileURL(join(pkg, 'dist/bundle/kko.mjs')).href,
      );
      // a build's temp folder left by a crash is not shipped by npm pack
      await mkdir(join(pkg, 'dist', '.bundle.4242.tmp'));
      await writeFile(join(pkg, 'dist', '.bundle.4242.tmp', 'kko.mjs'), '');
      const packed = await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], {
        cwd: pkg,
        env: { ...process.env, npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false' },
        maxBuffer: 16 * 1024 * 1024,
      });
      const [info] = JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>;
      const paths = info?.files.map((f) => f.path) ?? [];
      expect(paths).toContain('dist/bundle/kko.mjs');
      expect(paths.filter((f) => f.startsWith('dist/.bundle.'))).toEqual([]);
    });

    it('prepare builds in a checkout, but not under npm pack or publish (prepack has just built)', async () => {
      const pkg = join(dir, 'pkg-prepare');
      await mkdir(join(pkg, '.git'), { recursive: true });
      await cp(join(ROOT, 'scripts'), join(pkg, 'scripts'), { recursive: true });
      const fake = join(pkg, 'fake-bin');
      await mkdir(fake);
      const log = join(pkg, 'npm.log');
      await writeFile(join(fake, 'npm'), `#!/bin/sh\necho "$@" >> ${JSON.stringify(log)}\n`, { mode: 0o755 });
      const prepare = async (command: string) => {
        await run(process.execPath, [join(pkg, 'scripts', 'prepare.js')], {
          cwd: pkg,
          env: { ...process.env, PATH: `${fake}:${process.env.PATH ?? ''}`, npm_command: command },
        });
        return readFile(log, 'utf8').catch(() => '');
      };
      expect(await prepare('pack')).toBe('');
      expect(await prepare('publish')).toBe('');
      expect(await prepare('ci')).toBe('run build\n');
      expect(await prepare('install')).toBe('run build\nrun build\n');
    });
  });

  describe('the bundled export, end to end', () => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startRegistry({ mode: 'plain' });
      await seedFixtureSource(reg, fixtureSet({ baseSize: 64 * 1024, layerSize: 32 * 1024 }), dir);
    }, 120_000);
    afterAll(async () => reg?.stop());

    it('--compress zstd: the zstd WebAssembly loads beside its package; the bytes are those of dist/cli/main.js', async () => {
      const zstd = (out: string, cache: string) => exportArgs(out, { cache }, '--compress', 'zstd', '--quiet');
      const bundled = await loadedBy(BIN, zstd('bundled.tar.zst', 'cache-bundled'));
      expect(bundled.stderr).toBe('');
      expect(bundled.code).toBe(0);
      expect(bundled.loaded).toContain(pathToFileURL(join(ROOT, 'dist/bundle/kko.mjs')).href);
      expect(bundled.loaded.some((u) => u.endsWith('/node_modules/@bokuweb/zstd-wasm/dist/common/index.node.js'))).toBe(
        true,
      );
      const listed = await run('tar', ['--zstd', '-tf', 'bundled.tar.zst'], { cwd: dir });
      expect(listed.stdout).toContain('images/index.json');

      const unbundled = await loadedBy(distMain, zstd('dist.tar.zst', 'cache-dist'));
      expect(unbundled.code).toBe(0);
      const [a, b] = [await readFile(join(dir, 'bundled.tar.zst')), await readFile(join(dir, 'dist.tar.zst'))];
      expect(a.equals(b)).toBe(true);

      const verified = await loadedBy(BIN, ['artifact', 'verify', 'bundled.tar.zst', '--json']);
      expect(verified.code).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, compression: 'zstd' });
    });
  });

  it.each(runners)(
    '%s: artifact inventory --registry plans the push names without loading the push action',
    async (_, script) => {
      const m = join(dir, 'have.yaml');
      await writeFile(m, manifestYaml(['docker.io/library/redis:7'], ['amd64']));
      // nothing listens on port 1: the action fails at the registry, after planning
      const args = ['artifact', 'inventory', '--registry', '127.0.0.1:1', '--plain-http', '--retries', '0'];
      const r = await loadedBy(script(), [...args, '--kk-version', 'v3.1.12', '-m', m]);
      expect(r.code).not.toBe(0);
      expect(r.modules.some((u) => u.endsWith('/dist/cli/actions/artifact-have.js'))).toBe(true);
      expect(r.modules.some((u) => u.endsWith('/dist/push/plan.js'))).toBe(true);
      expect(r.modules.filter((u) => u.endsWith('/dist/cli/actions/artifact-images.js'))).toEqual([]);
    },
  );
});
