// Sync benchmark (issue #12 item 5): `kko sync --to A --to B` against two serial `skopeo copy` loops (one per target,
// one copy per image × arch to <repo>:<tag>-<arch>, kk's push names), from the same fixture registry behind the link
// model (bench/lib/delay-proxy.js), each side into two fresh empty target registries on loopback. Prints the time
// ratio (target ≤ 0.33) and, counted at the link proxy, the source blob GETs and bytes of each side.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHES, ensureFixture, IMAGES, verifyServed } from './lib/fixture.js';
import { loadLine, mib, secs, table } from './lib/format.js';
import { startDelayProxy } from './lib/delay-proxy.js';
import { envNumber, SKOPEO } from './lib/export-runs.js';
import { measure } from './lib/proc.js';
import { startRegistry } from './lib/registry.js';
import { benchWorkspace } from './lib/workspace.js';

export const description = 'kko sync to two registries vs two serial skopeo copy loops, over the modelled WAN link';

const TARGET = 0.33;
const MB = 1e6;

/** @typedef {{ seconds: number, blobGets: number, bytesDown: number, maxRssKiB?: number }} Side */

/**
 * Two fresh, writable target registries for one side; stopped by the caller.
 * @param {string} work @param {string} name
 */
async function targets(work, name) {
  const out = [];
  for (const i of [1, 2]) {
    const root = join(work, `${name}-t${i}`);
    await mkdir(root);
    out.push(await startRegistry({ root }));
  }
  return out;
}

/**
 * @param {{ repoRoot: string, work: string, env: NodeJS.ProcessEnv, proxy: Awaited<ReturnType<typeof startDelayProxy>>, n: number, concurrency?: number }} o
 * @returns {Promise<Side>}
 */
async function runKko(o) {
  const regs = await targets(o.work, `kko-${o.n}`);
  try {
    const before = await o.proxy.stats();
    const args = [
      'sync',
      '-m',
      'manifest.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '--cache',
      join(o.work, `kko-cache-${o.n}`),
      '--plain-http',
      '--json',
      ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : []),
      ...regs.flatMap((r) => ['--to', r.host]),
    ];
    const r = await measure(process.execPath, [join(o.repoRoot, 'bin', 'kko.js'), ...args], {
      cwd: o.work,
      env: o.env,
    });
    if (r.code !== 0) throw new Error(`kko sync exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-3000)}`);
    const after = await o.proxy.stats();
    return {
      seconds: r.seconds,
      blobGets: after.blobGets - before.blobGets,
      bytesDown: after.bytesDown - before.bytesDown,
      ...(r.maxRssKiB ? { maxRssKiB: r.maxRssKiB } : {}),
    };
  } finally {
    for (const reg of regs) await reg.stop();
  }
}

/**
 * kk's way, once per target: one `skopeo copy` per image × arch to <target>/<repo>:<tag>-<arch>, serially.
 * @param {{ work: string, env: NodeJS.ProcessEnv, proxy: Awaited<ReturnType<typeof startDelayProxy>>, n: number }} o
 * @returns {Promise<Side>}
 */
async function runSkopeo(o) {
  const regs = await targets(o.work, `skopeo-${o.n}`);
  try {
    const before = await o.proxy.stats();
    let seconds = 0;
    let maxRssKiB = 0;
    for (const reg of regs) {
      for (const img of IMAGES) {
        for (const arch of ARCHES) {
          const src = `docker://${o.proxy.host}/${img.repo}:${img.tag}`;
          const dst = `docker://${reg.host}/${img.repo}:${img.tag}-${arch}`;
          const r = await measure(
            SKOPEO,
            [
              '--policy',
              join(o.work, 'policy.json'),
              'copy',
              '--quiet',
              '--src-tls-verify=false',
              '--dest-tls-verify=false',
              '--override-arch',
              arch,
              src,
              dst,
            ],
            { cwd: o.work, env: o.env },
          );
          if (r.code !== 0)
            throw new Error(
              `skopeo copy ${src} → ${dst} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`,
            );
          seconds += r.seconds;
          maxRssKiB = Math.max(maxRssKiB, r.maxRssKiB ?? 0);
        }
      }
    }
    const after = await o.proxy.stats();
    return {
      seconds,
      blobGets: after.blobGets - before.blobGets,
      bytesDown: after.bytesDown - before.bytesDown,
      ...(maxRssKiB ? { maxRssKiB } : {}),
    };
  } finally {
    for (const reg of regs) await reg.stop();
  }
}

