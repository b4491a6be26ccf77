// Export benchmark (issues #3 and #10): `kko artifact export` against kk's export path — a serial loop of
// `skopeo copy docker://… oci:DIR:<ref>-<arch>` into one OCI layout — from the same registry, in the same run,
// each from a cold cache and an empty output, in two settings:
// - link: through a proxy that models a WAN link (round trip, a per-connection rate cap, a cap for the whole
//   link); kko against the skopeo loop and against the link's floor (unique bytes / link rate);
// - loopback: the plain loopback registry, kko against the skopeo loop + `tar cf`, with CPU seconds per GB.
import { existsSync } from 'node:fs';
import { statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHES, ensureFixture, IMAGES, verifyServed } from './lib/fixture.js';
import { loadLine, median, MiB, mib, secs, table } from './lib/format.js';
import { startDelayProxy } from './lib/delay-proxy.js';
import { calibrateLink } from './lib/link-calibrate.js';
import { checkPlan, envNumber, runKko, runSkopeo, SKOPEO, withRegistryCpu } from './lib/export-runs.js';
import { run } from './lib/proc.js';
import { startRegistry } from './lib/registry.js';
import { benchWorkspace, mirrorPolicy } from './lib/workspace.js';

export const description =
  'kko artifact export vs a serial skopeo copy loop (kk v3 export path), over a modelled WAN link and on plain loopback';

export const TARGET_RSS_MIB = 256;
const TARGETS = {
  linkVsSkopeo: 0.2,
  linkVsFloor: 1.15,
  loopbackVsSkopeoTar: 0.6,
  loopbackVsSkopeo: 0.33,
  gzipVsSkopeoTar: 0.2,
};
const MB = 1e6;
const GB = 1e9;

/** @typedef {import('./lib/export-runs.js').KkoRun} KkoRun @typedef {import('./lib/export-runs.js').SkopeoRun} SkopeoRun */
/** @typedef {{ k: KkoRun, s: SkopeoRun, kkoRuns: KkoRun[], skopeoRuns: SkopeoRun[], benchCpu: number, proxyCpu?: { kko: number, skopeo: number } }} Timed */

function readConfig() {
  const scenarios = (process.env.KKO_BENCH_SCENARIOS ?? 'link,loopback')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = scenarios.filter((s) => s !== 'link' && s !== 'loopback' && s !== 'gzip2g');
  if (bad.length > 0 || scenarios.length === 0)
    throw new Error(
      `KKO_BENCH_SCENARIOS="${process.env.KKO_BENCH_SCENARIOS}": expected link, loopback or both, or gzip2g alone`,
    );
  // gzip2g (#10): the whole export to .tar.gz at 2 GiB on loopback, against the skopeo loop + `tar czf`: a preset of
  // KKO_BENCH_MB=2048 KKO_BENCH_COMPRESS=gzip KKO_BENCH_SCENARIOS=loopback KKO_BENCH_REPEAT=1 (about 2 min a repeat).
  const gzip2g = scenarios.includes('gzip2g');
  if (gzip2g && scenarios.length > 1) throw new Error('KKO_BENCH_SCENARIOS=gzip2g runs alone');
  return {
    sizeMiB: envNumber('KKO_BENCH_MB', gzip2g ? 2048 : 300),
    // Each side runs `repeat` times, alternating which goes first; the best time of each is compared.
    repeat: envNumber('KKO_BENCH_REPEAT', gzip2g ? 1 : 3),
    rttMs: envNumber('KKO_BENCH_RTT_MS', 30, { min: 0, integer: false }),
    connMBps: envNumber('KKO_BENCH_CONN_MBPS', 12, { min: 0, integer: false }),
    linkMBps: envNumber('KKO_BENCH_LINK_MBPS', 60, { min: 0, integer: false }),
    scenarios: gzip2g ? ['loopback'] : scenarios,
    // KKO_BENCH_COMPRESS=gzip: kko writes .tar.gz and kk's side is the skopeo loop + `tar czf`.
    compress: /** @type {'none' | 'gzip'} */ (gzip2g || process.env.KKO_BENCH_COMPRESS === 'gzip' ? 'gzip' : 'none'),
    ...(process.env.KKO_BENCH_CONCURRENCY ? { concurrency: envNumber('KKO_BENCH_CONCURRENCY', 8) } : {}),
    // --cpu-prof; the .cpuprofile files are kept. Profiling slows kko down, so such a run's ratios are not comparable.
    ...(process.env.KKO_BENCH_PROFILE === '1' ? { profileDir: join(tmpdir(), `kko-bench-profile-${Date.now()}`) } : {}),
  };
}

