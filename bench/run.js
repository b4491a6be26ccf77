#!/usr/bin/env node
// Benchmark runner: `node bench/run.js` runs every bench/*.bench.js, `node bench/run.js export` just
// export.bench.js. Benches import the COMPILED kko from dist/ (`npm run bench` builds it first) and
// write only under os.tmpdir(); everything they start is stopped and removed, also on failure or Ctrl-C.
//
// A bench module exports `description` and a default `async (ctx) => ({ ok, summary })`; `ok` is
// whether its targets were met. The exit status is 1 when a bench failed to run, and also when a
// target was missed if KKO_BENCH_STRICT=1 (a benchmark, not a timed test: by default it only reports).
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installSignalHandlers, runCleanup } from './lib/cleanup.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(benchDir);
const distDir = join(repoRoot, 'dist');
const SUFFIX = '.bench.js';

/** @param {string} s */
const log = (s) => console.error(`[bench] ${s}`);

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    console.log(
      'usage: node bench/run.js [NAME…]   (NAME = export for bench/export.bench.js; none = all)\nenv: KKO_BENCH_MB, KKO_BENCH_REPEAT, KKO_BENCH_SCENARIOS, KKO_BENCH_RTT_MS, KKO_BENCH_CONN_MBPS, KKO_BENCH_LINK_MBPS, KKO_BENCH_CONCURRENCY, KKO_BENCH_REBUILD=1, KKO_BENCH_STRICT=1 — see bench/README.md',
    );
    return 0;
  }
  if (!existsSync(join(distDir, 'cli', 'main.js')) || !existsSync(join(distDir, 'registry', 'index.js'))) {
    console.error(`bench: ${distDir} has no compiled kko; run \`npm run build\` first (\`npm run bench\` does)`);
    return 2;
  }
  const available = (await readdir(benchDir)).filter((f) => f.endsWith(SUFFIX)).sort();
  const names = args.length > 0 ? args.map((a) => (a.endsWith(SUFFIX) ? a : `${a}${SUFFIX}`)) : available;
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    console.error(
      `bench: no such bench: ${unknown.join(', ')} (have: ${available.map((f) => f.slice(0, -SUFFIX.length)).join(', ')})`,
    );
    return 2;
  }
  installSignalHandlers();
  let failed = 0;
  let missed = 0;
  const summaries = [];
  for (const file of names) {
    const name = file.slice(0, -SUFFIX.length);
    const mod = await import(pathToFileURL(join(benchDir, file)).href);
    log(`${name}: ${mod.description ?? ''}`);
    const t0 = performance.now();
    try {
      const r = await mod.default({ repoRoot, distDir, log: (/** @type {string} */ s) => log(`${name}: ${s}`) });
      summaries.push(r.summary);
      if (!r.ok) missed++;
    } catch (err) {
      failed++;
      console.error(`bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    } finally {
      await runCleanup();
    }
    log(`${name}: finished in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
  if (names.length > 1 && summaries.length > 0) console.log(`\n${summaries.join('\n')}`);
  if (failed > 0) return 1;
  return missed > 0 && process.env.KKO_BENCH_STRICT === '1' ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await runCleanup();
}
