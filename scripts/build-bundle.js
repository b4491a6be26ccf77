#!/usr/bin/env node
// Build step (after tsc): dist/bundle/, the compiled CLI (dist/cli/main.js) and its dependencies bundled with rolldown
// (scripts/bundle-options.js) into ES module chunks split at the actions' import()s. bin/kko.js runs it instead of
// dist/cli/main.js: a few chunks to load instead of ~300 modules to resolve and compile, and none of zod's locales.
//
// dist/bundle/stamp.json names the dist/ and node_modules/ files that went into the bundle with their mtimes. In a
// checkout bin/kko.js runs the bundle only while each still has its time (after `tsc` alone it is stale, and the launcher runs
// dist/cli/main.js). The chunks are written to a temporary folder that replaces dist/bundle/ once complete; the
// previous build's chunks stay in it for the kko processes still running from it.
import { copyFile, link, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';
import { bundleOptions } from './bundle-options.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = realpathSync(join(root, 'dist'));
const target = join(dist, 'bundle');
const tmp = join(dist, `.bundle.${process.pid}.tmp`);
const fail = (message, hint) => {
  process.stderr.write(`error: build-bundle: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(1);
};

// The mtime of every compiled file, before rolldown reads them.
async function mtimes(dir, out = new Map()) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (p !== target && p !== join(dist, 'standalone') && !e.name.startsWith('.bundle.')) await mtimes(p, out);
    } else if (e.name.endsWith('.js')) out.set(p, (await stat(p)).mtimeMs);
  }
  return out;
}

const options = bundleOptions(root, 'cli');
if (!(await stat(options.input.kko).catch(() => undefined))) fail('dist/ is not built', 'run `npm run build`');
const before = await mtimes(dist);
let output;
try {
  ({ output } = await build({ ...options, output: { ...options.output, dir: tmp } }));
} catch (err) {
  await rm(tmp, { recursive: true, force: true });
  fail(String(err?.message ?? err));
}

// From here on a failure removes this build's temporary folder (npm pack would ship it) and exits 1.
try {
  const moduleIds = [...new Set(output.flatMap((o) => (o.type === 'chunk' ? o.moduleIds : [])))].sort();
  const inputs = moduleIds.filter((id) => id.startsWith(dist + sep));
  // A file rewritten while rolldown read dist/ may or may not be in the bundle: such a bundle is not kept.
  for (const id of inputs) {
    if ((await stat(id)).mtimeMs !== before.get(id))
      throw Object.assign(new Error(`${relative(root, id)} changed while the CLI was bundled`), {
        hint: 'run `npm run build` again',
      });
  }
  // The packages' files bundled with them (undici, zod, yaml, …): an `npm install` of another version, or an edit in
  // node_modules/, makes the bundle stale too. Their times as they are now (nothing here rewrites them).
  // Named by node_modules/ beside dist/ when they are in it (not by its real path: it may be a symlink, and a copy of the
  // package has its own), else by their path from dist/ (a worktree or a workspace whose node_modules/ is in a parent
  // folder). A module that is no file (rolldown's runtime, a Yarn PnP zip entry) is not stamped.
  const modules = existsSync(join(root, 'node_modules')) ? realpathSync(join(root, 'node_modules')) : undefined;
  for (const id of moduleIds.filter((m) => !m.startsWith(dist + sep))) {
    const s = await stat(id).catch(() => undefined);
    if (s?.isFile()) {
      before.set(id, s.mtimeMs);
      inputs.push(id);
    }
  }
  // Each input with its mtime in whole milliseconds. bin/kko.js wants each file's time to be the one recorded (a
  // copy that keeps the times, cp -p or fs.cp with preserveTimestamps, may be 1 ms off): a file rewritten since, or
  // put back older, or dated in the future, tells either way, where "none newer than the newest" would miss the last
  // two.
  const nameOf = (id) =>
    modules !== undefined && id.startsWith(modules + sep)
      ? ['..', 'node_modules', ...relative(modules, id).split(sep)].join('/')
      : relative(dist, id).split(sep).join('/');
  const chunks = (await readdir(tmp)).sort(); // what this build made (stamp.json not yet)
  const stamp = {
    inputs: inputs.map(nameOf),
    mtimes: inputs.map((id) => Math.floor(before.get(id))),
    chunks,
  };
  await writeFile(join(tmp, 'stamp.json'), `${JSON.stringify(stamp)}\n`);

  // A kko started from the bundle being replaced still import()s its chunks lazily (an action, undici at its first
  // request, fzstd…): the previous build's own chunks are kept beside the new ones (hard links; content-hashed names,
  // so they do not collide), so a running kko outlives one rebuild. The build before that is dropped.
  // `--alone` (prepack: the package ships this build only) keeps none.
  const previous = process.argv.includes('--alone')
    ? []
    : await readFile(join(target, 'stamp.json'), 'utf8')
        .then((text) => [JSON.parse(text).chunks ?? []].flat().filter((n) => typeof n === 'string'))
        .catch(() => []);
  for (const name of previous) {
    if (chunks.includes(name) || name === 'kko.mjs' || name === 'kko.mjs.map' || name.includes('/')) continue;
    // Best effort: a file system without hard links gets a copy; a chunk that cannot be kept at all (gone, not a file)
    // costs only a kko that was still running from it, never the build.
    const from = join(target, name);
    const to = join(tmp, name);
    await link(from, to).catch(async (err) => {
      if (err.code === 'ENOENT' || err.code === 'EEXIST') return;
      await copyFile(from, to).catch((e) =>
        process.stderr.write(`warning: build-bundle: the previous build's ${name} is not kept (${e.code ?? e})\n`),
      );
    });
  }

  // Another build may be swapping its own folder in at the same time: the last one to rename wins.
  const old = join(dist, `.bundle.${process.pid}.old`);
  for (let attempt = 1; ; attempt++) {
    await rename(target, old).catch((err) => {
      if (err.code !== 'ENOENT') throw err;
    });
    try {
      await rename(tmp, target);
      break;
    } catch (err) {
      if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || attempt === 3) throw err;
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  }
} catch (err) {
  await rm(tmp, { recursive: true, force: true });
  fail(String(err?.message ?? err), err?.hint);
}
