// Export benchmark (issue #3, "Performance"): `kko artifact export` against kk's export path — a serial
// loop of `skopeo copy docker://… oci:DIR:<ref>-<arch>` into one OCI layout — from the same loopback
// registry, in the same run, each from a cold cache and an empty output.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from './lib/cleanup.js';
import { ARCHES, ensureFixture, IMAGES, verifyServed } from './lib/fixture.js';
import { duBytes, loadLine, median, MiB, mib, secs, table } from './lib/format.js';
import { cpuSecondsOf, measure, rssSource, run } from './lib/proc.js';
import { startDelayProxy } from './lib/delay-proxy.js';
import { startRegistry } from './lib/registry.js';

export const description = 'kko artifact export vs a serial skopeo copy loop into one OCI layout (kk v3 export path)';

export const TARGET_RATIO = 0.33;
export const TARGET_RSS_MIB = 256;

const SKOPEO = process.env.KKO_BENCH_SKOPEO ?? 'skopeo';

/**
 * @typedef {{ seconds: number, cpuSeconds?: number, registryCpu?: number, maxRssKiB?: number, fetchedBytes: number, outputBytes: number, phases: Record<string, number>, progressEvents: number }} KkoRun
 * @typedef {{ seconds: number, cpuSeconds?: number, registryCpu?: number, tarSeconds: number, maxRssKiB?: number, fetchedBytes: number, perCopy: number[] }} SkopeoRun
 */

