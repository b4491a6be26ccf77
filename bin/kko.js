#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (in a git checkout `npm ci` builds it through the prepare
// script; the npm package ships it, built by prepack).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist')) throw err;
  process.stderr.write(
    'error: kko is not built (dist/ is missing)\nhint: run `npm run build` (or `npm ci`) in the kko folder\n',
  );
  process.exit(70);
}

process.exitCode = await main(process.argv.slice(2));
