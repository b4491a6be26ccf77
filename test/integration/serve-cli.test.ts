import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerdUnavailable, startContainerd, type TestContainerd } from '../support/containerd.js';
import { exportServeFixture, SERVE_IMAGES, type ServeFixture } from '../support/serve-fixture.js';
import { runCli } from '../cli/run-cli.js';
import { stopChild } from '../support/exec.js';

// The spawned `kko artifact serve` (dist/, as a user runs it): --json, the access log, SIGTERM, its RSS, and
// containerd pulling through the hosts.toml `kko mirror render` writes.

const sh = promisify(execFile);
const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;
let fixture: ServeFixture;
// Every server a test starts, stopped by its pid after the file (SIGTERM, SIGKILL after a grace) even when an
// assertion failed before the test's own SIGTERM.
const started: ChildProcess[] = [];

type Served = { child: ChildProcess; url: string; stderr: () => string; exit: Promise<number | null> };

async function serve(args: string[]): Promise<Served> {
  const child = spawn(
    process.execPath,
    [BIN, 'artifact', 'serve', fixture.artifact, '--listen', '127.0.0.1:0', '--json', ...args],
    { env: { PATH: process.env.PATH ?? '', HOME: fixture.dir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.push(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    void exit.then(() => reject(new Error(`serve exited early: ${err}`)));
  });
  const ev = JSON.parse(line) as { event: string; url: string; port: number };
  expect(ev.event).toBe('listening');
  return { child, url: ev.url, stderr: () => err, exit };
}

// Peak resident set (VmHWM) of a live process, in MiB.
async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

beforeAll(async () => {
  fixture = await exportServeFixture('kko-serve-cli-', { layerSize: 4 * 1024 * 1024 });
}, 240_000);
afterAll(async () => {
  await Promise.all(started.map((c) => stopChild(c, 5000)));
  await fixture?.stop();
});

describe('kko artifact serve (spawned)', () => {
  it('prints the address as JSON, logs requests with --verbose (never credentials), and drains and exits 143 on SIGTERM', async () => {
    const s = await serve(['--verbose']);
    const host = s.url.slice('http://'.length);
    const out = join(fixture.dir, 'cli-copied');
    await sh('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      '--src-creds',
      'someone:secret-Zq7',
      `docker://${host}/calico/node:v3.27.3`,
      `oci:${out}:node`,
    ]);
    const rss = await peakRssMiB(s.child.pid as number);
    expect(rss).toBeLessThan(256);
    // a blob download in flight when SIGTERM arrives (headers received, body not yet read) still completes
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const list = JSON.parse(
      await readFile(join(out, 'blobs/sha256', (index.manifests[0]?.digest as string).slice(7)), 'utf8'),
    ) as { manifests: Array<{ digest: string }> };
    const image = JSON.parse(
      await readFile(join(out, 'blobs/sha256', (list.manifests[0]?.digest as string).slice(7)), 'utf8'),
    ) as { layers: Array<{ digest: string; size: number }> };
    const big = image.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const inFlight = await fetch(`${s.url}/v2/calico/node/blobs/${big.digest}`);
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect((await inFlight.arrayBuffer()).byteLength).toBe(big.size);
    expect(await s.exit).toBe(143);
    expect(s.stderr()).toMatch(/127\.0\.0\.1 GET \/v2\/calico\/node\/blobs\/sha256:[a-f0-9]{64} 200 \d+ms/);
    expect(s.stderr()).not.toContain('secret-Zq7');
  });

  it('refuses bad flags with exit 2 before reading the artifact', async () => {
    const r = await runCli(['artifact', 'serve', fixture.artifact, '--listen', 'nonsense']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--listen');
    const half = await runCli(['artifact', 'serve', fixture.artifact, '--tls-cert', 'x.pem']);
    expect(half.code).toBe(2);
  });
});

const unavailable = containerdUnavailable();
if (unavailable && process.env.CI) {
  describe('serve → containerd', () => {
    it('needs containerd in CI', () => {
      throw new Error(`containerd is required in CI: ${unavailable}`);
    });
  });
}

describe.skipIf(unavailable !== undefined)(
  `serve → containerd${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let ctrd: TestContainerd;
    let s: Served;
    beforeAll(async () => {
      [ctrd, s] = await Promise.all([startContainerd(), serve([])]);
    }, 120_000);
    afterAll(async () => {
      s?.child.kill('SIGTERM');
      await s?.exit;
      await ctrd?.stop();
    });

    it('ctr images pull --hosts-dir <kko mirror render --plain-http> pulls and unpacks docker.io and quay.io images from serve', async () => {
      const host = s.url.slice('http://'.length);
      const hosts = join(fixture.dir, 'certs.d');
      const r = await runCli([
        'mirror',
        'render',
        '-m',
        join(fixture.dir, 'm.yaml'),
        '--registry',
        host,
        '--format',
        'containerd',
        '--plain-http',
        '-o',
        hosts,
      ]);
      expect(r.code, r.stderr).toBe(0);
      for (const ref of [SERVE_IMAGES[0] as string, SERVE_IMAGES[3] as string]) {
        const pull = await ctrd.ctr(
          ['images', 'pull', '--hosts-dir', hosts, '--snapshotter', ctrd.snapshotter, '--platform', 'linux/amd64', ref],
          { timeoutMs: 120_000 },
        );
        expect(pull.code, pull.stderr).toBe(0);
        const ls = await ctrd.ctr(['images', 'ls']);
        const digest = /sha256:[a-f0-9]{64}/.exec(
          ls.stdout.split('\n').find((l) => l.startsWith(`${ref} `)) ?? '',
        )?.[0];
        const upstream = ref.startsWith('quay.io')
          ? await fixture.client.getManifest('quay/calico/kko-cni', 'v1')
          : await fixture.client.getManifest('calico/node', 'v3.27.3');
        expect(digest).toBe(upstream.digest);
      }
      // unpacked: the snapshot of the pulled image exists
      const snaps = await ctrd.ctr(['snapshots', '--snapshotter', ctrd.snapshotter, 'ls']);
      expect(snaps.stdout.split('\n').length).toBeGreaterThan(2);
    });
  },
);
