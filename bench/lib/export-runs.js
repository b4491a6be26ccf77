// The two sides of the export bench, each run once from a cold cache into an empty output:
// `kko artifact export` (timed from the outside, phases from its NDJSON events) and kk v3's path, a serial
// loop of `skopeo copy docker://… oci:DIR:<ref>-<arch>` into one OCI layout, optionally followed by `tar cf`.
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHES, IMAGES } from './fixture.js';
import { duBytes } from './format.js';
import { cpuSecondsOf, measure, run } from './proc.js';

export const SKOPEO = process.env.KKO_BENCH_SKOPEO ?? 'skopeo';

/**
 * @typedef {{ seconds: number, cpuSeconds?: number, registryCpu?: number, maxRssKiB?: number, fetchedBytes: number, outputBytes: number, phases: Record<string, number>, progressEvents: number }} KkoRun
 * @typedef {{ seconds: number, cpuSeconds?: number, registryCpu?: number, tarSeconds: number, tarSyncSeconds: number, tarCpuSeconds?: number, maxRssKiB?: number, fetchedBytes: number, perCopy: number[] }} SkopeoRun
 * @typedef {{ repoRoot: string, work: string, env: NodeJS.ProcessEnv, compress: 'none' | 'gzip', concurrency?: number, profileDir?: string }} RunContext
 */

/** @param {string} name @param {number} fallback @param {{ min?: number, integer?: boolean }} [o] */
export function envNumber(name, fallback, o = {}) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  const min = o.min ?? 1;
  if (!Number.isFinite(n) || n < min || ((o.integer ?? true) && !Number.isInteger(n)))
    throw new Error(`${name}="${v}": expected a ${o.integer === false ? '' : 'whole '}number >= ${min}`);
  return n;
}

// Children get a minimal environment: no proxy variables, no KKZONE/KKO_* settings, a private HOME
// (no ~/.docker/config.json credential helpers), so nothing but the loopback registry is contacted.
/** @param {string} home */
export function childEnv(home) {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    NO_PROXY: '127.0.0.1',
    no_proxy: '127.0.0.1',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  };
}

/** @param {string} repoRoot @param {string[]} args @param {object} opts @param {string[]} [nodeArgs] */
export const kko = (repoRoot, args, opts, nodeArgs = []) =>
  measure(process.execPath, [...nodeArgs, join(repoRoot, 'bin', 'kko.js'), ...args], opts);

/** Registry CPU seconds used while `fn` ran (undefined off Linux). @template T @param {number} pid @param {() => Promise<T>} fn */
export async function withRegistryCpu(pid, fn) {
  const before = cpuSecondsOf(pid);
  const result = await fn();
  const after = cpuSecondsOf(pid);
  return { result, registryCpu: before !== undefined && after !== undefined ? after - before : undefined };
}

/**
 * Refuse to time anything unless kko's own plan sends every image × arch to `host` only.
 * @param {RunContext} ctx @param {string} mirrors the mirror config file (relative to work) @param {string} host
 */
export async function checkPlan(ctx, mirrors, host) {
  const r = await kko(
    ctx.repoRoot,
    ['artifact', 'export', '-m', 'manifest.yaml', '--mirror-config', mirrors, '--dry-run', '--json'],
    { cwd: ctx.work, env: ctx.env },
  );
  if (r.code !== 0) throw new Error(`kko --dry-run failed (${r.code}): ${r.stderr.trim()}`);
  const plan = JSON.parse(r.stdout);
  const images = /** @type {Array<{ refName: string, sources: Array<{ registry: string }> }>} */ (plan.images);
  if (images.length !== IMAGES.length * ARCHES.length)
    throw new Error(`kko plans ${images.length} image × arch, expected ${IMAGES.length * ARCHES.length}`);
  const off = images.filter((i) => i.sources.length === 0 || i.sources.some((s) => s.registry !== host));
  if (off.length > 0)
    throw new Error(
      `kko would contact something other than ${host} for ${off.map((i) => i.refName).join(', ')}; refusing to run`,
    );
}

/**
 * @param {RunContext} ctx @param {string} mirrors @param {string} name a fresh directory name under work
 * @returns {Promise<KkoRun>}
 */
