#!/usr/bin/env node
// `npm run build:standalone`: dist/standalone/kko (or OUT_DIR/kko: `node scripts/build-standalone.js OUT_DIR`), one executable that needs neither Node nor npm on the host —
// a Node.js single executable application (SEA): a copy of this `node` with kko injected into it.
//  1. bundle dist/cli/standalone.js (after `npm run build`) and its dependencies into one CommonJS script
//     (a SEA runs a single CommonJS file), with rolldown (vite's bundler, already in the dev tree), with the options
//     it shares with bin/kko.js's bundle (scripts/bundle-options.js);
//  2. `node --experimental-sea-config` turns it into a blob, with the shipped files as SEA assets: the pre-parsed
//     catalog (dist/catalog.bundle.json), the zone files and the zstd WebAssembly (src/util/embedded.ts);
//  3. postject injects the blob into a copy of process.execPath, written under a temporary name and renamed once
//     it has answered `--version`.
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';
import { bundleOptions } from './bundle-options.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(process.argv[2] ?? join(root, 'dist', 'standalone'));
const work = join(out, 'build');
const started = Date.now();
const fail = (message, hint) => {
  process.stderr.write(`error: build-standalone: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(1);
};
// A build step's own chatter (the SEA blob notice, LIEF's harmless ELF-note warnings) is shown only when it fails.
const step = (what, file, args, env = process.env) => {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
  } catch (err) {
    return fail(`${what} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
};

const sea = await import('node:sea').catch(() => undefined);
if (typeof sea?.getAsset !== 'function')
  fail(`Node ${process.version} cannot embed assets in a single executable`, 'build with Node >= 20.12');
const options = bundleOptions(root, 'standalone');
if (!(await stat(options.input).catch(() => undefined)))
  fail('dist/ is not built', 'run `npm run build` first (npm run build:standalone does)');

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const script = join(work, 'kko.cjs');
await build({ ...options, output: { ...options.output, file: script } });

const require = createRequire(import.meta.url);
const assets = {
  'dist/catalog.bundle.json': join(root, 'dist', 'catalog.bundle.json'),
  'zstd.wasm': join(require.resolve('@bokuweb/zstd-wasm'), '..', 'zstd.wasm'),
};
for (const name of (await readdir(join(root, 'catalog', 'zones'))).filter((n) => n.endsWith('.yaml'))) {
  assets[`catalog/zones/${name}`] = join(root, 'catalog', 'zones', name);
}
const blob = join(work, 'sea-prep.blob');
const config = { main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets };
await writeFile(join(work, 'sea-config.json'), `${JSON.stringify(config, null, 2)}\n`);
step('node --experimental-sea-config', process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')]);

const tmp = join(out, `.kko.${process.pid}.tmp`);
process.on('exit', () => rmSync(tmp, { force: true })); // gone already once renamed
await copyFile(process.execPath, tmp);
await chmod(tmp, 0o755);
const postject = join(require.resolve('postject'), '..', 'cli.js');
step('postject', process.execPath, [
  postject,
  tmp,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
]);
const version = step('the built executable', tmp, ['--version'], {}).trim();
const { VERSION } = await import(new URL('../dist/version.js', import.meta.url).href);
if (version !== VERSION) fail(`the executable answered --version with "${version}", expected "${VERSION}"`);
const exe = join(out, 'kko');
await rename(tmp, exe);
await rm(work, { recursive: true, force: true });

const mb = ((await stat(exe)).size / 1024 / 1024).toFixed(1);
process.stdout.write(
  `${exe}: kko ${version}, Node ${process.version} ${process.platform}-${process.arch}, ${mb} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