/** @param {string} name @param {number} fallback */
function envInt(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}="${v}": expected a positive whole number`);
  return n;
}

// Children get a minimal environment: no proxy variables, no KKZONE/KKO_* settings, a private HOME
// (no ~/.docker/config.json credential helpers), so nothing but the loopback registry is contacted.
/** @param {string} home */
function childEnv(home) {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    NO_PROXY: '127.0.0.1',
    no_proxy: '127.0.0.1',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  };
}

/** docker.io refs of the fixture, as a kk manifest lists them. */
const refs = () => IMAGES.map((i) => `docker.io/${i.repo}:${i.tag}`);

/** @param {string} repoRoot @param {string[]} args @param {object} opts @param {string[]} [nodeArgs] */
const kko = (repoRoot, args, opts, nodeArgs = []) => measure(process.execPath, [...nodeArgs, join(repoRoot, 'bin', 'kko.js'), ...args], opts);

/** Registry CPU seconds used while `fn` ran (undefined off Linux). @template T @param {number} pid @param {() => Promise<T>} fn */
async function withRegistryCpu(pid, fn) {
  const before = cpuSecondsOf(pid);
  const result = await fn();
  const after = cpuSecondsOf(pid);
  return { result, registryCpu: before !== undefined && after !== undefined ? after - before : undefined };
}

/**
 * Refuse to time anything unless kko's own plan sends every image × arch to the loopback registry only.
 * @param {string} repoRoot @param {string} work @param {NodeJS.ProcessEnv} env @param {string} host
 */
async function checkPlan(repoRoot, work, env, host) {
  const r = await kko(repoRoot, ['artifact', 'export', '-m', 'manifest.yaml', '--mirror-config', 'mirrors.yaml', '--dry-run', '--json'], { cwd: work, env });
  if (r.code !== 0) throw new Error(`kko --dry-run failed (${r.code}): ${r.stderr.trim()}`);
  const plan = JSON.parse(r.stdout);
  const images = /** @type {Array<{ refName: string, sources: Array<{ registry: string }> }>} */ (plan.images);
  if (images.length !== IMAGES.length * ARCHES.length) throw new Error(`kko plans ${images.length} image × arch, expected ${IMAGES.length * ARCHES.length}`);
  const off = images.filter((i) => i.sources.length === 0 || i.sources.some((s) => s.registry !== host));
  if (off.length > 0) throw new Error(`kko would contact something other than ${host} for ${off.map((i) => i.refName).join(', ')}; refusing to run`);
}

/**
 * @param {string} repoRoot @param {string} work @param {NodeJS.ProcessEnv} env @param {number} n @param {string | undefined} profileDir
 * @returns {Promise<KkoRun>}
 */
async function runKko(repoRoot, work, env, n, profileDir) {
  const dir = join(work, `kko-${n}`);
  await mkdir(dir);
  const out = join(dir, 'artifact.tar');
  const args = ['artifact', 'export', '-m', 'manifest.yaml', '--mirror-config', 'mirrors.yaml', '-o', out, '--cache', join(dir, 'cache'), '--compress', COMPRESS, '--json'];
  if (process.env.KKO_BENCH_CONCURRENCY) args.push('--concurrency', String(envInt('KKO_BENCH_CONCURRENCY', 8)));
  /** @type {Record<string, number>} first arrival (ms since spawn) of each event type; last for image-done */
  const at = {};
  /** @type {Record<string, any>} */
  const last = {};
  let progressEvents = 0;
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const r = await kko(repoRoot, args, {
    cwd: work,
    env,
    onLine: (line, ms) => {
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        return;
      }
      if (e.type === 'progress') progressEvents++;
      if (e.type === 'image-done' || !(e.type in at)) at[e.type] = ms;
      last[e.type] = e;
    },
  }, nodeArgs);
  if (r.code !== 0) throw new Error(`kko artifact export exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-3000)}`);
  const done = last.done;
  if (!done || done.failed !== 0 || done.images !== IMAGES.length * ARCHES.length) throw new Error(`kko: unexpected done event ${JSON.stringify(done)}`);
  const outputBytes = (await stat(out)).size;
  const ms = r.seconds * 1000;
  const phases = {
    startup: at.plan ?? 0,
    resolve: (at.resolved ?? 0) - (at.plan ?? 0),
    layers: (at['image-done'] ?? 0) - (at.resolved ?? 0),
    archive: (at.archive ?? 0) - (at['image-done'] ?? 0),
    exit: ms - (at.done ?? ms),
  };
  await rm(dir, { recursive: true, force: true });
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssKiB: r.maxRssKiB, fetchedBytes: done.fetchedBytes, outputBytes, phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v / 1000])), progressEvents };
}

/**
 * kk's path: one `skopeo copy` per image × arch, serially, into one OCI layout; then `tar cf` of it.
 * @param {string} work @param {NodeJS.ProcessEnv} env @param {string} host @param {number} n
 * @returns {Promise<SkopeoRun>}
 */
async function runSkopeo(work, env, host, n) {
  const dir = join(work, `skopeo-${n}`);
  const layout = join(dir, 'images');
  await mkdir(dir);
  const perCopy = [];
  let maxRssKiB = 0;
  let cpuSeconds = 0;
  for (const img of IMAGES) {
    for (const arch of ARCHES) {
      const src = `docker://${host}/${img.repo}:${img.tag}`;
      const dst = `oci:${layout}:docker.io/${img.repo}:${img.tag}-${arch}`;
      const r = await measure(SKOPEO, ['--policy', join(work, 'policy.json'), 'copy', '--quiet', '--src-tls-verify=false', '--override-arch', arch, src, dst], { cwd: work, env });
      if (r.code !== 0) throw new Error(`skopeo copy ${src} (${arch}) exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
      perCopy.push(r.seconds);
      cpuSeconds += r.cpuSeconds ?? NaN;
      maxRssKiB = Math.max(maxRssKiB, r.maxRssKiB ?? 0);
    }
  }
  // The loop's time is the sum of the copies' wall times (spawn to exit), so the bench's own
  // bookkeeping between copies is not charged to skopeo.
  const seconds = perCopy.reduce((a, b) => a + b, 0);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  if (index.manifests?.length !== IMAGES.length * ARCHES.length) throw new Error(`skopeo layout has ${index.manifests?.length} refs, expected ${IMAGES.length * ARCHES.length}`);
  const fetched = await duBytes(join(layout, 'blobs'));
  const tar = await run('tar', [COMPRESS === 'gzip' ? 'czf' : 'cf', join(dir, 'images.tar'), '-C', dir, 'images'], { env });
  await rm(dir, { recursive: true, force: true });
  return { seconds, tarSeconds: tar.seconds, fetchedBytes: fetched.bytes, perCopy, ...(Number.isNaN(cpuSeconds) ? {} : { cpuSeconds }), ...(maxRssKiB > 0 ? { maxRssKiB } : {}) };
}

// KKO_BENCH_COMPRESS=gzip: kko writes .tar.gz and kk's side is the skopeo loop + `tar czf` (issue #4's
// whole-export comparison, target <= 0.20); default none: the image export alone (issue #3, target <= 0.33).
const COMPRESS = process.env.KKO_BENCH_COMPRESS === 'gzip' ? 'gzip' : 'none';
const TAR_LABEL = COMPRESS === 'gzip' ? 'tar czf' : 'tar cf';

/** @param {number | undefined} kib */
const rssMiB = (kib) => (kib === undefined ? '?' : `${(kib / 1024).toFixed(0)} MiB`);

/**
 * @param {{ repoRoot: string, distDir: string, log: (s: string) => void }} ctx
 * @returns {Promise<{ ok: boolean, summary: string }>}
 */
export default async function exportBench(ctx) {
  const { repoRoot, distDir, log } = ctx;
  const sizeMiB = envInt('KKO_BENCH_MB', 300);
  // Each side runs `repeat` times, alternating which goes first; the best time of each is compared
  // (the run least disturbed by other load on the machine).
  const repeat = envInt('KKO_BENCH_REPEAT', 3);
  const rttMs = process.env.KKO_BENCH_RTT_MS ? Number(process.env.KKO_BENCH_RTT_MS) : 0;
  if (!(rttMs >= 0 && rttMs <= 1000)) throw new Error(`KKO_BENCH_RTT_MS="${process.env.KKO_BENCH_RTT_MS}": expected 0…1000`);
  // KKO_BENCH_PROFILE=1: kko runs with --cpu-prof; the .cpuprofile files are kept (open them in Chrome
  // DevTools or speedscope). Profiling slows kko down, so the ratio of such a run is not comparable.
  const profileDir = process.env.KKO_BENCH_PROFILE === '1' ? join(tmpdir(), `kko-bench-profile-${Date.now()}`) : undefined;
  for (const [bin, hint] of [[SKOPEO, 'apt-get install skopeo (or set KKO_BENCH_SKOPEO)'], ['tar', 'GNU tar']]) {
    const found = bin.includes('/') ? existsSync(bin) : (process.env.PATH ?? '').split(':').some((p) => existsSync(join(p, bin)));
    if (!found) throw new Error(`${bin} not found: ${hint}`);
  }
  const free = await statfs(tmpdir()).then((s) => s.bavail * s.bsize);
  if (free < 5 * sizeMiB * MiB) throw new Error(`only ${mib(free)} free under the temp dir; this bench needs about ${mib(5 * sizeMiB * MiB)} (KKO_BENCH_MB=${sizeMiB})`);

  const loadBefore = loadLine();
  log(`load average before: ${loadBefore}`);
  const fixture = await ensureFixture({ distDir, mib: sizeMiB, rebuild: process.env.KKO_BENCH_REBUILD === '1', log });
  const spec = fixture.spec;
  log(
    fixture.built
      ? `fixture built in ${secs(fixture.buildSeconds)} (generate + push with kko's RegistryClient), verified in ${secs(fixture.verifySeconds)}: ${fixture.dir}`
      : `fixture cached at ${fixture.dir}, verified (sha256 of every blob) in ${secs(fixture.verifySeconds)}`,
  );
  log(`fixture: ${IMAGES.length} images × ${ARCHES.length} arches, ${spec.blobs.length} blobs, ${mib(spec.uniqueBytes)} unique (${mib(spec.layerBytes)} of layers)`);

  const reg = await startRegistry({ root: fixture.root, readonly: true });
  try {
    await verifyServed(distDir, reg.host, spec);
    log(`registry: ${reg.host} (docker-registry pid ${reg.pid}, read-only, serving the fixture)`);
    const proxy = rttMs > 0 ? await startDelayProxy({ targetPort: Number(reg.host.split(':')[1]), rttMs }) : undefined;
    const host = proxy?.host ?? reg.host;
    if (proxy) log(`delay proxy: ${host} → ${reg.host}, ${rttMs} ms round trip (KKO_BENCH_RTT_MS)`);

    const work = await tempDir('kko-bench-export-');
    await mkdir(join(work, 'home'));
    const env = childEnv(join(work, 'home'));
    const manifest = ['apiVersion: kubekey.kubesphere.io/v1alpha2', 'kind: Manifest', 'metadata: {name: kko-bench}', 'spec:', `  arches: [${ARCHES.join(', ')}]`, '  images:', ...refs().map((r) => `  - ${r}`), ''];
    await writeFile(join(work, 'manifest.yaml'), manifest.join('\n'));
    await writeFile(join(work, 'mirrors.yaml'), ['apiVersion: kko.io/v1alpha1', 'kind: MirrorPolicy', 'registries:', '- prefix: docker.io', '  mirrors:', `  - {location: "${host}", plainHTTP: true}`, '  upstream: false', ''].join('\n'));
    await writeFile(join(work, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
    await checkPlan(repoRoot, work, env, host);

    /** @type {KkoRun[]} */
    const kkoRuns = [];
    /** @type {SkopeoRun[]} */
    const skopeoRuns = [];
    for (let n = 1; n <= repeat; n++) {
      const tag = repeat > 1 ? ` (run ${n}/${repeat})` : '';
      const timeKko = async () => {
        log(`timing kko artifact export${tag}…`);
        const kr = await withRegistryCpu(reg.pid, () => runKko(repoRoot, work, env, n, profileDir));
        const k = { ...kr.result, registryCpu: kr.registryCpu };
        kkoRuns.push(k);
        log(`  kko ${secs(k.seconds)}, CPU ${k.cpuSeconds?.toFixed(2) ?? '?'}s, peak RSS ${rssMiB(k.maxRssKiB)}`);
      };
      const timeSkopeo = async () => {
        log(`timing skopeo copy loop (${IMAGES.length * ARCHES.length} copies) + ${TAR_LABEL}${tag}…`);
        const sr = await withRegistryCpu(reg.pid, () => runSkopeo(work, env, host, n));
        const s = { ...sr.result, registryCpu: sr.registryCpu };
        skopeoRuns.push(s);
        log(`  skopeo loop ${secs(s.seconds)}, CPU ${s.cpuSeconds?.toFixed(2) ?? '?'}s, tar ${secs(s.tarSeconds)}`);
      };
      // Alternate the order so neither side always runs right after the other's disk writes.
      for (const step of n % 2 === 1 ? [timeKko, timeSkopeo] : [timeSkopeo, timeKko]) await step();
    }
    await proxy?.stop();
    const loadAfter = loadLine();

    // Best of the repeats for each side (least disturbed by other load); the peak RSS is the worst.
    const k = /** @type {KkoRun} */ (kkoRuns.reduce((a, b) => (b.seconds < a.seconds ? b : a)));
    const s = /** @type {SkopeoRun} */ (skopeoRuns.reduce((a, b) => (b.seconds < a.seconds ? b : a)));
    const sTar = Math.min(...skopeoRuns.map((r) => r.seconds + r.tarSeconds));
    const kRss = Math.max(...kkoRuns.map((r) => r.maxRssKiB ?? 0)) || undefined;
    const sRss = Math.max(...skopeoRuns.map((r) => r.maxRssKiB ?? 0)) || undefined;
    const ratio = k.seconds / s.seconds;
    const ratioTar = k.seconds / sTar;
    const rate = (/** @type {number} */ bytes, /** @type {number} */ sec) => `${(bytes / MiB / sec).toFixed(1)}`;
    const cpu = (/** @type {number | undefined} */ x) => (x === undefined ? '?' : x.toFixed(2));

    const lines = [];
    lines.push('');
    lines.push(
      table(
        ['export (cold cache, empty output)', 'seconds', 'MiB/s', 'kko/this', 'CPU s', 'registry CPU s', 'peak RSS', 'fetched'],
        [
          [`kko artifact export --compress ${COMPRESS}`, k.seconds.toFixed(2), rate(k.fetchedBytes, k.seconds), '1.00', cpu(k.cpuSeconds), cpu(k.registryCpu), rssMiB(kRss), mib(k.fetchedBytes)],
          [`skopeo copy loop (${s.perCopy.length} serial copies)`, s.seconds.toFixed(2), rate(s.fetchedBytes, s.seconds), ratio.toFixed(2), cpu(s.cpuSeconds), cpu(s.registryCpu), `${rssMiB(sRss)}/copy`, mib(s.fetchedBytes)],
          [`skopeo copy loop + ${TAR_LABEL} of the layout`, sTar.toFixed(2), rate(s.fetchedBytes, sTar), ratioTar.toFixed(2), '', '', '', mib(s.fetchedBytes)],
        ],
      ),
    );
    lines.push('');
    const ph = k.phases;
    lines.push(`kko phases: startup ${secs(ph.startup ?? 0)}, resolve manifests+configs ${secs(ph.resolve ?? 0)}, layers ${secs(ph.layers ?? 0)}, write tar ${secs(ph.archive ?? 0)}, exit ${secs(ph.exit ?? 0)}; artifact ${mib(k.outputBytes)}`);
    lines.push(`skopeo: per copy median ${secs(median(s.perCopy))}, min ${secs(Math.min(...s.perCopy))}, max ${secs(Math.max(...s.perCopy))}; ${TAR_LABEL} ${secs(s.tarSeconds)}`);
    if (repeat > 1) {
      const med = (/** @type {number[]} */ xs) => median(xs).toFixed(2);
      lines.push(
        `runs: kko ${kkoRuns.map((r) => r.seconds.toFixed(2)).join(', ')}; skopeo loop ${skopeoRuns.map((r) => r.seconds.toFixed(2)).join(', ')} (best of each above; median ratio ${(median(kkoRuns.map((r) => r.seconds)) / median(skopeoRuns.map((r) => r.seconds))).toFixed(2)}, kko ${med(kkoRuns.map((r) => r.seconds))}s vs ${med(skopeoRuns.map((r) => r.seconds))}s)`,
      );
    }
    if (rttMs > 0) lines.push(`network: ${rttMs} ms round trip through a delay proxy (KKO_BENCH_RTT_MS); without it the registry is plain loopback`);
    lines.push(`fixture: ${mib(spec.uniqueBytes)} unique, ${fixture.built ? `built in ${secs(fixture.buildSeconds)}` : 'cached'}, verified in ${secs(fixture.verifySeconds)}; peak RSS via ${rssSource}`);
    if (profileDir) lines.push(`kko CPU profiles (--cpu-prof; timings of this run are inflated): ${profileDir}`);
    lines.push(`load average: before ${loadBefore}, after ${loadAfter}`);
    const rssN = kRss === undefined ? NaN : kRss / 1024;
    const rssText = `peak RSS ${Number.isNaN(rssN) ? '?' : rssN.toFixed(0)} MB (target <= ${TARGET_RSS_MIB})`;
    const summary =
      COMPRESS === 'gzip'
        ? `export to .tar.gz: kko ${k.seconds.toFixed(2)}s, skopeo loop + tar czf ${sTar.toFixed(2)}s, ratio ${ratioTar.toFixed(2)} (target <= 0.20), ${rssText}`
        : `export: kko ${k.seconds.toFixed(2)}s, skopeo loop ${s.seconds.toFixed(2)}s, ratio ${ratio.toFixed(2)} (target <= ${TARGET_RATIO}), ${rssText}`;
    lines.push(summary);
    console.log(lines.join('\n'));
    return { ok: (COMPRESS === 'gzip' ? ratioTar <= 0.2 : ratio <= TARGET_RATIO) && rssN <= TARGET_RSS_MIB, summary };
  } finally {
    await reg.stop();
  }
}
