import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSet, pushIndex } from '../support/builders.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startFileServer, type FileServer } from '../support/file-server.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { FIXTURES, runCli } from '../cli/run-cli.js';

// --keep-going with many more failures than workers: every image × arch and every binary is still tried (the
// registry, behind a counting proxy, and the file server record each request), and the count covers the plan.
const HOSTS = ['dl.k8s.io', 'storage.googleapis.com', 'github.com', 'get.helm.sh', 'download.docker.com'];
const MISSING = Array.from({ length: 12 }, (_, i) => `docker.io/kubesphere/missing-${i}:v1`);
const fx = fixtureSet({ baseSize: 32 * 1024, layerSize: 16 * 1024 });
let proxy: FaultProxy;
let env: ProxiedRegistry;
let files: FileServer;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  env = await startProxiedRegistry(
    'kko-keep-going-',
    async (c) => void (await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause)),
  );
  ({ proxy, work } = env);
  files = await startFileServer(join(work.dir, 'srv')); // serves nothing: every binary is a 404
  await mkdir(files.root, { recursive: true });
}, 120_000);

afterAll(async () => {
  await files?.stop();
  await env?.stop();
});

async function setup(): Promise<string> {
  const dir = join(work.dir, 'run');
  await mkdir(dir, { recursive: true });
  const { readFile } = await import('node:fs/promises');
  const binaries = await readFile(join(FIXTURES, 'manifests/kk-v3.1.5-binaries.yaml'), 'utf8');
  await writeFile(
    join(dir, 'm.yaml'),
    `${binaries}  images:\n${['docker.io/kubesphere/pause:3.9', ...MISSING].map((i) => `  - ${i}`).join('\n')}\n`,
  );
  const port = new URL(files.url).port;
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1
kind: MirrorPolicy
registries:
- {prefix: docker.io, mirrors: [{location: "${proxy.host}", plainHTTP: true}], upstream: false}
downloads:
${HOSTS.map((h) => `- {prefix: "https://${h}/", mirrors: [{location: "http://127.0.0.1:${port}/${h}/"}], upstream: false}`).join('\n')}
`,
  );
  return dir;
}

const args = [
  '-m',
  'm.yaml',
  '--mirror-config',
  'mirrors.yaml',
  '--cache',
  'cache',
  '--kk-version',
  'v3.1.5',
  '--retries',
  '0',
];

describe('export --keep-going with more failures than --concurrency', () => {
  it('tries every image and binary and counts every item of the plan', async () => {
    const dir = await setup();
    const dry = await runCli(['artifact', 'export', ...args, '--dry-run', '--json'], { cwd: dir, env: { HOME: dir } });
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as { images: unknown[]; binaries: Array<{ path: string; sources: string[] }> };
    expect(plan.images).toHaveLength(13);
    expect(plan.binaries.length).toBeGreaterThan(8);
    proxy.clear();
    files.clear();
    const r = await runCli(
      ['artifact', 'export', ...args, '-o', 'out.tar.gz', '--concurrency', '2', '--keep-going', '--json'],
      { cwd: dir, env: { HOME: dir } },
    );
    expect(r.code).toBe(1);
    for (const ref of MISSING) {
      const repo = /docker\.io\/(.+):v1$/.exec(ref)?.[1] as string;
      expect(proxy.count({ method: 'GET', path: `/v2/${repo}/manifests/v1` }), ref).toBeGreaterThan(0);
    }
    for (const b of plan.binaries) {
      const path = new URL(b.sources[0] as string).pathname;
      expect(files.count(path), b.path).toBeGreaterThan(0);
    }
    const items = plan.images.length + plan.binaries.length;
    const failed = MISSING.length + plan.binaries.length;
    expect(r.stderr).toContain(`${failed} of ${items} item(s) failed; nothing was written`);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(events.filter((e) => e.type === 'image-failed')).toHaveLength(MISSING.length);
    expect(events.filter((e) => e.type === 'file-failed')).toHaveLength(plan.binaries.length);
  });

  it('precheck --concurrency 2 checks every image and binary too', async () => {
    const dir = await setup();
    proxy.clear();
    files.clear();
    const r = await runCli(['precheck', ...args, '--concurrency', '2', '--json'], { cwd: dir, env: { HOME: dir } });
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout) as { images: Array<{ ok: boolean }>; files: Array<{ ok: boolean }> };
    expect(rep.images.filter((i) => !i.ok)).toHaveLength(MISSING.length);
    expect(rep.files.length).toBeGreaterThan(8);
    expect(rep.files.every((f) => !f.ok)).toBe(true);
    expect(files.requests.length).toBeGreaterThanOrEqual(rep.files.length);
  });

  it('precheck --concurrency bounds the registry lookups in flight (the flag reaches the library)', async () => {
    const dir = await setup();
    const stalled = async (n: string): Promise<number> => {
      proxy.clear();
      proxy.add({ path: '/manifests/', times: Infinity, fault: { kind: 'stall', ms: 150 } }); // lookups overlap
      const r = await runCli(['precheck', ...args, '--concurrency', n, '--json'], { cwd: dir, env: { HOME: dir } });
      expect(r.code).toBe(1); // the missing images
      return proxy.maxInFlight;
    };
    expect(await stalled('2')).toBeLessThanOrEqual(2);
    expect(await stalled('8')).toBeGreaterThan(2);
  });

  it('errors are grouped by cause: one mirror refusing 12 images is one error with the items, the 404 binaries another', async () => {
    const dir = await setup();
    const r = await runCli(['artifact', 'export', ...args, '-o', 'out.tar.gz', '--concurrency', '3', '--keep-going'], {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(2);
    expect(
      errors.filter((e) => e.includes(`${MISSING.length} items failed the same way: every source failed:`)),
    ).toHaveLength(1);
    expect(r.stderr).toContain(
      `items: ${[...MISSING]
        .sort()
        .map((m) => `${m} (amd64)`)
        .join(', ')}`,
    ); // sorted by name
    expect(r.stderr.split('missing-3:v1').length - 1).toBe(1); // named once, in the items line
    expect(r.stderr).toMatch(
      /12 items failed the same way: every source failed:\n {2}1\) 127\.0\.0\.1:\d+ \(mirror\): getting manifest 127\.0\.0\.1:\d+\/…: .*HTTP 404/,
    );
    expect(r.stderr).toMatch(
      /\d+ items failed the same way: every source failed:\n {2}1\) 127\.0\.0\.1:\d+ \(mirror\): GET http:\/\/127\.0\.0\.1:\d+\/…: HTTP 404\n {2}items: kube\/|items: [^\n]*kube\/v1\.28\.12\/amd64\/kubeadm/,
    );
  });

  it("a binary whose mirror serves the wrong bytes: named as the binary, and the hint is about that mirror's copy", async () => {
    const dir = await setup();
    const dry = JSON.parse(
      (await runCli(['artifact', 'export', ...args, '--dry-run', '--json'], { cwd: dir, env: { HOME: dir } })).stdout,
    ) as { binaries: Array<{ path: string; sources: string[] }> };
    const kubeadm = dry.binaries.find((b) => b.path.endsWith('/kubeadm')) as { path: string; sources: string[] };
    const served = join(files.root, decodeURIComponent(new URL(kubeadm.sources[0] as string).pathname));
    await mkdir(join(served, '..'), { recursive: true });
    await writeFile(served, 'not kubeadm');
    const r = await runCli(['artifact', 'export', ...args, '-o', 'out.tar.gz', '--keep-going'], {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(r.code).toBe(1);
    const at = r.stderr.indexOf(`error: downloading kubeadm`);
    expect(at).toBeGreaterThanOrEqual(0);
    const block = r.stderr.slice(at, r.stderr.indexOf('\nerror:', at + 1) >>> 0);
    expect(block).toContain(`fetching binary ${kubeadm.path}: got sha256:`);
    expect(block).not.toContain('blob');
    expect(block).toMatch(
      /hint: the bytes served do not match the catalog's sha256: the mirror holds a different or damaged copy/,
    );
    expect(block).not.toMatch(/hint: add a/);
  });

  it('validate --online: the failing image is named once per issue, and no size estimate when nothing resolved', async () => {
    const dir = await setup();
    await writeFile(
      join(dir, 'only-missing.yaml'),
      `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64]\n  images:\n${MISSING.slice(
        0,
        2,
      )
        .map((i) => `  - ${i}`)
        .join('\n')}\n`,
    );
    const v = await runCli(
      [
        'manifest',
        'validate',
        '-f',
        'only-missing.yaml',
        '--online',
        '--mirror-config',
        'mirrors.yaml',
        '--cache',
        'cache',
        '--retries',
        '0',
      ],
      { cwd: dir, env: { HOME: dir } },
    );
    expect(v.code).toBe(1);
    const issue = v.stderr.split('\n').find((l) => l.includes('missing-0:v1')) ?? '';
    expect(issue.split('docker.io/kubesphere/missing-0:v1').length - 1).toBe(1); // not "ref (arch): image ref (arch): …"
    expect(v.stdout + v.stderr).not.toContain('images need');
  });
});
