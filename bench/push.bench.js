// Push benchmark (issue #11): `kko artifact images push` (the artifact read in place) against kk's push path, a
// serial loop of `skopeo copy oci:DIR:<ref>-<arch> docker://<registry>/<ns>/<name>:<tag>-<arch>` over the same
// images unpacked, into an empty registry each run, in the same run, in two settings:
// - lan: through a proxy that models a LAN link (KKO_BENCH_PUSH_RTT_MS, default 1 ms round trip; a link cap of
//   KKO_BENCH_PUSH_LINK_MBPS, default 125 MB/s ≈ 1 Gbit/s, in each direction);
// - loopback: the plain loopback registry (CPU-bound).
// Then a re-push of the unchanged artifact into the filled registry (no blob bytes may be sent).
// Each side runs KKO_BENCH_REPEAT times (default 3) per setting, alternating which goes first; the best run counts.
// kk's side is not charged for its untar nor for its manifest lists (manifest-tool), so its times are a floor.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHES, ensureFixture, IMAGES, verifyServed } from './lib/fixture.js';
import { loadLine, MiB, mib, secs, table } from './lib/format.js';
import { startDelayProxy } from './lib/delay-proxy.js';
import { envNumber, SKOPEO } from './lib/export-runs.js';
import { measure, run } from './lib/proc.js';
import { startRegistry } from './lib/registry.js';
import { benchWorkspace } from './lib/workspace.js';

export const description =
  'kko artifact images push vs a serial skopeo copy loop (kk v3 push path), over a modelled LAN link and on loopback, plus a re-push';

const TARGETS = { lan: 0.33, loopback: 1.0, repush: 0.1 };
const MB = 1e6;

/** @param {string} repoRoot @param {string[]} args @param {object} opts */
const kko = (repoRoot, args, opts) => measure(process.execPath, [join(repoRoot, 'bin', 'kko.js'), ...args], opts);

/** The NDJSON done event of a push. @param {string} stdout */
function doneOf(stdout) {
  const lines = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  return JSON.parse(lines.at(-1) ?? '{}');
}

