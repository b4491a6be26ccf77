// Delta benchmark (#12 item 3): a Kubernetes patch-upgrade shaped fixture (v1.28.8 → v1.28.12: the four control-plane
// images change their top layer and config, four other images and the shared base layer stay; of two repository
// ISOs one changes) in a loopback registry and file server. `kko artifact export --base OLD` writes the delta; the
// figure is the delta's size on disk over the bytes of the blobs and files that really changed (target ≤ 1.05).
// KKO_BENCH_DELTA_MB (default 64): size of the changed top layers and ISO together, roughly.
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onCleanup, tempDir } from './lib/cleanup.js';
import { mib, MiB, table } from './lib/format.js';
import { childEnv, envNumber, kko } from './lib/export-runs.js';
import { startRegistry } from './lib/registry.js';

export const description =
  'size of a delta artifact (export --base) over the bytes that really changed, patch-upgrade fixture';

const TARGET = 1.05;
const K8S = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'];
const OTHERS = ['pause:3.9', 'coredns:1.10.1', 'etcd:v3.5.13', 'calico-node:v3.27.4'];
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export default async function deltaBench(ctx) {
  const { repoRoot, distDir, log } = ctx;
  const sizeMiB = envNumber('KKO_BENCH_DELTA_MB', 64);
  const { RegistryClient } = await import(pathToFileURL(join(distDir, 'registry', 'index.js')).href);
  const work = await tempDir('kko-bench-delta-');
  const reg = await startRegistry({ root: join(work, 'reg') });
  const client = new RegistryClient(reg.host, { plainHTTP: true });
  const base = randomBytes(Math.round(sizeMiB * 0.5 * MiB)); // shared by every image, unchanged
  const own = Math.round((sizeMiB * 0.6 * MiB) / K8S.length);
  /** Push one image (base + its own layer); returns its config and layer sizes by digest. */
  const push = async (repo, tag, layer) => {
    const layers = [base, layer];
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha) } }),
    );
    for (const b of [config, ...layers]) await client.putBlob(repo, sha(b), b.length, b);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: layers.map((l) => ({ mediaType: LAYER, digest: sha(l), size: l.length })),
      }),
    );
    await client.putManifest(repo, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
    return [config, layer];
  };
  const changed = new Map(); // digest → bytes of what really changed between the releases
  for (const name of K8S) {
    await push(`kubesphere/${name}`, 'v1.28.8', randomBytes(own));
    for (const b of await push(`kubesphere/${name}`, 'v1.28.12', randomBytes(own))) changed.set(sha(b), b.length);
  }
  for (const o of OTHERS) {
    const [name, tag] = o.split(':');
    await push(`kubesphere/${name}`, tag, randomBytes(Math.round(MiB / 2)));
  }
  await client.close();
  // The ISOs: 20.04 stays, 22.04 changes.
  const isos = {
    '/same.iso': randomBytes(Math.round(sizeMiB * 0.3 * MiB)),
    '/old.iso': randomBytes(Math.round(sizeMiB * 0.3 * MiB)),
    '/new.iso': randomBytes(Math.round(sizeMiB * 0.3 * MiB)),
  };
  const files = createServer((req, res) => {
    const body = isos[req.url ?? ''];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise((r) => files.listen(0, '127.0.0.1', () => r(undefined)));
  onCleanup('stop the delta bench file server', () => new Promise((r) => files.close(() => r(undefined))));
  const url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (files.address()).port}`;
  const manifest = (k8s, iso) => {
    const os = (v, path) =>
      `  - {arch: amd64, type: linux, id: ubuntu, version: "${v}", repository: {iso: {url: "${url}${path}", checksum: "${sha(isos[path]).slice(7)}"}}}\n`;
    const images = [...K8S.map((n) => `${n}:${k8s}`), ...OTHERS].map((i) => `  - docker.io/kubesphere/${i}\n`);
    return `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: b}\nspec:\n  arches: [amd64]\n  operatingSystems:\n${os('20.04', '/same.iso')}${os('22.04', iso)}  images:\n${images.join('')}`;
  };
  changed.set('iso', isos['/new.iso'].length);
  await writeFile(join(work, 'old.yaml'), manifest('v1.28.8', '/old.iso'));
  await writeFile(join(work, 'new.yaml'), manifest('v1.28.12', '/new.iso'));
  await writeFile(
    join(work, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors:\n  - {location: ${reg.host}, plainHTTP: true}\n  upstream: false\n`,
  );
  const opts = { cwd: work, env: childEnv(work) };
  // The bytes a run fetched (its `done` event); `cache` picks the cache dir (a fresh one: everything is fetched).
  const exp = async (m, out, ...more) => exportIn('cache', m, out, ...more);
  const exportIn = async (cache, m, out, ...more) => {
    let fetchedBytes = 0;
    const onLine = (line) => {
      try {
        const e = JSON.parse(line);
        if (e.type === 'done') fetchedBytes = e.fetchedBytes;
      } catch {
        // not an event
      }
    };
    const r = await kko(
      repoRoot,
      [
        'artifact',
        'export',
        '-m',
        m,
        '--mirror-config',
        'mirrors.yaml',
        '--cache',
        cache,
        '-o',
        out,
        '--kk-version',
        'v3.1.12',
        '--json',
        ...more,
      ],
      { ...opts, onLine },
    );
    if (r.code !== 0) throw new Error(`kko artifact export ${out} exited ${r.code}: ${r.stderr.trim().slice(-2000)}`);
    return { ...r, fetchedBytes };
  };
  log('exporting the base (v1.28.8), the full v1.28.12 and its delta');
  await exp('old.yaml', 'old.tar.gz');
  await exp('new.yaml', 'new.tar.gz');
  const d = await exp('new.yaml', 'delta.tar.gz', '--base', 'old.tar.gz');
  // What the connected side downloads for each, from a cold cache: the full export, and the delta (which fetches
  // none of the layers and files its base holds; only the small configs, for the platform check).
  log('exporting the full v1.28.12 and its delta again, each into a fresh cache');
  const fullCold = await exportIn('cache-full', 'new.yaml', 'new-cold.tar.gz');
  const deltaCold = await exportIn('cache-delta', 'new.yaml', 'delta-cold.tar.gz', '--base', 'old.tar.gz');
  const [deltaSize, fullSize] = await Promise.all([stat(join(work, 'delta.tar.gz')), stat(join(work, 'new.tar.gz'))]);
  const changedBytes = [...changed.values()].reduce((n, b) => n + b, 0);
  const ratio = deltaSize.size / changedBytes;
  const ok = ratio <= TARGET;
  const lines = table(
    ['what', 'bytes', 'MiB'],
    [
      ['changed blobs + files', String(changedBytes), mib(changedBytes)],
      ['delta artifact', String(deltaSize.size), mib(deltaSize.size)],
      ['full v1.28.12 artifact', String(fullSize.size), mib(fullSize.size)],
      ['fetched: full export, cold cache', String(fullCold.fetchedBytes), mib(fullCold.fetchedBytes)],
      ['fetched: delta export, cold cache', String(deltaCold.fetchedBytes), mib(deltaCold.fetchedBytes)],
    ],
  );
  const summary = `delta: size / changed bytes = ${ratio.toFixed(4)} (target <= ${TARGET}) ${ok ? 'ok' : 'MISSED'}; delta is ${((100 * deltaSize.size) / fullSize.size).toFixed(1)}% of the full artifact; export --base took ${d.seconds.toFixed(1)} s, RSS ${d.maxRssKiB ? `${Math.round(d.maxRssKiB / 1024)} MiB` : '?'}; from a cold cache the delta export fetched ${deltaCold.fetchedBytes} bytes (${((100 * deltaCold.fetchedBytes) / fullCold.fetchedBytes).toFixed(1)}% of the full export's ${fullCold.fetchedBytes})`;
  console.log(`${lines}\n${summary}`);
  await reg.stop();
  return { ok, summary };
}
