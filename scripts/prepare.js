#!/usr/bin/env node
// npm's `prepare` hook: build only in a git checkout (a fresh clone's `npm ci` must give a working bin/kko.js).
// The published tarball already carries dist/ and schema/ (built by `prepack`), so installing it builds nothing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (existsSync(new URL('../.git', import.meta.url))) {
  execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
