import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildLayer, pushImage, seededBytes } from '../support/builders.js';
import { startFileServer, type FileServer } from '../support/file-server.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { main } from '../../src/cli/main.js';
import { exportArgs, mirrorPolicyYaml, pushArgs, TEST_KK } from '../support/cli-args.js';
import { skopeoRaw } from '../support/skopeo.js';
import { runCli } from '../cli/run-cli.js';

// #12 item 3 with real parts: a Kubernetes patch upgrade (v1.28.8 → v1.28.12-like) in the real distribution
// registry, where kube-apiserver and kube-proxy change their top layer (the shared base layer stays), pause and
// coredns stay, and one of two ISOs (served over HTTP) changes. The delta must hold exactly the changed blobs and
// files; applied where the base is (registry, kk work dir), it must give what the full export gives (skopeo referee).

const sh = promisify(execFile);
type Inv = {
  images: Array<{ digest: string; upstream?: { manifestDigest?: string } }>;
  isos: unknown[];
  delta: {
    base: unknown;
    omitted: { blobs: Array<{ digest: string }>; files: Array<{ path: string }> };
  };
};
const AMD64 = { os: 'linux', architecture: 'amd64' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const OLD = 'v1.28.8';
const NEW = 'v1.28.12';
const ISO_SAME = seededBytes('iso-20.04', 300 * 1024);
const ISO_OLD = seededBytes('iso-22.04-a', 200 * 1024);
const ISO_NEW = seededBytes('iso-22.04-b', 210 * 1024);

let src: ProxiedRegistry;
let files: FileServer;
let regA: TestRegistry; // holds the base, then gets the delta
let regB: TestRegistry; // gets the full new export
let regC: TestRegistry; // empty: the delta alone is refused; then delta --base
let regD: TestRegistry; // holds the base; `artifact inventory --registry` lists it, a delta --have from that is pushed
let dir: string;

const images = (k8s: string): string[] => [
  `docker.io/kubesphere/kube-apiserver:${k8s}`,
  `docker.io/kubesphere/kube-proxy:${k8s}`,
  'docker.io/kubesphere/pause:3.9',
  'docker.io/coredns/coredns:1.9.3',
];

function manifest(k8s: string, iso2: Buffer, iso2Path: string): string {
  const iso = (v: string, path: string, b: Buffer): string =>
    `  - {arch: amd64, type: linux, id: ubuntu, version: "${v}", repository: {iso: {url: "${files.url}${path}", checksum: "${sha(b)}"}}}\n`;
  return `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64]\n  operatingSystems:\n${iso('20.04', '/isos/20.04.iso', ISO_SAME)}${iso('22.04', iso2Path, iso2)}  images:\n${images(
    k8s,
  )
    .map((i) => `  - ${i}`)
    .join('\n')}\n`;
}

// `kko artifact serve` in-process until `stop` (its interrupt signal); resolves with the listening host, or the exit.
function serve(args: string[]): {
  listening: Promise<{ host: string } | { code: number; stderr: string }>;
  stop: () => Promise<number>;
} {
  const ctrl = new AbortController();
  let stdout = '';
  let stderr = '';
  let onLine: (host: string) => void = () => undefined;
  const line = new Promise<string>((resolve) => (onLine = resolve));
  const done = main(['artifact', 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], {
    stdout: (t) => {
      stdout += t;
      if (stdout.includes('\n'))
        onLine((JSON.parse(stdout.split('\n')[0] as string) as { host: string; port: number }).port.toString());
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { PATH: '', HOME: dir },
    cwd: dir,
    isTTY: false,
    interrupts: () => ctrl.signal,
  });
  return {
    listening: Promise.race([
      line.then((port) => ({ host: `127.0.0.1:${port}` })),
      done.then((code) => ({ code, stderr })),
    ]),
    stop: async () => {
      ctrl.abort(new Error('stop'));
      return done;
    },
  };
}

const kko = (args: string[]) => runCli(args, { cwd: dir, env: { HOME: dir } });
// export of manifest `m` (to the default delta name when `out` is ''), and push to `reg`, both with --json.
const exportFrom = (m: string, out: string, ...more: string[]): string[] =>
  exportArgs(out || undefined, { manifest: m }, '--kk-version', TEST_KK, '--json', ...more);
const pushTo = (art: string, reg: TestRegistry, ...more: string[]): string[] =>
  pushArgs(art, reg.host, '--json', ...more);

async function tarNames(art: string): Promise<string[]> {
  return (await sh('tar', ['-tzf', art], { maxBuffer: 1 << 24 })).stdout.trim().split('\n');
}
async function inventoryOf(art: string): Promise<Inv> {
  return JSON.parse((await sh('tar', ['-xzOf', art, 'kko/inventory.json'])).stdout) as Inv;
}
// Config and layer digests of an artifact's images (from its manifests), and its kk files.
async function contentOf(art: string): Promise<{ blobs: Set<string>; manifests: Set<string>; files: string[] }> {
  const inv = await inventoryOf(art);
  const manifests = new Set<string>();
  const blobs = new Set<string>();
  for (const row of inv.images) {
    manifests.add(row.digest);
    if (row.upstream?.manifestDigest) manifests.add(row.upstream.manifestDigest);
    const m = JSON.parse((await sh('tar', ['-xzOf', art, `images/blobs/sha256/${row.digest.slice(7)}`])).stdout) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    for (const d of [m.config, ...m.layers]) blobs.add(d.digest);
  }
  const names = await tarNames(art);
  return { blobs, manifests, files: names.filter((n) => n.endsWith('.iso')).sort() };
}

// skopeo's digest of every image of the new manifest under the pushed names.
async function pushedDigests(reg: TestRegistry | string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ref of images(NEW)) {
    const name = `${typeof reg === 'string' ? reg : reg.host}/${ref.replace('docker.io/', '')}`;
    out[ref] = (await skopeoRaw(`${name}-amd64`)).digest;
  }
  return out;
}

beforeAll(async () => {
  const base = buildLayer('k8s-base', 400 * 1024);
  src = await startProxiedRegistry('kko-delta-', async (c) => {
    for (const k8s of [OLD, NEW])
      for (const name of ['kube-apiserver', 'kube-proxy'])
        await pushImage(
          c,
          `kubesphere/${name}`,
          k8s,
          buildImage({ name: `${name}-${k8s}`, platform: AMD64, layerSize: 200 * 1024, base }),
        );
    await pushImage(c, 'kubesphere/pause', '3.9', buildImage({ name: 'pause', platform: AMD64, layerSize: 60 * 1024 }));
    await pushImage(
      c,
      'coredns/coredns',
      '1.9.3',
      buildImage({ name: 'coredns', platform: AMD64, layerSize: 120 * 1024, base }),
    );
  });
  files = await startFileServer(join(src.work.dir, 'srv'));
  await mkdir(join(files.root, 'isos'), { recursive: true });
  await writeFile(join(files.root, 'isos/20.04.iso'), ISO_SAME);
  await writeFile(join(files.root, 'isos/22.04-a.iso'), ISO_OLD);
  await writeFile(join(files.root, 'isos/22.04-b.iso'), ISO_NEW);
  [regA, regB, regC, regD] = (await Promise.all([1, 2, 3, 4].map(() => startRegistry({ mode: 'plain' })))) as [
    TestRegistry,
    TestRegistry,
    TestRegistry,
    TestRegistry,
  ];
  dir = join(src.work.dir, 'w');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'old.yaml'), manifest(OLD, ISO_OLD, '/isos/22.04-a.iso'));
  await writeFile(join(dir, 'new.yaml'), manifest(NEW, ISO_NEW, '/isos/22.04-b.iso'));
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(src.proxy.host));
  for (const [m, out] of [
    ['old.yaml', 'old.tar.gz'],
    ['new.yaml', 'new.tar.gz'],
  ]) {
    const r = await kko(exportFrom(m as string, out as string));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
}, 240_000);