export async function runKko(ctx, mirrors, name) {
  const dir = join(ctx.work, name);
  await mkdir(dir);
  const out = join(dir, 'artifact.tar');
  const args = [
    'artifact',
    'export',
    '-m',
    'manifest.yaml',
    '--mirror-config',
    mirrors,
    '-o',
    out,
    '--cache',
    join(dir, 'cache'),
    '--compress',
    ctx.compress,
    '--json',
  ];
  if (ctx.concurrency) args.push('--concurrency', String(ctx.concurrency));
  /** @type {Record<string, number>} first arrival (ms since spawn) of each event type; last for image-done */
  const at = {};
  /** @type {Record<string, any>} */
  const last = {};
  let progressEvents = 0;
  const nodeArgs = ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] : [];
  const onLine = (/** @type {string} */ line, /** @type {number} */ ms) => {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    if (e.type === 'progress') progressEvents++;
    if (e.type === 'image-done' || !(e.type in at)) at[e.type] = ms;
    last[e.type] = e;
  };
  const r = await kko(ctx.repoRoot, args, { cwd: ctx.work, env: ctx.env, onLine }, nodeArgs);
  if (r.code !== 0)
    throw new Error(`kko artifact export exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-3000)}`);
  const done = last.done;
  if (!done || done.failed !== 0 || done.images !== IMAGES.length * ARCHES.length)
    throw new Error(`kko: unexpected done event ${JSON.stringify(done)}`);
  const outputBytes = (await stat(out)).size;
  const ms = r.seconds * 1000;
  // Each image's layers start as soon as it is resolved, so `resolve` (until every image is) overlaps `layers`
  // (from the first image resolved to the last one done); startup + firstImage + layers + archive + exit = total.
  const phases = {
    startup: at.plan ?? 0,
    firstImage: (at['image-start'] ?? at.resolved ?? 0) - (at.plan ?? 0),
    resolve: (at.resolved ?? 0) - (at.plan ?? 0),
    layers: (at['image-done'] ?? 0) - (at['image-start'] ?? at.resolved ?? 0),
    archive: (at.archive ?? 0) - (at['image-done'] ?? 0),
    exit: ms - (at.done ?? ms),
  };
  await rm(dir, { recursive: true, force: true });
  return {
    seconds: r.seconds,
    cpuSeconds: r.cpuSeconds,
    maxRssKiB: r.maxRssKiB,
    fetchedBytes: done.fetchedBytes,
    outputBytes,
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v / 1000])),
    progressEvents,
  };
}

/**
 * kk's path: one `skopeo copy` per image × arch, serially, into one OCI layout; then (withTar) `tar cf` of it.
 * @param {RunContext} ctx @param {string} host @param {string} name @param {boolean} withTar
 * @returns {Promise<SkopeoRun>}
 */
export async function runSkopeo(ctx, host, name, withTar) {
  const dir = join(ctx.work, name);
  const layout = join(dir, 'images');
  await mkdir(dir);
  const perCopy = [];
  let maxRssKiB = 0;
  let cpuSeconds = 0;
  for (const img of IMAGES) {
    for (const arch of ARCHES) {
      const src = `docker://${host}/${img.repo}:${img.tag}`;
      const dst = `oci:${layout}:docker.io/${img.repo}:${img.tag}-${arch}`;
      const r = await measure(
        SKOPEO,
        [
          '--policy',
          join(ctx.work, 'policy.json'),
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          '--override-arch',
          arch,
          src,
          dst,
        ],
        { cwd: ctx.work, env: ctx.env },
      );
      if (r.code !== 0)
        throw new Error(`skopeo copy ${src} (${arch}) exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
      perCopy.push(r.seconds);
      cpuSeconds += r.cpuSeconds ?? NaN;
      maxRssKiB = Math.max(maxRssKiB, r.maxRssKiB ?? 0);
    }
  }
  // The loop's time is the sum of the copies' wall times (spawn to exit), so the bench's own
  // bookkeeping between copies is not charged to skopeo.
  const seconds = perCopy.reduce((a, b) => a + b, 0);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  if (index.manifests?.length !== IMAGES.length * ARCHES.length)
    throw new Error(`skopeo layout has ${index.manifests?.length} refs, expected ${IMAGES.length * ARCHES.length}`);
  const fetched = await duBytes(join(layout, 'blobs'));
  const tar = withTar
    ? await run('tar', [ctx.compress === 'gzip' ? 'czf' : 'cf', join(dir, 'images.tar'), '-C', dir, 'images'], {
        env: ctx.env,
      })
    : undefined;
  // kko's artifact is fsynced before it gets its name; the tar is not. `sync FILE` (GNU coreutils: fsync of that file
  // only, not the layout) times what putting the tar on disk as well would add; reported beside, not in the target.
  const tarSync = tar ? await run('sync', [join(dir, 'images.tar')], { env: ctx.env }) : undefined;
  await rm(dir, { recursive: true, force: true });
  return {
    seconds,
    tarSeconds: tar?.seconds ?? 0,
    tarSyncSeconds: tarSync?.seconds ?? 0,
    ...(tar?.cpuSeconds === undefined ? {} : { tarCpuSeconds: tar.cpuSeconds }),
    fetchedBytes: fetched.bytes,
    perCopy,
    ...(Number.isNaN(cpuSeconds) ? {} : { cpuSeconds }),
    ...(maxRssKiB > 0 ? { maxRssKiB } : {}),
  };
}
