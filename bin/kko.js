#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (in a git checkout `npm ci` builds it through the prepare
// script; the npm package ships it, built by prepack). dist/bundle/ is the same CLI bundled (scripts/build-bundle.js),
// much quicker to load; it runs only while none of the dist/ files it was made from is newer than it knows (after a
// `tsc` alone it is stale), else dist/cli/main.js runs.
import { readFileSync, statSync } from 'node:fs';

const DIST = new URL('../dist/', import.meta.url);

function freshBundle() {
  try {
    const { newestInput, inputs } = JSON.parse(readFileSync(new URL('bundle/stamp.json', DIST), 'utf8'));
    return inputs.every((file) => Math.floor(statSync(new URL(file, DIST)).mtimeMs) <= newestInput);
  } catch {
    return false; // not built, or a file it was made from is gone
  }
}

const bundled = freshBundle();
let main;
try {
  ({ main } = await import(bundled ? '../dist/bundle/kko.mjs' : '../dist/cli/main.js'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist')) throw err;
  process.stderr.write(
    'error: kko is not built (dist/ is missing)\nhint: run `npm run build` (or `npm ci`) in the kko folder\n',
  );
  process.exit(70);
}

process.exitCode = await main(process.argv.slice(2));