export default async function pushBench(ctx) {
  const { repoRoot, distDir, log } = ctx;
  const sizeMiB = envNumber('KKO_BENCH_PUSH_MB', 300);
  const rttMs = envNumber('KKO_BENCH_PUSH_RTT_MS', 1, { min: 0, integer: false });
  const linkMBps = envNumber('KKO_BENCH_PUSH_LINK_MBPS', 125, { min: 0, integer: false });
  const fixture = await ensureFixture({ distDir, mib: sizeMiB, log });
  const src = await startRegistry({ root: fixture.root, readonly: true });
  await verifyServed(distDir, src.host, fixture.spec);
  const { work, env } = await benchWorkspace('kko-bench-push-', { mirrorHost: src.host });
  log(
    `exporting the ${IMAGES.length} × ${ARCHES.length} fixture images (${mib(fixture.spec.uniqueBytes)} unique) to an artifact…`,
  );
  const art = join(work, 'art.tar');
  const exp = await kko(
    repoRoot,
    [
      'artifact',
      'export',
      '-m',
      'manifest.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '-o',
      art,
      '--cache',
      join(work, 'cache'),
      '--compress',
      'none',
      '--json',
    ],
    { cwd: work, env },
  );
  if (exp.code !== 0) throw new Error(`export failed: ${exp.stderr.slice(-2000)}`);
  await src.stop();
  // kk's side reads the unpacked layout (kk untars the artifact before it pushes; that time is not counted)
  await mkdir(join(work, 'unpacked'));
  await run('tar', ['-xf', art, '-C', join(work, 'unpacked'), 'images']);
  const refNames = IMAGES.flatMap((i) => ARCHES.map((a) => `docker.io/${i.repo}:${i.tag}-${a}`));

  const repeat = envNumber('KKO_BENCH_REPEAT', 3);
  log(`before the timings: ${loadLine()}`);

  // One timed run of one side in one setting, into a fresh empty registry (then kko's re-push into the filled one).
  const once = async (scenario, side, n) => {
    const dst = await startRegistry({ root: join(work, `reg-${scenario}-${side}-${n}`) });
    const proxy =
      scenario === 'lan'
        ? await startDelayProxy({
            targetPort: Number(dst.host.split(':')[1]),
            rttMs,
            linkBytesPerSec: linkMBps * MB,
            upLinkBytesPerSec: linkMBps * MB,
          })
        : undefined;
    const host = proxy?.host ?? dst.host;
    try {
      if (side === 'kko') {
        const args = [
          'artifact',
          'images',
          'push',
          '-a',
          art,
          '--registry',
          host,
          '--plain-http',
          '--kk-version',
          'v3.1.12',
          '--json',
        ];
        const first = await kko(repoRoot, args, { cwd: work, env });
        if (first.code !== 0) throw new Error(`kko push exited ${first.code}: ${first.stderr.slice(-2000)}`);
        const again = await kko(repoRoot, args, { cwd: work, env });
        if (again.code !== 0) throw new Error(`kko re-push exited ${again.code}: ${again.stderr.slice(-2000)}`);
        const d1 = doneOf(first.stdout);
        const d2 = doneOf(again.stdout);
        log(
          `${scenario} #${n}: kko push ${secs(first.seconds)} (CPU ${secs(first.cpuSeconds ?? Number.NaN)}, ${mib(d1.bytesSent)} sent, RSS ${((first.maxRssKiB ?? 0) / 1024).toFixed(0)} MiB), re-push ${secs(again.seconds)} (${d2.bytesSent} bytes sent)`,
        );
        return {
          seconds: first.seconds,
          cpu: first.cpuSeconds,
          repushCpu: again.cpuSeconds,
          rss: first.maxRssKiB,
          sent: d1.bytesSent,
          repush: again.seconds,
          resent: d2.bytesSent,
        };
      }
      const t0 = process.hrtime.bigint();
      for (const ref of refNames) {
        const name = ref.slice('docker.io/'.length);
        const r = await run(
          SKOPEO,
          [
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            `oci:${join(work, 'unpacked', 'images')}:${ref}`,
            `docker://${host}/${name}`,
          ],
          { env },
        );
        if (r.code !== 0) throw new Error(`skopeo copy ${ref} failed: ${r.stderr}`);
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      log(`${scenario} #${n}: skopeo loop (${refNames.length} copies) ${secs(seconds)}`);
      return { seconds };
    } finally {
      await proxy?.stop();
      await dst.stop();
      await rm(join(work, `reg-${scenario}-${side}-${n}`), { recursive: true, force: true });
    }
  };

  // KKO_BENCH_REPEAT runs per side and setting, alternating which side goes first; the best of each side counts
  // (the run least disturbed by other load), the runs line lists all of them.
  const runs = { lan: { kko: [], skopeo: [] }, loopback: { kko: [], skopeo: [] } };
  for (const scenario of ['lan', 'loopback']) {
    for (let n = 0; n < repeat; n++) {
      const order = n % 2 === 0 ? ['kko', 'skopeo'] : ['skopeo', 'kko'];
      for (const side of order) runs[scenario][side].push(await once(scenario, side, n));
    }
  }
  log(`after the timings: ${loadLine()}`);
  const best = (xs, key) => Math.min(...xs.map((x) => x[key]));
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const summary = [];
  let ok = true;
  const lines = [];
  for (const scenario of ['lan', 'loopback']) {
    const ks = runs[scenario].kko;
    const ss = runs[scenario].skopeo;
    const k = best(ks, 'seconds');
    const s = best(ss, 'seconds');
    const ratio = k / s;
    const rp = best(ks, 'repush');
    const re = rp / k;
    const resent = Math.max(...ks.map((x) => x.resent));
    const rss = Math.max(...ks.map((x) => x.rss ?? 0));
    const met = ratio <= TARGETS[scenario] && re <= TARGETS.repush && resent === 0;
    ok &&= met;
    lines.push([
      scenario,
      secs(k),
      secs(s),
      `${ratio.toFixed(2)} (≤ ${TARGETS[scenario]})`,
      `${secs(rp)} = ${re.toFixed(2)} (≤ ${TARGETS.repush}), ${resent} B sent`,
      `${(rss / 1024).toFixed(0)} MiB`,
    ]);
    const cpus = ks.map((x) => x.cpu).filter((c) => c !== undefined);
    if (cpus.length > 0)
      console.log(
        `cpu ${scenario}: kko first push ${cpus.map((c) => c.toFixed(2)).join(' ')} CPU s, re-push ${ks.map((x) => (x.repushCpu ?? Number.NaN).toFixed(2)).join(' ')} CPU s (less sensitive to load than wall time)`,
      );
    const medRatio = median(ks.map((x) => x.seconds)) / median(ss.map((x) => x.seconds));
    const medRe = median(ks.map((x) => x.repush / x.seconds));
    summary.push(`push ${scenario}: kko/skopeo ${ratio.toFixed(2)}, re-push ${re.toFixed(2)} of first`);
    console.log(
      `runs ${scenario}: kko ${ks.map((x) => x.seconds.toFixed(2)).join(' ')} s, skopeo ${ss.map((x) => x.seconds.toFixed(2)).join(' ')} s, re-push ${ks.map((x) => x.repush.toFixed(2)).join(' ')} s; median ratio ${medRatio.toFixed(2)}, median re-push ${medRe.toFixed(2)}`,
    );
  }
  console.log(table(['setting', 'kko push', 'skopeo loop', 'ratio', 're-push', 'kko RSS'], lines));
  console.log(
    `(best of ${repeat} per side, alternating order; ${IMAGES.length} images × ${ARCHES.length} arches, ${mib(fixture.spec.uniqueBytes)} unique; lan = ${rttMs} ms RTT, ${linkMBps} MB/s each way; MiB = ${MiB} B)`,
  );
  return { ok, summary: summary.join('; ') };
}