/** @param {number} sizeMiB */
async function preflight(sizeMiB) {
  for (const [bin, hint] of [
    [SKOPEO, 'apt-get install skopeo (or set KKO_BENCH_SKOPEO)'],
    ['tar', 'GNU tar'],
  ]) {
    const found = bin.includes('/')
      ? existsSync(bin)
      : (process.env.PATH ?? '').split(':').some((p) => existsSync(join(p, bin)));
    if (!found) throw new Error(`${bin} not found: ${hint}`);
  }
  const free = await statfs(tmpdir()).then((s) => s.bavail * s.bsize);
  if (free < 5 * sizeMiB * MiB)
    throw new Error(
      `only ${mib(free)} free under the temp dir; this bench needs about ${mib(5 * sizeMiB * MiB)} (KKO_BENCH_MB=${sizeMiB})`,
    );
}

/**
 * Time both sides `repeat` times, alternating which goes first; keep the best of each (the run least disturbed by
 * other load). Before each side an untimed `sync` writes out what the one before left in the page cache: kko fsyncs
 * its artifact before the rename and tar does not, so without it kko's fsync would also wait for the previous side's
 * ~2× fixture of dirty pages (the skopeo layout and its tar), and each side's disk writes would land on the other.
 * @param {{ label: string, repeat: number, regPid: number, log: (s: string) => void, kko: (n: number) => Promise<KkoRun>, skopeo: (n: number) => Promise<SkopeoRun>, proxyCpu?: () => Promise<number> }} o
 * @returns {Promise<Timed>}
 */
async function timeSides(o) {
  /** @type {KkoRun[]} */
  const kkoRuns = [];
  /** @type {SkopeoRun[]} */
  const skopeoRuns = [];
  const cpu0 = process.cpuUsage();
  const proxyCpu = { kko: 0, skopeo: 0 };
  // The link proxy's CPU (its own process) while one side runs.
  const withProxyCpu = async (/** @type {'kko' | 'skopeo'} */ side, /** @type {() => Promise<void>} */ fn) => {
    const before = await o.proxyCpu?.();
    await fn();
    const after = await o.proxyCpu?.();
    if (before !== undefined && after !== undefined) proxyCpu[side] += after - before;
  };
  for (let n = 1; n <= o.repeat; n++) {
    const tag = `${o.label}${o.repeat > 1 ? `, run ${n}/${o.repeat}` : ''}`;
    const timeKko = async () => {
      o.log(`timing kko artifact export (${tag})…`);
      const r = await withRegistryCpu(o.regPid, () => o.kko(n));
      kkoRuns.push({ ...r.result, ...(r.registryCpu === undefined ? {} : { registryCpu: r.registryCpu }) });
      o.log(
        `  kko ${secs(r.result.seconds)}, CPU ${r.result.cpuSeconds?.toFixed(2) ?? '?'}s, peak RSS ${rssMiB(r.result.maxRssKiB)}`,
      );
    };
    const timeSkopeo = async () => {
      o.log(`timing skopeo copy loop (${IMAGES.length * ARCHES.length} copies) (${tag})…`);
      const r = await withRegistryCpu(o.regPid, () => o.skopeo(n));
      skopeoRuns.push({ ...r.result, ...(r.registryCpu === undefined ? {} : { registryCpu: r.registryCpu }) });
      o.log(
        `  skopeo loop ${secs(r.result.seconds)}, CPU ${r.result.cpuSeconds?.toFixed(2) ?? '?'}s${r.result.tarSeconds ? `, tar ${secs(r.result.tarSeconds)}` : ''}`,
      );
    };
    const kko = () => withProxyCpu('kko', timeKko);
    const skopeo = () => withProxyCpu('skopeo', timeSkopeo);
    for (const step of n % 2 === 1 ? [kko, skopeo] : [skopeo, kko]) {
      await run('sync', []);
      await step();
    }
  }
  const used = process.cpuUsage(cpu0);
  const best = /** @template {{ seconds: number }} T @param {T[]} xs @returns {T} */ (xs) =>
    /** @type {T} */ (xs.reduce((a, b) => (b.seconds < a.seconds ? b : a)));
  return {
    k: best(kkoRuns),
    s: best(skopeoRuns),
    kkoRuns,
    skopeoRuns,
    benchCpu: (used.user + used.system) / 1e6,
    ...(o.proxyCpu ? { proxyCpu } : {}),
  };
}

