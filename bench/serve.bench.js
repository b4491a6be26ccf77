// Serve benchmark (issue #11): skopeo pulling the whole artifact (every image, all arches, `skopeo copy --all`
// into an OCI layout, serially as kk pulls) from `kko artifact serve` against from the distribution registry that
// holds the same content, in the same run, alternating which side goes first; best of KKO_BENCH_REPEAT runs each.
// Prints the throughput ratio (target >= 0.8x) and the serve process's peak RSS (target <= 256 MiB).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { onCleanup } from './lib/cleanup.js';
import { envNumber, kko, SKOPEO } from './lib/export-runs.js';
import { ARCHES, ensureFixture, IMAGES } from './lib/fixture.js';
import { duBytes, mib, table } from './lib/format.js';
import { run } from './lib/proc.js';
import { startRegistry } from './lib/registry.js';
import { benchWorkspace } from './lib/workspace.js';

export const description =
  'skopeo pulling the whole artifact from kko artifact serve vs from the distribution registry with the same content';
const TARGET_RATIO = 0.8;
const TARGET_RSS_MIB = 256;

/** @param {string} repoRoot @param {string} artifact @param {Record<string, string>} env @returns {Promise<{ host: string, pid: number, stop: () => Promise<number | null> }>} */
async function startServe(repoRoot, artifact, env) {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'kko.js'), 'artifact', 'serve', artifact, '--listen', '127.0.0.1:0', '--json'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    child.kill('SIGTERM');
    return /** @type {Promise<number | null>} */ (exited);
  };
  onCleanup('stop kko artifact serve', async () => void (await stop()));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    void exited.then(() => reject(new Error(`kko artifact serve exited: ${err.slice(-2000)}`)));
  });
  const ev = JSON.parse(/** @type {string} */ (line));
  return { host: `127.0.0.1:${ev.port}`, pid: /** @type {number} */ (child.pid), stop };
}

/** Peak RSS (VmHWM) of a live process in KiB. @param {number} pid */
function vmHwmKiB(pid) {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** Every image, all arches, one `skopeo copy --all` after another. @param {string} host @param {string} dir @param {Record<string, string>} env */
async function pullAll(host, dir, env) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  for (const img of IMAGES) {
    await run(
      SKOPEO,
      [
        'copy',
        '--quiet',
        '--all',
        '--src-tls-verify=false',
        `docker://${host}/${img.repo}:${img.tag}`,
        `oci:${dir}:${img.repo.replace('/', '-')}-${img.tag}`,
      ],
      { env },
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const { bytes } = await duBytes(dir);
  await rm(dir, { recursive: true, force: true });
  return { seconds, bytes };
}

/** @param {{ repoRoot: string, distDir: string, log: (s: string) => void }} ctx */
export default async function serveBench(ctx) {
  const sizeMiB = envNumber('KKO_BENCH_MB', 300);
  const repeat = envNumber('KKO_BENCH_REPEAT', 3);
  const fixture = await ensureFixture({
    distDir: ctx.distDir,
    mib: sizeMiB,
    rebuild: process.env.KKO_BENCH_REBUILD === '1',
    log: ctx.log,
  });
  const reg = await startRegistry({ root: fixture.root, readonly: true });
  try {
    const { work, env } = await benchWorkspace('kko-bench-serve-', { mirrorHost: reg.host });
    ctx.log('exporting the fixture to art.tar.gz (layers in stored blocks) …');
    const exp = await kko(
      ctx.repoRoot,
      [
        'artifact',
        'export',
        '-m',
        'manifest.yaml',
        '--mirror-config',
        'mirrors.yaml',
        '-o',
        'art.tar.gz',
        '--cache',
        'cache',
        '--json',
      ],
      { cwd: work, env },
    );
    if (exp.code !== 0) throw new Error(`kko artifact export exited ${exp.code}: ${exp.stderr.slice(-2000)}`);
    const t0 = performance.now();
    const serve = await startServe(ctx.repoRoot, join(work, 'art.tar.gz'), env);
    const openSeconds = (performance.now() - t0) / 1000;
    ctx.log(`serving on ${serve.host} after ${openSeconds.toFixed(2)}s (verify pass + index); registry on ${reg.host}`);
    /** @type {{ serve: number[], registry: number[] }} */
    const times = { serve: [], registry: [] };
    let bytes = 0;
    for (let n = 0; n < repeat; n++) {
      const order =
        n % 2 === 0 ? /** @type {const} */ (['serve', 'registry']) : /** @type {const} */ (['registry', 'serve']);
      for (const side of order) {
        const r = await pullAll(side === 'serve' ? serve.host : reg.host, join(work, 'pulled'), env);
        times[side].push(r.seconds);
        bytes = r.bytes;
        ctx.log(`  ${side}: ${r.seconds.toFixed(2)}s (${mib(r.bytes)})`);
      }
    }
    const rssMiB = vmHwmKiB(serve.pid) / 1024;
    const code = await serve.stop();
    const best = { serve: Math.min(...times.serve), registry: Math.min(...times.registry) };
    const ratio = best.registry / best.serve; // throughput(serve) / throughput(registry)
    const rate = (s) => `${(bytes / s / 1e6).toFixed(0)}`;
    console.log(
      [
        '',
        `skopeo copy --all of ${IMAGES.length} images × ${ARCHES.length} arches (${mib(bytes)} pulled per run), best of ${repeat}`,
        table(
          ['source', 'seconds', 'MB/s', 'throughput vs registry'],
          [
            ['kko artifact serve art.tar.gz', best.serve.toFixed(2), rate(best.serve), ratio.toFixed(2)],
            ['docker-registry (distribution)', best.registry.toFixed(2), rate(best.registry), '1.00'],
          ],
        ),
        `kko artifact serve: open (verify + index) ${openSeconds.toFixed(2)}s, peak RSS ${rssMiB.toFixed(0)} MiB, exit ${code} on SIGTERM`,
      ].join('\n'),
    );
    const summary = `serve: throughput ${ratio.toFixed(2)}x the registry's (target >= ${TARGET_RATIO}), peak RSS ${rssMiB.toFixed(0)} MiB (target <= ${TARGET_RSS_MIB})`;
    return { ok: ratio >= TARGET_RATIO && rssMiB <= TARGET_RSS_MIB, summary };
  } finally {
    await reg.stop();
  }
}
