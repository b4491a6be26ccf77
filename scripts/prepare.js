#!/usr/bin/env node
// npm's `prepare` hook: build only in a git checkout (a fresh clone's `npm ci` must give a working bin/kko.js).
// The published tarball already carries dist/ and schema/ (built by `prepack`), so installing it builds nothing.
// npm pack and npm publish run `prepare` after `prepack`, which has just built (with `--alone`): not twice.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const packing = process.env.npm_command === 'pack' || process.env.npm_command === 'publish';
if (!packing && existsSync(new URL('../.git', import.meta.url))) {
  execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