/** @param {number | undefined} kib */
const rssMiB = (kib) => (kib === undefined ? '?' : `${(kib / 1024).toFixed(0)} MiB`);
const cpu = (/** @type {number | undefined} */ x) => (x === undefined ? '?' : x.toFixed(2));
const perGB = (/** @type {number | undefined} */ x, /** @type {number} */ bytes) =>
  x === undefined ? '?' : (x / (bytes / GB)).toFixed(2);
const rate = (/** @type {number} */ bytes, /** @type {number} */ sec) => (bytes / MB / sec).toFixed(1);
const peak = (/** @type {Array<{ maxRssKiB?: number }>} */ runs) =>
  Math.max(...runs.map((r) => r.maxRssKiB ?? 0)) || undefined;

/** @param {Timed} t */
function runsLine(t) {
  const ks = t.kkoRuns.map((r) => r.seconds);
  const ss = t.skopeoRuns.map((r) => r.seconds);
  return `runs: kko ${ks.map((x) => x.toFixed(2)).join(', ')}; skopeo loop ${ss.map((x) => x.toFixed(2)).join(', ')} (best of each above; median ratio ${(median(ks) / median(ss)).toFixed(2)})`;
}

/** @param {KkoRun} k */
const phasesLine = (k) =>
  `kko phases: startup ${secs(k.phases.startup ?? 0)}, to the first image resolved ${secs(k.phases.firstImage ?? 0)}, layers ${secs(k.phases.layers ?? 0)} (from the first image resolved to the last done; every image resolved ${secs(k.phases.resolve ?? 0)} after startup, overlapping them), write tar ${secs(k.phases.archive ?? 0)}, exit ${secs(k.phases.exit ?? 0)}; artifact ${mib(k.outputBytes)}`;

/**
 * The fixture's largest blobs with a repository that has each, largest first: what the link calibration fetches.
 * @param {import('./lib/fixture.js').FixtureSpec} spec @param {number} n
 */
function largestBlobs(spec, n) {
  const size = new Map(spec.blobs.map((b) => [b.digest, b.size]));
  const seen = new Set();
  const all = [];
  for (const [repo, digests] of Object.entries(spec.repoBlobs))
    for (const digest of digests)
      if (!seen.has(digest)) {
        seen.add(digest);
        all.push({ repo, digest, size: size.get(digest) ?? 0 });
      }
  return all.sort((a, b) => b.size - a.size).slice(0, n);
}

/** @typedef {Awaited<ReturnType<typeof calibrateLink>>} Calibration */

/**
 * @param {Timed} t @param {{ rttMs: number, connMBps: number, linkMBps: number, compress: string }} cfg @param {number} uniqueBytes
 * @param {Calibration[]} [cal] the proxy's delivered rate, measured before and after the timed runs
 * @returns {{ lines: string[], summary: string, ok: boolean }}
 */
