import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMultiArch, buildLayer } from '../support/builders.js';
import {
  startProxiedRegistry,
  startRegistryBehindProxy,
  type ProxiedRegistry,
  type RegistryBehindProxy,
} from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import {
  checkArgs,
  exportArgs,
  jsonEvents,
  manifestYaml,
  pushArgs,
  writeExportInputs,
  type ImagesSource,
} from '../support/cli-args.js';
import { containerdUnavailable, startContainerd, type TestContainerd } from '../support/containerd.js';
import { skopeoInspect, skopeoRaw } from '../support/skopeo.js';
import { runCli, type CliRun } from '../cli/run-cli.js';
import { pushIndex } from '../support/builders.js';

// `kko artifact images push` from an artifact `kko artifact export` wrote, into the real distribution registry; every
// name the nodes will pull is then read back by skopeo (an independent client) and its digests compared with the
// artifact's own, for kk v3.1.5, v3.1.7 and v3.1.12 naming, with and without namespaceOverride / namespaceRewrite.

const sh = promisify(execFile);
const CN = 'registry.cn-beijing.aliyuncs.com';
const IMAGES = ['docker.io/calico/cni:v3.27.4', `${CN}/kubesphereio/pause:3.9`, 'docker.io/library/nginx:1.25'];

let src: ProxiedRegistry;
let target: TestRegistry;
let dir: string;
let art: string;
let inv: { images: Array<{ ref: string; arch: string; refName: string; digest: string }> };

beforeAll(async () => {
  src = await startProxiedRegistry('kko-push-', async (c) => {
    await pushIndex(
      c,
      'calico/cni',
      'v3.27.4',
      buildMultiArch('cni', { layerSize: 200 * 1024, base: { amd64: buildLayer('push-base', 300 * 1024) } }),
    );
    await pushIndex(
      c,
      'kubesphereio/pause',
      '3.9',
      buildMultiArch('pause', { layerSize: 50 * 1024, base: { amd64: buildLayer('push-base', 300 * 1024) } }),
    );
    await pushIndex(c, 'library/nginx', '1.25', buildMultiArch('nginx', { layerSize: 100 * 1024 }));
  });
  target = await startRegistry({ mode: 'plain' });
  dir = join(src.work.dir, 'w');
  await mkdir(dir, { recursive: true });
  await writeExportInputs(dir, IMAGES, { host: src.reg.host, prefixes: ['docker.io', CN] });
  const r = await kko(exportArgs('art.tar.gz', {}, '--json'));
  expect(r.code).toBe(0);
  art = join(dir, 'art.tar.gz');
  const { stdout } = await sh('tar', ['-xzOf', art, 'kko/inventory.json']);
  inv = JSON.parse(stdout) as typeof inv;
}, 180_000);

afterAll(async () => {
  await target?.stop();
  await src?.stop();
});

