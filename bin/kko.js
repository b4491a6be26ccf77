#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (in a git checkout `npm ci` builds it through the prepare
// script; the npm package ships it, built by prepack). dist/bundle/ is the same CLI bundled (scripts/build-bundle.js),
// much quicker to load. In a checkout (src/ beside dist/) it runs only while every file it was made from has the
// time it had then (after a `tsc` alone it is stale), else dist/cli/main.js runs. An installed package has no
// src/ and is built once (npm install gives its files the time they were unpacked, so their mtimes tell nothing).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url)); // paths, not URLs: ~250 stats take ~1 ms

function freshBundle() {
  try {
    const { inputs, mtimes } = JSON.parse(readFileSync(`${DIST}bundle/stamp.json`, 'utf8'));
    if (!existsSync(`${DIST}../src`)) return existsSync(`${DIST}bundle/kko.mjs`);
    return inputs.every((file, i) => Math.abs(Math.floor(statSync(DIST + file).mtimeMs) - mtimes[i]) <= 1);
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