function reportLink(t, cfg, uniqueBytes, cal = []) {
  const { k, s } = t;
  const floor = cfg.linkMBps > 0 ? uniqueBytes / (cfg.linkMBps * MB) : undefined;
  const vsSkopeo = k.seconds / s.seconds;
  const vsFloor = floor === undefined ? undefined : k.seconds / floor;
  const model = `RTT ${cfg.rttMs} ms, ${cfg.connMBps || '∞'} MB/s per connection, ${cfg.linkMBps || '∞'} MB/s link`;
  const rows = [
    [
      `kko artifact export --compress ${cfg.compress}`,
      k.seconds.toFixed(2),
      rate(k.fetchedBytes, k.seconds),
      '1.00',
      cpu(k.cpuSeconds),
      cpu(k.registryCpu),
      rssMiB(peak(t.kkoRuns)),
      mib(k.fetchedBytes),
    ],
    [
      `skopeo copy loop (${s.perCopy.length} serial copies)`,
      s.seconds.toFixed(2),
      rate(s.fetchedBytes, s.seconds),
      vsSkopeo.toFixed(2),
      cpu(s.cpuSeconds),
      cpu(s.registryCpu),
      `${rssMiB(peak(t.skopeoRuns))}/copy`,
      mib(s.fetchedBytes),
    ],
  ];
  if (floor !== undefined && vsFloor !== undefined)
    rows.push([
      'link floor (unique bytes / link rate)',
      floor.toFixed(2),
      String(cfg.linkMBps),
      vsFloor.toFixed(2),
      '',
      '',
      '',
      mib(uniqueBytes),
    ]);
  const lines = [
    '',
    `export over the link model (${model})`,
    table(
      ['(cold cache, empty output)', 'seconds', 'MB/s', 'kko/this', 'CPU s', 'registry CPU s', 'peak RSS', 'fetched'],
      rows,
    ),
    phasesLine(k),
    runsLine(t),
  ];
  if (cal.length > 0 && cfg.linkMBps > 0) {
    // Not a target, and not the floor (that stays unique bytes / link rate): what the model itself delivers when
    // every connection is kept busy, so its own shortfall is not read as kko's.
    const delivered = cal.reduce((n, c) => n + c.bytesPerSec, 0) / cal.length;
    const at = uniqueBytes / delivered;
    lines.push(
      `link proxy delivered rate (${cal[0]?.connections} connections kept busy, ${cal[0]?.seconds} s after a warm-up; before/after the runs): ${cal.map((c) => (c.bytesPerSec / MB).toFixed(1)).join(' / ')} MB/s = ${((100 * delivered) / (cfg.linkMBps * MB)).toFixed(0)}% of the ${cfg.linkMBps} MB/s link; the unique bytes at that rate ${secs(at)}, kko/that ${(k.seconds / at).toFixed(2)} (for reference only; the target is vs the link floor)`,
    );
  }
  lines.push(
    `link proxy (its own process) used ${cpu(t.proxyCpu?.kko)} CPU s during kko's runs, ${cpu(t.proxyCpu?.skopeo)} during skopeo's; the bench process ${cpu(t.benchCpu)} (all runs of this setting)`,
  );
  const floorText =
    vsFloor === undefined
      ? 'no link cap, no floor'
      : `kko/floor ${vsFloor.toFixed(2)} (target <= ${TARGETS.linkVsFloor})`;
  const summary = `link model (${model}): kko ${k.seconds.toFixed(2)}s, skopeo loop ${s.seconds.toFixed(2)}s, kko/skopeo ${vsSkopeo.toFixed(2)} (target <= ${TARGETS.linkVsSkopeo}), ${floorText}`;
  return {
    lines,
    summary,
    ok: vsSkopeo <= TARGETS.linkVsSkopeo && (vsFloor === undefined || vsFloor <= TARGETS.linkVsFloor),
  };
}

/**
 * @param {Timed} t @param {{ compress: string }} cfg
 * @returns {{ lines: string[], summary: string, ok: boolean }}
 */