// A kk Cluster config whose registry block points at the target registry under `path`.
async function cluster(name: string, registry: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata: {name: c}\nspec:\n  registry:\n${registry}\n`,
  );
  return file;
}

// The CLI in the work dir, with the work dir as HOME.
const kko = (argv: string[]): Promise<CliRun> => runCli(argv, { cwd: dir, env: { HOME: dir } });

const digestOf = (ref: string, arch: string): string =>
  inv.images.find((i) => i.ref === ref && i.arch === arch)?.digest ?? '?';

// skopeo's view of a name: the index it serves and the digest it resolves for each arch.
async function skopeoSees(name: string): Promise<Record<string, string>> {
  const raw = (await skopeoInspect(name, '--raw')) as {
    manifests: Array<{ digest: string; platform: { architecture: string } }>;
  };
  const out: Record<string, string> = {};
  for (const m of raw.manifests) out[m.platform.architecture] = m.digest;
  for (const arch of Object.keys(out)) {
    // skopeo resolves the arch through the index and reads that image's config
    const one = (await skopeoInspect(name, '--override-arch', arch, '--override-os', 'linux')) as {
      Architecture: string;
    };
    expect(one.Architecture).toBe(arch);
  }
  return out;
}

async function expectPulled(prefix: string, names: Record<string, string>): Promise<void> {
  for (const [name, source] of Object.entries(names)) {
    expect(await skopeoSees(`${prefix}/${name}`)).toEqual({
      amd64: digestOf(source, 'amd64'),
      arm64: digestOf(source, 'arm64'),
    });
    const perArch = (await skopeoInspect(`${prefix}/${name}-arm64`)) as { Digest: string };
    expect(perArch.Digest).toBe(digestOf(source, 'arm64'));
  }
}

const [CNI, PAUSE, NGINX] = IMAGES as [string, string, string];

describe.each([
  // kk release, registry block (beyond privateRegistry), --kk-push-names, names nodes pull → source
  ['v3.1.5', '', false, { 'calico/cni:v3.27.4': CNI, 'kubesphere/pause:3.9': PAUSE, 'library/nginx:1.25': NGINX }],
  [
    'v3.1.5',
    '    namespaceOverride: kubesphereio\n',
    false,
    { 'kubesphereio/cni:v3.27.4': CNI, 'kubesphereio/pause:3.9': PAUSE, 'kubesphereio/nginx:1.25': NGINX },
  ],
  [
    'v3.1.7',
    '    namespaceOverride: kubesphereio\n',
    false,
    { 'kubesphereio/cni:v3.27.4': CNI, 'kubesphereio/pause:3.9': PAUSE, 'kubesphereio/nginx:1.25': NGINX },
  ],
  [
    'v3.1.7',
    '    namespaceOverride: kubesphereio\n',
    true,
    { 'calico/cni:v3.27.4': CNI, 'kubesphereio/pause:3.9': PAUSE, 'library/nginx:1.25': NGINX },
  ],
  ['v3.1.12', '', false, { 'calico/cni:v3.27.4': CNI, 'kubesphere/pause:3.9': PAUSE, 'library/nginx:1.25': NGINX }],
  [
    'v3.1.12',
    '    namespaceRewrite: {policy: changePrefix, src: [calico], dest: mirror}\n',
    false,
    { 'mirror/cni:v3.27.4': CNI, 'mirror/kubesphere/pause:3.9': PAUSE, 'mirror/library/nginx:1.25': NGINX },
  ],
] as const)('kk %s naming %j (--kk-push-names %s)', (kk, block, kkNames, names) => {
  const path = `${kk.replace(/\./g, '')}-${block ? block.trim().split(':')[0]?.toLowerCase() : 'plain'}${kkNames ? '-kk' : ''}`;
  let prefix: string;
  let run: CliRun;
  beforeAll(async () => {
    prefix = `${target.host}/${path}`;
    const file = await cluster(
      path,
      `    privateRegistry: ${prefix}\n${block}    auths:\n      "${target.host}": {plainHTTP: true}`,
    );
    run = await kko(pushArgs(art, { cluster: file, kk }, ...(kkNames ? ['--kk-push-names'] : []), '--json'));
  }, 120_000);

  it("pushes, and skopeo pulls every name with the artifact's digests for both arches", async () => {
    expect(run.code, run.stderr).toBe(0);
    await expectPulled(prefix, names);
    const done = jsonEvents<{ type: string; images?: number; failed?: number }>(run.stdout).find(
      (e) => e.type === 'done',
    );
    expect(done).toMatchObject({ images: 3, failed: 0 });
  });

  it('check proves the names nodes pull are there (or, after --kk-push-names, that they are not)', async () => {
    const file = join(dir, `${path}.yaml`);
    const r = await kko(checkArgs(art, { cluster: file, kk }, '--json'));
    const report = JSON.parse(r.stdout) as { ok: boolean; images: Array<{ name: string; status: string }> };
    if (!kkNames) {
      expect(r.code, r.stderr).toBe(0);
      expect(report.images.map((i) => i.name.slice(prefix.length + 1)).sort()).toEqual(Object.keys(names).sort());
    } else {
      // kk v3.1.7 ignores namespaceOverride on push: the nodes' kubesphereio/ names are missing (kubekey#1954)
      expect(r.code).toBe(1);
      expect(
        report.images
          .filter((i) => i.status === 'missing')
          .map((i) => i.name.slice(prefix.length + 1))
          .sort(),
      ).toEqual(['kubesphereio/cni:v3.27.4', 'kubesphereio/nginx:1.25']);
      expect(run.stderr).toMatch(/PUSH_PULL_MISMATCH|nodes will pull/);
    }
  });
});

describe('re-push and dry run', () => {
  it('a re-push of an unchanged artifact sends no blob bytes', async () => {
    const file = await cluster(
      'again',
      `    privateRegistry: ${target.host}/again\n    auths:\n      "${target.host}": {plainHTTP: true}`,
    );
    const args = pushArgs(art, { cluster: file }, '--json');
    const first = await kko(args);
    const second = await kko(args);
    const done = (out: string): { bytesSent: number } =>
      JSON.parse(out.trim().split('\n').at(-1) as string) as { bytesSent: number };
    expect(first.code).toBe(0);
    expect(done(first.stdout).bytesSent).toBeGreaterThan(500 * 1024);
    expect(second.code).toBe(0);
    expect(done(second.stdout).bytesSent).toBe(0);
    expect(second.stdout).not.toMatch(/"how":"copied"/);
  });

  it('--dry-run lists every name the push creates and pushes nothing', async () => {
    const r = await kko(pushArgs(art, `${target.host}/dry`, '--dry-run'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${target.host}/dry/kubesphere/pause:3.9  <-  ${PAUSE}`);
    expect(r.stdout).toContain(`  ${target.host}/dry/kubesphere/pause:3.9-arm64`);
    expect(r.stderr).toMatch(
      /kk v3.1.12 would push .*\/dry\/kubesphereio\/pause:3.9, nodes pull .*\/dry\/kubesphere\/pause:3.9/,
    );
    const check = await kko(checkArgs(art, `${target.host}/dry`));
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^missing +127\.0\.0\.1:\d+\/dry\/calico\/cni:v3\.27\.4/m);
  });

  it('--images-dir pushes an imported OCI layout (kk artifact import / kko artifact import) the same way', async () => {
    const imp = await kko(['artifact', 'import', art, '--dir', 'imported']);
    expect(imp.code, imp.stderr).toBe(0);
    const r = await kko(pushArgs({ imagesDir: 'imported/images' }, `${target.host}/fromdir`));
    expect(r.code, r.stderr).toBe(0);
    await expectPulled(`${target.host}/fromdir`, {
      'calico/cni:v3.27.4': CNI,
      'kubesphere/pause:3.9': PAUSE,
      'library/nginx:1.25': NGINX,
    });
  });

  it('--require-signature --key refuses an unsigned artifact before pushing anything (exit 1, as import)', async () => {
    const key = await kko(['key', 'generate', '--output-key-prefix', 'pushkey']);
    expect(key.code, key.stderr).toBe(0);
    const pub = join(dir, 'pushkey.pub');
    const r = await kko(pushArgs(art, `${target.host}/unsigned`, '--require-signature', '--key', pub));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^missing: kko\/inventory\.json\.sig/m);
    const c = await kko(checkArgs(art, `${target.host}/unsigned`));
    expect(c.stdout).not.toMatch(/^ok/m);
  });

  it('check -m names what a manifest needs without the artifact', async () => {
    const r = await kko(checkArgs({ manifest: 'm.yaml' }, `${target.host}/again`));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });
});

