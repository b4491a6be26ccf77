// Benchmark of the archive writer (issue 4, "Performance"): on one image-layout-shaped tree (~600 MB, mostly
// already-gzipped layers of 5–60 MB plus JSON), in the same run:
//   kko writeArchive(..., 'gzip')  vs  tar czf        (GNU tar + gzip -6)
//   kko writeArchive(..., 'zstd')  vs  tar --zstd -cf (GNU tar + zstd -3)
// Prints throughput (MB/s of tar input), the kko/tar ratio (targets: ≥ 5× for gzip, ≥ 1× for zstd, issue #10) and
// kko's peak RSS. zstd is timed twice: into a file (what an export does; both writers are mostly disk-bound) and into
// /dev/null (the writers' own CPU cost, and CPU seconds of each side).
// Needs `npm run build` first (imports ../dist). KKO_BENCH_MB changes the tree size.
//   node bench/run.js compress
import { spawn } from 'node:child_process';
import { createWriteStream, openSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const MB = 1e6;
const ROUNDS = 2;
const SELF = fileURLToPath(import.meta.url);
const gzipAsync = promisify(gzip);

// A small deterministic PRNG for layer sizes (mulberry32), so every run builds the same shape.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (i, kind) => `${kind}${String(i).padStart(8, '0')}`.padEnd(64, '0');

// The tree: tree/oci-layout, tree/index.json, tree/blobs/sha256/<hex> (layers: gzip of random bytes; configs and
// manifests: JSON). meta.json beside it tells the kko child which entries are compressed layers.
async function buildTree(root, totalMB) {
  const tree = join(root, 'tree');
  const blobs = join(tree, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const rand = prng(4);
  const entries = [];
  let total = 0;
  for (let i = 0; total < totalMB * MB; i++) {
    const size = Math.round((5 + rand() * 55) * MB);
    const layer = await gzipAsync(randomBytes(size), { level: 1 });
    await writeFile(join(blobs, hex(i, 'a')), layer);
    entries.push({ name: `blobs/sha256/${hex(i, 'a')}`, compressed: true });
    total += layer.length;
    const config = JSON.stringify(
      {
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/usr/bin'] },
        rootfs: { type: 'layers', diff_ids: [`sha256:${hex(i, 'd')}`] },
        history: Array.from({ length: 40 }, (_, k) => ({ created_by: `RUN step ${k}` })),
      },
      null,
      2,
    );
    const manifest = JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { digest: `sha256:${hex(i, 'c')}` },
        layers: [{ digest: `sha256:${hex(i, 'a')}`, size: layer.length }],
      },
      null,
      2,
    );
    await writeFile(join(blobs, hex(i, 'c')), config);
    await writeFile(join(blobs, hex(i, 'e')), manifest);
    entries.push({ name: `blobs/sha256/${hex(i, 'c')}` }, { name: `blobs/sha256/${hex(i, 'e')}` });
    total += config.length + manifest.length;
  }
  const index = JSON.stringify(
    {
      schemaVersion: 2,
      manifests: entries.filter((e) => e.name.includes('/e')).map((e) => ({ digest: `sha256:${e.name.slice(-64)}` })),
    },
    null,
    2,
  );
  await writeFile(join(tree, 'index.json'), index);
  await writeFile(join(tree, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  entries.push({ name: 'index.json' }, { name: 'oci-layout' });
  await writeFile(join(root, 'meta.json'), JSON.stringify(entries));
  return { tree, bytes: total, layers: entries.filter((e) => e.compressed).length, entryCount: entries.length };
}

// Run a command; resolve with wall seconds and its stdout (`stdout`: an fd to send it to instead).
function timed(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      stdio: ['ignore', opts.stdout ?? 'pipe', 'inherit'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ seconds: (performance.now() - t0) / 1000, stdout: out })
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`)),
    );
  });
}

// Child mode: write one archive with kko (output /dev/null: streamed there as `-o -` would) and report its own
// time, CPU seconds and peak RSS (KiB) as JSON.
async function child(root, output, compress) {
  const { writeArchive } = await import('../dist/archive/write.js');
  const meta = JSON.parse(await readFile(join(root, 'meta.json'), 'utf8'));
  const entries = meta.map((e) => ({
    name: `images/${e.name}`,
    file: join(root, 'tree', e.name),
    ...(e.compressed ? { compressed: true } : {}),
  }));
  const devNull = output === '/dev/null' ? createWriteStream('/dev/null') : undefined;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await writeArchive(entries, devNull ? '-' : output, compress, {}, devNull ? { stdout: devNull } : {});
  if (devNull) await new Promise((resolve) => devNull.end(resolve));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssKiB: await peakRssKiB() }),
  );
}

// VmHWM of this process image. getrusage's maxRSS survives exec, so after spawn() (fork + exec) it can report the
// parent's peak (here: the tree builder's) instead of ours; /proc's high-water mark starts fresh at exec.
async function peakRssKiB() {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(await readFile('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

// Each run starts with no dirty pages from the previous one (its writeback would be billed to the next writer).
async function kko(root, output, compress) {
  await timed('sync', []);
  const r = await timed(process.execPath, [SELF, '--child', root, output, compress]);
  return { ...JSON.parse(r.stdout), size: output === '/dev/null' ? NaN : (await stat(output)).size };
}

// GNU tar into `output`, or (output /dev/null) `-f -` with stdout on /dev/null: tar skips reading files when the
// archive itself is /dev/null, so it writes to a pipe (its zstd child) that ends there. CPU seconds via GNU time.
async function tar(root, output, flags) {
  await timed('sync', []);
  const toNull = output === '/dev/null';
  const fd = toNull ? openSync('/dev/null', 'w') : undefined;
  const timeFile = join(root, 'time.txt');
  try {
    const r = await timed(
      '/usr/bin/time',
      ['-f', '%U %S', '-o', timeFile, 'tar', '-C', join(root, 'tree'), ...flags, toNull ? '-' : output, '.'],
      fd === undefined ? {} : { stdout: fd },
    );
    const [user, sys] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop().split(' ').map(Number);
    return { seconds: r.seconds, cpuSeconds: user + sys, size: toNull ? NaN : (await stat(output)).size };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const fmt = (bytes, r) =>
  `${(bytes / MB / r.seconds).toFixed(0).padStart(6)} MB/s  ${r.seconds.toFixed(2).padStart(6)} s  ${Number.isNaN(r.size) ? '   (/dev/null)' : `${(r.size / MB).toFixed(1).padStart(7)} MB out`}  CPU ${r.cpuSeconds.toFixed(2)} s`;

export const description =
  'archive writer: kko gzip (layers stored) and zstd vs GNU tar czf / tar --zstd on a ~600 MB image-layout tree';

// Runner entry (bench/run.js): returns whether the gzip target (>= 5x tar czf) was met.
export default async function compressBench() {
  const root = await mkdtemp(join(tmpdir(), 'kko-bench-compress-'));
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    const t0 = performance.now();
    const { bytes, layers, entryCount } = await buildTree(root, Number(process.env.KKO_BENCH_MB ?? 600));
    console.log(
      `tree: ${(bytes / MB).toFixed(0)} MB, ${layers} gzip layers + JSON (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const out = (n) => join(root, n);
    // Best of ROUNDS for each writer, alternating kko and tar, since disk writeback makes single runs noisy.
    const best = (a, b) => (a && a.seconds <= b.seconds ? a : b);
    let kGz, tGz, kZst, tZst, kZstNull, tZstNull;
    for (let round = 0; round < ROUNDS; round++) {
      kGz = best(kGz, await kko(root, out('kko.tar.gz'), 'gzip'));
      tGz = best(tGz, await tar(root, out('tar.tar.gz'), ['-czf']));
      kZst = best(kZst, await kko(root, out('kko.tar.zst'), 'zstd'));
      tZst = best(tZst, await tar(root, out('tar.tar.zst'), ['--zstd', '-cf']));
      kZstNull = best(kZstNull, await kko(root, '/dev/null', 'zstd'));
      tZstNull = best(tZstNull, await tar(root, '/dev/null', ['--zstd', '-cf']));
    }
    await timed('gzip', ['-t', out('kko.tar.gz')]);
    await timed('zstd', ['-q', '-t', out('kko.tar.zst')]);
    const listed = (await timed('tar', ['--zstd', '-tf', out('kko.tar.zst')])).stdout.trim().split('\n').length;
    if (listed !== entryCount)
      throw new Error(`tar --zstd -tf lists ${listed} entries of kko's .tar.zst, expected ${entryCount}`);
    const rss = (r) => `peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB`;
    console.log(`kko gzip                ${fmt(bytes, kGz)}  ${rss(kGz)}`);
    console.log(`tar czf                 ${fmt(bytes, tGz)}`);
    console.log(`kko zstd                ${fmt(bytes, kZst)}  ${rss(kZst)}`);
    console.log(`tar --zstd              ${fmt(bytes, tZst)}`);
    console.log(`kko zstd  > /dev/null   ${fmt(bytes, kZstNull)}  ${rss(kZstNull)}`);
    console.log(`tar --zstd > /dev/null  ${fmt(bytes, tZstNull)}`);
    console.log(
      `(best of ${ROUNDS} runs each; peak RSS is the kko child's VmHWM; CPU: kko's process, tar's with its gzip/zstd child)`,
    );
    const gzRatio = tGz.seconds / kGz.seconds;
    const zstRatio = tZst.seconds / kZst.seconds;
    const zstNullRatio = tZstNull.seconds / kZstNull.seconds;
    const peakMiB = Math.max(kGz.maxRssKiB, kZst.maxRssKiB, kZstNull.maxRssKiB) / 1024;
    const summary =
      `compress: kko gzip ${(bytes / MB / kGz.seconds).toFixed(0)} MB/s vs tar czf ${(bytes / MB / tGz.seconds).toFixed(0)} MB/s, ratio ${gzRatio.toFixed(1)}x (target >= 5x); ` +
      `kko zstd/tar --zstd throughput ${zstRatio.toFixed(2)}x to a file, ${zstNullRatio.toFixed(2)}x to /dev/null (target >= 1x; CPU s ${kZstNull.cpuSeconds.toFixed(2)} vs ${tZstNull.cpuSeconds.toFixed(2)}); peak RSS ${peakMiB.toFixed(0)} MiB (target <= 256)`;
    console.log(summary);
    console.log(`kko outputs pass gzip -t and zstd -t; tar --zstd -tf lists all ${entryCount} entries`);
    return { ok: gzRatio >= 5 && zstRatio >= 1 && peakMiB <= 256, summary };
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4], process.argv[5]);