function reportLoopback(t, cfg) {
  const { k, s } = t;
  const tarLabel = cfg.compress === 'gzip' ? 'tar czf' : 'tar cf';
  const best = t.skopeoRuns.reduce((a, b) => (b.seconds + b.tarSeconds < a.seconds + a.tarSeconds ? b : a));
  const sTar = best.seconds + best.tarSeconds;
  const sTarCpu =
    best.cpuSeconds !== undefined && best.tarCpuSeconds !== undefined
      ? best.cpuSeconds + best.tarCpuSeconds
      : undefined;
  const vsTar = k.seconds / sTar;
  const sTarSynced = sTar + best.tarSyncSeconds; // the tar on disk too, as kko's artifact is (for reference)
  const head = [
    'export on plain loopback',
    'seconds',
    'MB/s',
    'kko/this',
    'CPU s',
    'CPU s/GB',
    'registry CPU s',
    'peak RSS',
    'fetched',
  ];
  const rows = [
    [
      `kko artifact export --compress ${cfg.compress}`,
      k.seconds.toFixed(2),
      rate(k.fetchedBytes, k.seconds),
      '1.00',
      cpu(k.cpuSeconds),
      perGB(k.cpuSeconds, k.fetchedBytes),
      cpu(k.registryCpu),
      rssMiB(peak(t.kkoRuns)),
      mib(k.fetchedBytes),
    ],
    [
      `skopeo copy loop (${s.perCopy.length} serial copies)`,
      s.seconds.toFixed(2),
      rate(s.fetchedBytes, s.seconds),
      (k.seconds / s.seconds).toFixed(2),
      cpu(s.cpuSeconds),
      perGB(s.cpuSeconds, s.fetchedBytes),
      cpu(s.registryCpu),
      `${rssMiB(peak(t.skopeoRuns))}/copy`,
      mib(s.fetchedBytes),
    ],
    [
      `skopeo copy loop + ${tarLabel} of the layout`,
      sTar.toFixed(2),
      rate(best.fetchedBytes, sTar),
      vsTar.toFixed(2),
      cpu(sTarCpu),
      perGB(sTarCpu, best.fetchedBytes),
      '',
      '',
      mib(best.fetchedBytes),
    ],
    [
      `  … + sync of the tar (on disk, as kko's is)`,
      sTarSynced.toFixed(2),
      rate(best.fetchedBytes, sTarSynced),
      (k.seconds / sTarSynced).toFixed(2),
      '',
      '',
      '',
      '',
      mib(best.fetchedBytes),
    ],
  ];
  const lines = [
    '',
    table(head, rows),
    phasesLine(k),
    `skopeo: per copy median ${secs(median(s.perCopy))}, max ${secs(Math.max(...s.perCopy))}; ${tarLabel} ${secs(best.tarSeconds)}, then \`sync\` of the tar ${secs(best.tarSyncSeconds)} (kko fsyncs its artifact inside its time; the target row is without the tar's sync)`,
    runsLine(t),
  ];
  const target = cfg.compress === 'gzip' ? TARGETS.gzipVsSkopeoTar : TARGETS.loopbackVsSkopeoTar;
  const rss = peak(t.kkoRuns);
  const rssN = rss === undefined ? NaN : rss / 1024;
  const summary =
    `loopback: kko ${k.seconds.toFixed(2)}s, skopeo loop + ${tarLabel} ${sTar.toFixed(2)}s, ratio ${vsTar.toFixed(2)} (target <= ${target}; ${(k.seconds / sTarSynced).toFixed(2)} with the tar synced too, for reference); ` +
    `CPU s/GB kko ${perGB(k.cpuSeconds, k.fetchedBytes)}, skopeo loop + ${tarLabel} ${perGB(sTarCpu, best.fetchedBytes)}; peak RSS ${Number.isNaN(rssN) ? '?' : rssN.toFixed(0)} MB (target <= ${TARGET_RSS_MIB})`;
  return { lines, summary, ok: vsTar <= target && rssN <= TARGET_RSS_MIB };
}

/**
 * @param {{ repoRoot: string, distDir: string, log: (s: string) => void }} ctx
 * @returns {Promise<{ ok: boolean, summary: string }>}
 */