describe('faults during push (fault proxy in front of the target registry)', () => {
  let fronted: RegistryBehindProxy;
  let behind: TestRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    fronted = await startRegistryBehindProxy();
    ({ reg: behind, proxy } = fronted);
  });
  afterAll(async () => fronted?.stop());
  const push = (path: string, ...extra: string[]): Promise<CliRun> =>
    kko(pushArgs(art, `${proxy.host}/${path}`, '--retries', '3', ...extra));
  const check = (path: string): Promise<CliRun> => kko(checkArgs(art, `${proxy.host}/${path}`));

  it('rides out 5xx, 429 with Retry-After and a reset in the middle of an upload, and ends complete', async () => {
    proxy.clear();
    proxy.add({ method: 'POST', path: /blobs\/uploads/, times: 2, fault: { kind: 'status', status: 503 } });
    proxy.add({
      method: 'PUT',
      path: /manifests\/v3\.27\.4$/,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    });
    proxy.add({
      method: 'PUT',
      path: /blobs\/uploads\/.*digest=/,
      fault: { kind: 'cut-upload', afterBytes: 64 * 1024 },
    });
    const r = await push('faults');
    expect(r.code, r.stderr).toBe(0);
    expect(
      proxy.seen
        .filter((s) => s.fault)
        .map((s) => s.fault)
        .sort(),
    ).toEqual(['cut-upload', 'status', 'status', 'status']);
    const c = await check('faults');
    expect(c.code, c.stdout).toBe(0);
    await expectPulled(`${behind.host}/faults`, {
      'calico/cni:v3.27.4': CNI,
      'kubesphere/pause:3.9': PAUSE,
      'library/nginx:1.25': NGINX,
    });
  }, 120_000);

  it('a registry that keeps failing one image: exit 1 naming it, its tag not created, the others done; a re-run finishes', async () => {
    proxy.clear();
    proxy.add({
      method: 'PUT',
      path: /library\/nginx\/manifests\//,
      times: Infinity,
      fault: { kind: 'status', status: 500 },
    });
    const r = await push('broken');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pushing 127\.0\.0\.1:\d+\/broken\/library\/nginx:1\.25 .*HTTP 500/);
    expect(r.stderr).toMatch(/1 image\(s\) not pushed/);
    const c = await check('broken');
    expect(c.code).toBe(1);
    expect(c.stdout).toMatch(/^missing +\S+\/broken\/library\/nginx:1\.25/m);
    expect(c.stdout).toMatch(/^ok +\S+\/broken\/calico\/cni:v3\.27\.4/m);
    proxy.clear();
    const again = await push('broken', '--json');
    expect(again.code, again.stderr).toBe(0);
    const done = JSON.parse(again.stdout.trim().split('\n').at(-1) as string) as { bytesSent: number; images: number };
    expect(done.images).toBe(3);
    // only what the failed image had not got in yet: its arches go up side by side, so its blobs went in before its
    // manifest PUTs failed; the re-run sends at most those and puts its manifests (2 arches + the index)
    const copied = jsonEvents<{ type: string; name?: string; how?: string }>(again.stdout).filter(
      (e) => e.type === 'blob' && e.how === 'copied',
    );
    expect(copied.every((e) => e.name?.endsWith('/broken/library/nginx:1.25'))).toBe(true);
    expect(proxy.count({ method: 'PUT', path: /broken\/library\/nginx\/manifests\// })).toBe(3);
    expect(proxy.count({ method: 'PUT', path: /broken\/(calico|kubesphere)\/.*\/manifests\// })).toBe(0);
    expect(done.bytesSent).toBeLessThan(150 * 1024);
    expect((await check('broken')).code).toBe(0);
  }, 120_000);
});

// skopeo's raw bytes of a name (an index: exactly what the registry stores) and their sha256.
const rawOf = skopeoRaw;

describe('--preserve-digests', () => {
  const push = (a: string, path: string, ...extra: string[]): Promise<CliRun> =>
    kko(pushArgs(a, `${target.host}/${path}`, '--preserve-digests', ...extra));

  it("puts the upstream index at :<tag>: skopeo reads the upstream registry's bytes and digest there", async () => {
    const r = await push(art, 'preserved', '--json');
    expect(r.code, r.stderr).toBe(0);
    const done = new Map(
      jsonEvents<{ type: string; name?: string; digest?: string }>(r.stdout)
        .filter((e) => e.type === 'image-done')
        .map((e) => [e.name as string, e.digest as string]),
    );
    for (const [upstream, name] of [
      ['calico/cni:v3.27.4', 'calico/cni:v3.27.4'],
      ['kubesphereio/pause:3.9', 'kubesphere/pause:3.9'],
      ['library/nginx:1.25', 'library/nginx:1.25'],
    ] as const) {
      const up = await rawOf(`${src.reg.host}/${upstream}`);
      const got = await rawOf(`${target.host}/preserved/${name}`);
      expect(got.digest).toBe(up.digest);
      expect(got.bytes.equals(up.bytes)).toBe(true);
      expect(done.get(`${target.host}/preserved/${name}`)).toBe(up.digest);
    }
    // the per-arch tags are kept too, with the artifact's digests
    await expectPulled(`${target.host}/preserved`, { 'calico/cni:v3.27.4': CNI });
    const check = await kko(checkArgs(art, `${target.host}/preserved`));
    expect(check.code, check.stdout).toBe(0);
  });

  it('without it the index is synthesized over the pushed arches: another digest than upstream', async () => {
    const r = await kko(pushArgs(art, `${target.host}/synth`));
    expect(r.code, r.stderr).toBe(0);
    const up = await rawOf(`${src.reg.host}/library/nginx:1.25`);
    expect((await rawOf(`${target.host}/synth/library/nginx:1.25`)).digest).not.toBe(up.digest);
  });

  it('an artifact that did not keep the upstream index whole (one arch exported): exit 2 naming the image, nothing pushed', async () => {
    await writeFile(join(dir, 'one-arch.yaml'), manifestYaml([NGINX], ['amd64']));
    const exp = await kko(exportArgs('one-arch.tar.gz', { manifest: 'one-arch.yaml' }));
    expect(exp.code, exp.stderr).toBe(0);
    const r = await push(join(dir, 'one-arch.tar.gz'), 'partial');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--preserve-digests: .* does not hold the complete upstream index of docker\.io\/library\/nginx:1\.25/,
    );
    expect(r.stderr).toMatch(/hint: .*every platform/);
    const dry = await push(join(dir, 'one-arch.tar.gz'), 'partial', '--dry-run');
    expect(dry.code).toBe(2);
    await expect(rawOf(`${target.host}/partial/library/nginx:1.25`)).rejects.toThrow();
    await expect(rawOf(`${target.host}/partial/library/nginx:1.25-amd64`)).rejects.toThrow();
  }, 120_000);

  it('works from an imported directory too (the upstream index read from the layout)', async () => {
    const imp = await kko(['artifact', 'import', art, '--dir', 'imported-pd']);
    expect(imp.code, imp.stderr).toBe(0);
    const r = await kko(pushArgs({ imagesDir: 'imported-pd' }, `${target.host}/preserved-dir`, '--preserve-digests'));
    expect(r.code, r.stderr).toBe(0);
    const up = await rawOf(`${src.reg.host}/calico/cni:v3.27.4`);
    expect((await rawOf(`${target.host}/preserved-dir/calico/cni:v3.27.4`)).digest).toBe(up.digest);
    const check = await kko(checkArgs({ imagesDir: 'imported-pd' }, `${target.host}/preserved-dir`, '--json'));
    expect(check.code, check.stdout).toBe(0);
    expect((JSON.parse(check.stdout) as { images: unknown[] }).images).toHaveLength(3);
  });
});

describe('--images-dir reads kko/inventory.json beside the layout', () => {
  let imported: string;
  beforeAll(async () => {
    const imp = await kko(['artifact', 'import', art, '--dir', 'imported-inv']);
    expect(imp.code, imp.stderr).toBe(0);
    imported = join(dir, 'imported-inv');
  });
  const setKk = async (version: string): Promise<void> => {
    const path = join(imported, 'kko', 'inventory.json');
    const inv = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...inv, kk: { version, defaults: {}, imageTags: {} } }));
  };
  const dry = async (images: string): Promise<CliRun> => {
    const file = await cluster(
      'rewrite-inv',
      `    privateRegistry: ${target.host}/inv\n    namespaceRewrite: {policy: changePrefix, src: [calico], dest: mirror}`,
    );
    return kko(['artifact', 'images', 'push', '--images-dir', images, '-f', file, '--plain-http', '--dry-run']);
  };

  it.each([['the import dir'], ['its images/ layout']])(
    'the kk release of the inventory names the images (%s)',
    async (which) => {
      const images = which === 'the import dir' ? imported : join(imported, 'images');
      await setKk('v3.1.5');
      const old = await dry(images);
      expect(old.code, old.stderr).toBe(0);
      expect(old.stderr).toMatch(/kk v3\.1\.5 ignores registry\.namespaceRewrite/);
      expect(old.stdout).toContain(`${target.host}/inv/calico/cni:v3.27.4  <-`);
      await setKk('v3.1.12');
      const now = await dry(images);
      expect(now.code, now.stderr).toBe(0);
      expect(now.stdout).toContain(`${target.host}/inv/mirror/cni:v3.27.4  <-`);
    },
  );

  it('an unknown kk release in the inventory: exit 2 naming it', async () => {
    await setKk('v9.9.9');
    const r = await dry(imported);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/v9\.9\.9/);
  });
});