afterAll(async () => {
  await Promise.all([regA?.stop(), regB?.stop(), regC?.stop(), regD?.stop(), files?.stop()]);
  await src?.stop();
});

describe('delta artifacts (#12 item 3)', () => {
  it('export --base writes (under a delta name) only the changed blobs and files, every manifest, a full inventory', async () => {
    const r = await kko(exportFrom('new.yaml', '', '--base', 'old.tar.gz'));
    expect(r.code).toBe(0);
    const delta = join(dir, 'kubekey-artifact-delta.tar.gz');
    const [old, full, got] = await Promise.all([
      contentOf(join(dir, 'old.tar.gz')),
      contentOf(join(dir, 'new.tar.gz')),
      contentOf(delta),
    ]);
    const changed = [...full.blobs].filter((d) => !old.blobs.has(d)).sort();
    expect(changed).toHaveLength(4); // two configs and two top layers: the patch upgrade
    const names = await tarNames(delta);
    const blobsIn = names.filter((n) => n.startsWith('images/blobs/sha256/')).map((n) => `sha256:${n.slice(20)}`);
    expect(blobsIn.filter((d) => !full.manifests.has(d)).sort()).toEqual(changed);
    for (const m of full.manifests) expect(blobsIn).toContain(m);
    expect(got.files).toHaveLength(1);
    expect(full.files).toHaveLength(2);
    const inv = await inventoryOf(delta);
    const fullInv = await inventoryOf(join(dir, 'new.tar.gz'));
    expect(inv.images).toEqual(fullInv.images);
    expect(inv.isos).toEqual(fullInv.isos);
    const oldInv = (await sh('tar', ['-xzOf', join(dir, 'old.tar.gz'), 'kko/inventory.json'])).stdout;
    expect(inv.delta.base).toEqual({ inventorySha256: sha(Buffer.from(oldInv)), artifact: 'old.tar.gz' });
    expect(inv.delta.omitted.blobs.map((b) => b.digest).sort()).toEqual(
      [...full.blobs].filter((d) => old.blobs.has(d)).sort(),
    );
    expect(inv.delta.omitted.files.map((f) => f.path)).toEqual(full.files.filter((f) => !got.files.includes(f)));
  }, 120_000);

  it('--have from `artifact inventory` writes the same delta byte for byte', async () => {
    const have = await kko(['artifact', 'inventory', 'old.tar.gz']);
    expect(have.code).toBe(0);
    await writeFile(join(dir, 'have.json'), have.stdout);
    const r = await kko(exportFrom('new.yaml', 'delta2.tar.gz', '--have', 'have.json'));
    expect(r.code).toBe(0);
    const [a, b] = await Promise.all([
      readFile(join(dir, 'kubekey-artifact-delta.tar.gz')),
      readFile(join(dir, 'delta2.tar.gz')),
    ]);
    expect(sha(b)).toBe(sha(a));
  }, 120_000);

  it('a delta export fetches none of the layers and files the base holds (a cold cache), and writes the same bytes', async () => {
    const inv = await inventoryOf(join(dir, 'kubekey-artifact-delta.tar.gz'));
    const full = await contentOf(join(dir, 'new.tar.gz'));
    const configs = new Set<string>();
    for (const row of (await inventoryOf(join(dir, 'new.tar.gz'))).images) {
      const m = JSON.parse(
        (await sh('tar', ['-xzOf', join(dir, 'new.tar.gz'), `images/blobs/sha256/${row.digest.slice(7)}`])).stdout,
      ) as { config: { digest: string } };
      configs.add(m.config.digest);
    }
    const omittedLayers = inv.delta.omitted.blobs.map((b) => b.digest).filter((d) => !configs.has(d));
    expect(omittedLayers.length).toBeGreaterThan(0);
    src.proxy.clear();
    files.clear();
    const r = await kko(exportFrom('new.yaml', 'delta-cold.tar.gz', '--have', 'have.json', '--cache', 'cache-cold'));
    expect(r.code).toBe(0);
    for (const d of omittedLayers) expect(src.proxy.count({ method: 'GET', path: `/blobs/${d}` })).toBe(0);
    for (const d of full.blobs)
      if (!omittedLayers.includes(d)) expect(src.proxy.count({ method: 'GET', path: `/blobs/${d}` })).toBe(1);
    expect(inv.delta.omitted.files.map((f) => f.path)).toEqual([
      'repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso',
    ]);
    expect(files.count('/isos/20.04.iso')).toBe(0); // the ISO the base holds
    expect(files.count('/isos/22.04-b.iso')).toBe(1);
    const [a, b] = await Promise.all([
      readFile(join(dir, 'kubekey-artifact-delta.tar.gz')),
      readFile(join(dir, 'delta-cold.tar.gz')),
    ]);
    expect(sha(b)).toBe(sha(a));
  }, 120_000);

  it('inspect and verify say "delta of <base>", never complete', async () => {
    const i = await kko(['artifact', 'inspect', 'kubekey-artifact-delta.tar.gz']);
    expect(i.code).toBe(0);
    expect(i.stdout).toMatch(
      /delta of old\.tar\.gz \(inventory sha256 [a-f0-9]{64}\): not complete on its own; 5 blob\(s\) and 1 file\(s\)/,
    );
    const v = await kko(['artifact', 'verify', 'kubekey-artifact-delta.tar.gz', '--json']);
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as {
      ok: boolean;
      problems: unknown[];
      delta: { omittedBlobs: number; omittedFiles: number };
    };
    expect(report.problems).toEqual([]);
    expect(report.delta).toMatchObject({ omittedBlobs: 5, omittedFiles: 1 });
    const t = await kko(['artifact', 'verify', 'kubekey-artifact-delta.tar.gz']);
    expect(t.stdout).toMatch(/an intact delta, not a complete artifact/);
  }, 60_000);

  it('push of the delta to a registry without the base is refused before anything is pushed, naming every missing blob', async () => {
    const r = await kko(pushTo('kubekey-artifact-delta.tar.gz', regC));
    expect(r.code).toBe(1);
    const inv = await inventoryOf(join(dir, 'kubekey-artifact-delta.tar.gz'));
    for (const b of inv.delta.omitted.blobs) expect(r.stderr).toContain(b.digest);
    expect(r.stderr).toMatch(
      /missing: 127\.0\.0\.1:\d+\/kubesphere\/kube-apiserver@sha256:[a-f0-9]{64}: not in the registry/,
    );
    expect(r.stderr).toMatch(/hint: push the base first/);
    const tags = await fetch(`${regC.url}/v2/_catalog`).then((x) => x.json() as Promise<{ repositories: string[] }>);
    expect(tags.repositories).toEqual([]);
  }, 60_000);

  it('push base then delta gives every image of the new manifest with the digests of a full export (skopeo)', async () => {
    expect((await kko(pushTo('old.tar.gz', regA))).code).toBe(0);
    const d = await kko(pushTo('kubekey-artifact-delta.tar.gz', regA));
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect((await kko(pushTo('new.tar.gz', regB))).code).toBe(0);
    const full = await pushedDigests(regB);
    expect(Object.keys(full)).toHaveLength(4);
    expect(await pushedDigests(regA)).toEqual(full);
    // and --base takes the left-out blobs from the base artifact, into the empty registry
    const c = await kko(pushTo('kubekey-artifact-delta.tar.gz', regC, '--base', 'old.tar.gz'));
    expect(c.code).toBe(0);
    expect(await pushedDigests(regC)).toEqual(full);
  }, 180_000);

  it("push --base refuses an artifact that is not the delta's base", async () => {
    const r = await kko(pushTo('kubekey-artifact-delta.tar.gz', regC, '--base', 'new.tar.gz'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--base: artifact .*new\.tar\.gz is not the delta's base/);
  }, 60_000);

  it('import: refused into a dir without the base (each missing entry listed); base then delta = the full artifact', async () => {
    const empty = await kko(['artifact', 'import', 'kubekey-artifact-delta.tar.gz', '--dir', 'k-empty']);
    expect(empty.code).toBe(1);
    expect(empty.stderr.match(/^missing: /gm)).toHaveLength(6);
    expect(empty.stderr).toMatch(/lacks 6 of the 6 entries the delta leaves out; nothing was written/);
    await expect(readdir(join(dir, 'k-empty'))).rejects.toThrow();
    expect((await kko(['artifact', 'import', 'old.tar.gz', '--dir', 'k-a'])).code).toBe(0);
    const a = await kko(['artifact', 'import', 'kubekey-artifact-delta.tar.gz', '--dir', 'k-a']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/a delta of old\.tar\.gz: 6 left-out entries were already in/);
    const b = await kko([
      'artifact',
      'import',
      'kubekey-artifact-delta.tar.gz',
      '--dir',
      'k-b',
      '--base',
      'old.tar.gz',
    ]);
    expect(b.code).toBe(0);
    expect((await kko(['artifact', 'import', 'new.tar.gz', '--dir', 'k-full'])).code).toBe(0);
    const listing = async (d: string): Promise<string> =>
      (
        await sh(
          'sh',
          ['-c', `cd ${d} && find . -type f -not -path './kko/*' -not -name artifact.md5 | sort | xargs sha256sum`],
          { maxBuffer: 1 << 24 },
        )
      ).stdout;
    const full = await listing(join(dir, 'k-full'));
    expect(await listing(join(dir, 'k-b'))).toBe(full);
    // k-a also keeps the old release's blobs and ISO (import never deletes); everything of the new one is there
    const inA = await listing(join(dir, 'k-a'));
    for (const line of full.trim().split('\n')) expect(inA).toContain(line);
  }, 180_000);

  it('serve refuses a delta alone (exit 2: a delta of <base>, serve it with --base) and a wrong --base', async () => {
    const alone = await serve(['kubekey-artifact-delta.tar.gz']).listening;
    expect(alone).toMatchObject({ code: 2 });
    const text = (alone as { stderr: string }).stderr;
    expect(text).toMatch(
      /kubekey-artifact-delta\.tar\.gz is a delta of old\.tar\.gz \(inventory sha256 [a-f0-9]{64}\): not complete on its own; 5 blob\(s\)/,
    );
    expect(text).toMatch(
      /hint: serve it with its base: kko artifact serve kubekey-artifact-delta\.tar\.gz --base old\.tar\.gz/,
    );
    const wrong = await serve(['kubekey-artifact-delta.tar.gz', '--base', 'new.tar.gz']).listening;
    expect(wrong).toMatchObject({ code: 2 });
    expect((wrong as { stderr: string }).stderr).toMatch(/--base: artifact .*new\.tar\.gz is not the delta's base/);
    const notDelta = await serve(['new.tar.gz', '--base', 'old.tar.gz']).listening;
    expect(notDelta).toMatchObject({ code: 2 });
    expect((notDelta as { stderr: string }).stderr).toMatch(/--base: new\.tar\.gz is not a delta artifact/);
  }, 120_000);

  it('serve DELTA --base OLD serves every image of the new manifest (digests of a full export; skopeo copies them whole)', async () => {
    const s = serve(['kubekey-artifact-delta.tar.gz', '--base', 'old.tar.gz']);
    const up = await s.listening;
    try {
      expect(up).toHaveProperty('host');
      const host = (up as { host: string }).host;
      expect(await pushedDigests(host)).toEqual(await pushedDigests(regB));
      // the copy reads the shared base layer and pause's layer, which only the base artifact holds
      for (const ref of ['kubesphere/kube-apiserver:v1.28.12-amd64', 'kubesphere/pause:3.9-amd64'])
        await sh('skopeo', [
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${host}/${ref}`,
          `oci:${join(dir, 'served-oci')}:${ref.split(':')[1] as string}`,
        ]);
    } finally {
      await s.stop();
    }
    const idx = JSON.parse(await readFile(join(dir, 'served-oci', 'index.json'), 'utf8')) as { manifests: unknown[] };
    expect(idx.manifests).toHaveLength(2);
  }, 120_000);

  it('a delta unpacked as it is (tar -x) is refused by push --images-dir and serve (exit 2: a delta without its base)', async () => {
    const raw = join(dir, 'delta-raw');
    await mkdir(raw, { recursive: true });
    await sh('tar', ['-xzf', join(dir, 'kubekey-artifact-delta.tar.gz'), '-C', raw]);
    const p = await kko([
      'artifact',
      'images',
      'push',
      '--images-dir',
      'delta-raw',
      '--registry',
      regC.host,
      '--plain-http',
      '--kk-version',
      'v3.1.12',
    ]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(
      /delta-raw: a delta of old\.tar\.gz without its base: 5 of the 5 blob\(s\) it leaves out are not here/,
    );
    expect(p.stderr).toMatch(/hint: import the base and then the delta into one directory/);
    const s = await serve(['delta-raw']).listening;
    expect(s).toMatchObject({ code: 2 });
    expect((s as { stderr: string }).stderr).toMatch(/a delta of old\.tar\.gz without its base/);
    // the directory `artifact import` made of base + delta (k-a, above) is complete: it serves
    const ok = serve(['k-a']);
    try {
      expect(await ok.listening).toHaveProperty('host');
    } finally {
      await ok.stop();
    }
  }, 120_000);

  it('inventory --registry -m OLD lists what push put there; a delta --have from it, pushed there, gives every image (skopeo)', async () => {
    expect((await kko(pushTo('old.tar.gz', regD))).code).toBe(0);
    const inv = await kko([
      'artifact',
      'inventory',
      '--registry',
      regD.host,
      '--plain-http',
      '--kk-version',
      'v3.1.12',
      '-m',
      'old.yaml',
    ]);
    expect(inv.stderr).toBe('');
    expect(inv.code).toBe(0);
    const have = JSON.parse(inv.stdout) as {
      base: { artifact: string };
      refs: Record<string, string>;
      blobs: string[];
      files: unknown[];
    };
    expect(have.base.artifact).toBe(`registry ${regD.host}`);
    expect(Object.keys(have.refs).sort()).toEqual(
      images(OLD)
        .map((r) => `${regD.host}/${r.replace('docker.io/', '')}-amd64`)
        .sort(),
    );
    const old = await contentOf(join(dir, 'old.tar.gz'));
    expect(have.blobs).toEqual([...old.blobs].sort());
    expect(have.files).toEqual([]);
    await writeFile(join(dir, 'reg-have.json'), inv.stdout);
    const e = await kko(exportFrom('new.yaml', 'delta-reg.tar.gz', '--have', 'reg-have.json'));
    expect(e.code).toBe(0);
    const [byArtifact, byRegistry] = await Promise.all([
      inventoryOf(join(dir, 'kubekey-artifact-delta.tar.gz')),
      inventoryOf(join(dir, 'delta-reg.tar.gz')),
    ]);
    expect(byRegistry.delta.omitted.blobs).toEqual(byArtifact.delta.omitted.blobs);
    expect(byRegistry.delta.omitted.files).toEqual([]); // a registry holds no ISOs: both are in this delta
    const p = await kko(pushTo('delta-reg.tar.gz', regD));
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(await pushedDigests(regD)).toEqual(await pushedDigests(regB));
    // names not in the registry (regC got only v1.28.12's apiserver and proxy) are said on stderr
    const none = await kko([
      'artifact',
      'inventory',
      '--registry',
      regC.host,
      '--plain-http',
      '--kk-version',
      'v3.1.12',
      '-m',
      'old.yaml',
    ]);
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/warning: 2 of the 4 name\(s\) are not in the registry/);
  }, 180_000);

  it('--have with bad JSON or a wrong field is invalid input (exit 2) naming the file and field', async () => {
    await writeFile(join(dir, 'bad.json'), '{"apiVersion": ');
    const r = await kko(exportFrom('new.yaml', 'x.tar.gz', '--have', 'bad.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.json: not JSON/);
    const have = JSON.parse(await readFile(join(dir, 'have.json'), 'utf8')) as { blobs: unknown[] };
    have.blobs[0] = 'sha256:nothex';
    await writeFile(join(dir, 'bad2.json'), JSON.stringify(have));
    const f = await kko(exportFrom('new.yaml', 'x.tar.gz', '--have', 'bad2.json'));
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/bad2\.json: blobs\[0\]: /);
  }, 60_000);
});