/** @param {{ repoRoot: string, distDir: string, log: (s: string) => void }} ctx */
export default async function syncBench(ctx) {
  const { repoRoot, distDir, log } = ctx;
  const cfg = {
    sizeMiB: envNumber('KKO_BENCH_MB', 60),
    repeat: envNumber('KKO_BENCH_REPEAT', 1),
    rttMs: envNumber('KKO_BENCH_RTT_MS', 30, { min: 0, integer: false }),
    connMBps: envNumber('KKO_BENCH_CONN_MBPS', 12, { min: 0, integer: false }),
    linkMBps: envNumber('KKO_BENCH_LINK_MBPS', 60, { min: 0, integer: false }),
    ...(process.env.KKO_BENCH_CONCURRENCY ? { concurrency: envNumber('KKO_BENCH_CONCURRENCY', 8) } : {}),
  };
  const loadBefore = loadLine();
  const fixture = await ensureFixture({
    distDir,
    mib: cfg.sizeMiB,
    rebuild: process.env.KKO_BENCH_REBUILD === '1',
    log,
  });
  const spec = fixture.spec;
  const src = await startRegistry({ root: fixture.root, readonly: true });
  try {
    await verifyServed(distDir, src.host, spec);
    const proxy = await startDelayProxy({
      targetPort: Number(src.host.split(':')[1]),
      rttMs: cfg.rttMs,
      connBytesPerSec: cfg.connMBps * MB,
      linkBytesPerSec: cfg.linkMBps * MB,
    });
    const { work, env } = await benchWorkspace('kko-bench-sync-', { mirrorHost: proxy.host, skopeoPolicy: true });
    /** @type {Side[]} */
    const ks = [];
    /** @type {Side[]} */
    const ss = [];
    for (let n = 1; n <= cfg.repeat; n++) {
      const steps = [
        async () => {
          log(`timing kko sync to 2 registries (run ${n})…`);
          ks.push(
            await runKko({
              repoRoot,
              work,
              env,
              proxy,
              n,
              ...(cfg.concurrency ? { concurrency: cfg.concurrency } : {}),
            }),
          );
          log(`  kko ${secs(ks.at(-1)?.seconds ?? 0)}`);
        },
        async () => {
          log(`timing 2 × skopeo copy loop (${2 * IMAGES.length * ARCHES.length} copies) (run ${n})…`);
          ss.push(await runSkopeo({ work, env, proxy, n }));
          log(`  skopeo loops ${secs(ss.at(-1)?.seconds ?? 0)}`);
        },
      ];
      for (const step of n % 2 === 1 ? steps : steps.reverse()) await step();
    }
    await proxy.stop();
    const best = (/** @type {Side[]} */ xs) =>
      /** @type {Side} */ (xs.reduce((a, b) => (b.seconds < a.seconds ? b : a)));
    const k = best(ks);
    const s = best(ss);
    const ratio = k.seconds / s.seconds;
    const layerBlobs = spec.blobs.length - IMAGES.length * (1 + ARCHES.length); // configs and layers: without the manifests and indexes
    const rss = (/** @type {number | undefined} */ x) => (x === undefined ? '?' : `${(x / 1024).toFixed(0)} MiB`);
    const lines = [
      `sync to two registries over the link (RTT ${cfg.rttMs} ms, ${cfg.connMBps} MB/s per connection, ${cfg.linkMBps} MB/s link), fixture ${mib(spec.uniqueBytes)} unique in ${spec.blobs.length} blobs:`,
      table(
        ['side', 'seconds', 'ratio', 'source blob GETs', 'source bytes', 'peak RSS'],
        [
          [
            'kko sync --to A --to B',
            k.seconds.toFixed(2),
            ratio.toFixed(2),
            String(k.blobGets),
            mib(k.bytesDown),
            rss(k.maxRssKiB),
          ],
          [
            '2 × serial skopeo copy loop',
            s.seconds.toFixed(2),
            '1.00',
            String(s.blobGets),
            mib(s.bytesDown),
            rss(s.maxRssKiB),
          ],
        ],
      ),
      `load average: before ${loadBefore}, after ${loadLine()}`,
    ];
    const summary = `sync: kko / 2 skopeo loops = ${ratio.toFixed(2)} (target ≤ ${TARGET}); source blob GETs ${k.blobGets} for ${layerBlobs} configs and layers (skopeo ${s.blobGets})`;
    lines.push(summary);
    console.log(lines.join('\n'));
    return { ok: ratio <= TARGET && k.blobGets === layerBlobs, summary };
  } finally {
    await src.stop();
  }
}