describe('bad input', () => {
  const run = (...args: string[]): Promise<CliRun> => kko(['artifact', 'images', 'push', '-a', art, ...args]);

  it.each([
    [['--registry', 'http://10.0.0.5:5000'], /--registry "http:\/\/10\.0\.0\.5:5000": no scheme allowed/],
    [['--registry', 'reg.local//x'], /--registry "reg\.local\/\/x": not a registry host and path/],
    [['--registry', '10.0.0.5:5000', '--kk-version', 'v9.9.9'], /v9\.9\.9/],
    [[], /no --registry and no -f cluster config/],
  ])('%j → exit 2', async (args, message) => {
    const r = await run(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a cluster config with a scheme in privateRegistry → exit 2 naming the field', async () => {
    const file = await cluster('scheme', '    privateRegistry: https://dockerhub.kubekey.local');
    const r = await run('-f', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /spec\.registry\.privateRegistry: registry\.privateRegistry "https:\/\/dockerhub\.kubekey\.local": no scheme allowed/,
    );
  });

  it.each([['an imported directory'], ['an artifact file']])(
    '%s without images → exit 2 saying so, nothing pushed',
    async (which) => {
      const empty = join(dir, 'no-images');
      await mkdir(join(empty, 'images', 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(empty, 'images', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(join(empty, 'images', 'index.json'), '{"schemaVersion":2,"manifests":[]}');
      let source: ImagesSource = { imagesDir: empty };
      if (which === 'an artifact file') {
        await sh('tar', ['-cf', join(dir, 'no-images.tar'), '-C', empty, 'images']);
        source = join(dir, 'no-images.tar');
      }
      const r = await kko(pushArgs(source, `${target.host}/empty`));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/images\/index\.json lists no named image/);
      expect(r.stderr).toMatch(/hint: the artifact holds no images/);
      expect(r.stdout).toBe('');
    },
  );

  it('an unreachable registry → exit 1 naming the host, nothing reported pushed', async () => {
    const r = await run('--registry', '127.0.0.1:9/x', '--plain-http', '--kk-version', 'v3.1.12', '--retries', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:9/);
    expect(r.stdout).not.toMatch(/^pushed /m);
    expect(r.stderr).toMatch(/0 image\(s\) pushed, 3 failed/);
  });
});

describe.each([
  ['htpasswd over plain HTTP', { mode: 'basic' } as const],
  ['TLS with a test CA and htpasswd', { mode: 'tls', tlsBasicAuth: true } as const],
])('push to a registry with %s', (_what, mode) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry(mode);
  });
  afterAll(async () => reg?.stop());

  const entry = (password: string): string => {
    const tls = reg.certsDir ? `certsPath: ${reg.certsDir}` : 'plainHTTP: true';
    return `    auths:\n      "${reg.host}": {username: ${reg.creds?.username}, password: "${password}", ${tls}}`;
  };

  it('takes credentials and TLS from registry.auths; skopeo pulls every name; the password is never printed', async () => {
    const file = await cluster(
      `auth-${mode.mode}`,
      `    privateRegistry: ${reg.host}/sec\n${entry(reg.creds?.password ?? '')}`,
    );
    const r = await kko(pushArgs(art, { cluster: file }));
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain(reg.creds?.password);
    const tls = reg.certsDir ? ['--cert-dir', reg.certsDir] : ['--tls-verify=false'];
    const raw = await sh('skopeo', [
      'inspect',
      '--raw',
      ...tls,
      '--creds',
      `${reg.creds?.username}:${reg.creds?.password}`,
      `docker://${reg.host}/sec/kubesphere/pause:3.9`,
    ]);
    const digests = (JSON.parse(raw.stdout) as { manifests: Array<{ digest: string }> }).manifests
      .map((m) => m.digest)
      .sort();
    expect(digests).toEqual([digestOf(PAUSE, 'amd64'), digestOf(PAUSE, 'arm64')].sort());
    const c = await kko(checkArgs(art, { cluster: file }));
    expect(c.code, c.stdout + c.stderr).toBe(0);
  });

  it('wrong credentials: exit 1, the host named, the hint points at the credentials', async () => {
    const file = await cluster(
      `badauth-${mode.mode}`,
      `    privateRegistry: ${reg.host}/sec\n${entry('wrong-password')}`,
    );
    const r = await kko(pushArgs(art, { cluster: file }, '--retries', '0'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(reg.host);
    expect(r.stderr).toMatch(/credentials/);
    expect(r.stderr).not.toContain('wrong-password');
  });
});

const ctrdUnavailable = containerdUnavailable();
describe.skipIf(ctrdUnavailable !== undefined && !process.env.CI)(
  `containerd pulls what kko pushed, through kko mirror render${ctrdUnavailable ? ` (skipped: ${ctrdUnavailable})` : ''}`,
  () => {
    let ctrd: TestContainerd;
    let reg: TestRegistry;
    let pushed: Map<string, string>;
    beforeAll(async () => {
      [ctrd, reg] = await Promise.all([startContainerd(), startRegistry({ mode: 'plain' })]);
      const r = await kko(pushArgs(art, reg.host, '--json'));
      expect(r.code, r.stderr).toBe(0);
      const done = jsonEvents<{ type: string; name?: string; digest?: string }>(r.stdout).filter(
        (e) => e.type === 'image-done',
      );
      pushed = new Map(done.map((e) => [e.name as string, e.digest as string]));
    }, 120_000);
    afterAll(async () => {
      await ctrd?.stop();
      await reg?.stop();
    });

    it('ctr images pull --hosts-dir (rendered) gets docker.io names and the private pause name, unpacked, with the pushed index digests', async () => {
      const out = join(dir, 'certs.d');
      const render = await kko(
        ['mirror', 'render', '-m', 'm.yaml', '--registry', reg.host, '--plain-http', '--format', 'containerd'].concat([
          '-o',
          out,
          '--kk-version',
          'v3.1.12',
        ]),
      );
      expect(render.code, render.stderr).toBe(0);
      for (const [ref, name] of [
        [CNI, `${reg.host}/calico/cni:v3.27.4`],
        [NGINX, `${reg.host}/library/nginx:1.25`],
        [`${reg.host}/kubesphere/pause:3.9`, `${reg.host}/kubesphere/pause:3.9`],
      ] as const) {
        const r = await ctrd.pull(ref, { hostsDir: out, platform: 'linux/arm64', timeoutMs: 60_000 });
        expect(r.code, r.stderr).toBe(0);
        expect(await ctrd.imageDigest(ref)).toBe(pushed.get(name));
      }
    }, 180_000);

    // push -f and mirror render -f agree (one rule, manifest/push-name.ts pushedRepository): what render sends to
    // the registry is what the push created there.
    it.each([
      // kk release, --kk-push-names, the name ctr pulls, whether it goes through the docker.io mirror
      ['v3.1.12', false, 'kubesphereio/cni:v3.27.4', false],
      ['v3.1.7', true, 'calico/cni:v3.27.4', true],
    ] as const)(
      'namespaceOverride, kk %s, --kk-push-names %s: ctr pulls %s with the pushed digest',
      async (kk, kkNames, name, viaMirror) => {
        const path = `ovr${kk.replace(/\./g, '')}${kkNames ? 'kk' : ''}`;
        const file = await cluster(
          `ctrd-${path}`,
          `    privateRegistry: ${reg.host}/${path}\n    namespaceOverride: kubesphereio\n    auths:\n      "${reg.host}": {plainHTTP: true}`,
        );
        const flags = ['-f', file, '--kk-version', kk, ...(kkNames ? ['--kk-push-names'] : [])];
        const r = await kko(['artifact', 'images', 'push', '-a', art, ...flags, '--json']);
        expect(r.code, r.stderr).toBe(0);
        const digest = jsonEvents<{ type: string; name?: string; digest?: string }>(r.stdout).find(
          (e) => e.type === 'image-done' && e.name === `${reg.host}/${path}/${name}`,
        )?.digest;
        expect(digest).toMatch(/^sha256:/);
        const out = join(dir, `certs-${path}`);
        const render = await kko(['mirror', 'render', '-m', 'm.yaml', ...flags, '--format', 'containerd', '-o', out]);
        expect(render.code, render.stderr).toBe(0);
        const pull = (ref: string) => ctrd.pull(ref, { hostsDir: out, platform: 'linux/amd64', timeoutMs: 60_000 });
        const ref = viaMirror ? CNI : `${reg.host}/${path}/${name}`;
        const ok = await pull(ref);
        expect(ok.code, ok.stderr).toBe(0);
        expect(await ctrd.imageDigest(ref)).toBe(digest);
        if (!viaMirror) {
          // kko pushed the flattened name nodes pull: render says docker.io has no prefix mirror, and it has none
          expect(render.stderr).toMatch(/no hosts\.toml for docker\.io/);
          await ctrd.ctr(['images', 'rm', CNI]);
          expect((await pull(CNI)).code).not.toBe(0);
        }
      },
      180_000,
    );
  },
);