export default async function exportBench(ctx) {
  const { repoRoot, distDir, log } = ctx;
  const cfg = readConfig();
  await preflight(cfg.sizeMiB);
  const loadBefore = loadLine();
  log(`load average before: ${loadBefore}`);
  const fixture = await ensureFixture({
    distDir,
    mib: cfg.sizeMiB,
    rebuild: process.env.KKO_BENCH_REBUILD === '1',
    log,
  });
  const spec = fixture.spec;
  log(
    fixture.built
      ? `fixture built in ${secs(fixture.buildSeconds)} (generate + push with kko's RegistryClient), verified in ${secs(fixture.verifySeconds)}: ${fixture.dir}`
      : `fixture cached at ${fixture.dir}, verified (sha256 of every blob) in ${secs(fixture.verifySeconds)}`,
  );
  log(
    `fixture: ${IMAGES.length} images × ${ARCHES.length} arches, ${spec.blobs.length} blobs, ${mib(spec.uniqueBytes)} unique (${mib(spec.layerBytes)} of layers)`,
  );

  const reg = await startRegistry({ root: fixture.root, readonly: true });
  try {
    await verifyServed(distDir, reg.host, spec);
    log(`registry: ${reg.host} (docker-registry pid ${reg.pid}, read-only, serving the fixture)`);
    const { work, env } = await benchWorkspace('kko-bench-export-', { skopeoPolicy: true });
    const run = {
      repoRoot,
      work,
      env,
      compress: cfg.compress,
      ...(cfg.concurrency ? { concurrency: cfg.concurrency } : {}),
      ...(cfg.profileDir ? { profileDir: cfg.profileDir } : {}),
    };

    const lines = [];
    const summaries = [];
    let ok = true;
    for (const scenario of cfg.scenarios) {
      const link = scenario === 'link';
      const proxy = link
        ? await startDelayProxy({
            targetPort: Number(reg.host.split(':')[1]),
            rttMs: cfg.rttMs,
            connBytesPerSec: cfg.connMBps * MB,
            linkBytesPerSec: cfg.linkMBps * MB,
          })
        : undefined;
      const host = proxy?.host ?? reg.host;
      if (proxy)
        log(
          `link proxy: ${host} → ${reg.host}, RTT ${cfg.rttMs} ms, ${cfg.connMBps || '∞'} MB/s per connection, ${cfg.linkMBps || '∞'} MB/s link`,
        );
      const blobs = largestBlobs(spec, 8);
      /** @type {Calibration[]} */
      const cal = [];
      if (proxy) cal.push(await calibrateLink(host, blobs));
      const mirrors = `mirrors-${scenario}.yaml`;
      await writeFile(join(work, mirrors), mirrorPolicy(host));
      await checkPlan(run, mirrors, host);
      const t = await timeSides({
        label: scenario,
        repeat: cfg.repeat,
        regPid: reg.pid,
        log,
        kko: (n) => runKko(run, mirrors, `kko-${scenario}-${n}`),
        skopeo: (n) => runSkopeo(run, host, `skopeo-${scenario}-${n}`, !link),
        ...(proxy ? { proxyCpu: async () => (await proxy.stats()).cpuSeconds } : {}),
      });
      if (proxy) cal.push(await calibrateLink(host, blobs));
      await proxy?.stop();
      const r = link ? reportLink(t, cfg, spec.uniqueBytes, cal) : reportLoopback(t, cfg);
      lines.push(...r.lines);
      summaries.push(r.summary);
      ok &&= r.ok;
    }
    lines.push(
      `fixture: ${mib(spec.uniqueBytes)} unique (${(spec.uniqueBytes / MB).toFixed(1)} MB), ${fixture.built ? `built in ${secs(fixture.buildSeconds)}` : 'cached'}, verified in ${secs(fixture.verifySeconds)}`,
    );
    if (cfg.profileDir)
      lines.push(`kko CPU profiles (--cpu-prof; timings of this run are inflated): ${cfg.profileDir}`);
    lines.push(`load average: before ${loadBefore}, after ${loadLine()}`);
    lines.push(...summaries);
    console.log(lines.join('\n'));
    return { ok, summary: summaries.join('\n') };
  } finally {
    await reg.stop();
  }
}
