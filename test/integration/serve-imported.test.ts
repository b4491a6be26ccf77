import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageStore, type ImageStore } from '../../src/artifact-store/index.js';
import { startServer, type RunningServer } from '../../src/serve/index.js';
import { runCli } from '../cli/run-cli.js';
import { exportServeFixture, type ServeFixture } from '../support/serve-fixture.js';

// `kko artifact serve DIR`: an imported artifact directory served in place (no copy) with the same names as the
// artifact file, checked by skopeo against the upstream registry; and a .tar.gz that kko did not write (GNU tar -z),
// refused by serve with the fix, which then works: import it, serve the directory (push reads it in order).

const sh = promisify(execFile);
const skopeo = (...args: string[]) => sh('skopeo', args, { maxBuffer: 1 << 26, encoding: 'buffer' });
let fixture: ServeFixture;
const opened: ImageStore[] = [];
const servers: RunningServer[] = [];

beforeAll(async () => {
  fixture = await exportServeFixture('kko-serve-imp-');
  const imp = await runCli(['artifact', 'import', fixture.artifact, '--dir', 'imp'], {
    cwd: fixture.dir,
    env: { HOME: fixture.dir },
  });
  expect(imp.code, imp.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(opened.map((s) => s.close()));
  await fixture?.stop();
});

async function serveDir(path: string): Promise<string> {
  const store = await openImageStore(path);
  opened.push(store);
  const srv = await startServer(store, { listen: { host: '127.0.0.1', port: 0 } });
  servers.push(srv);
  return srv.url.slice('http://'.length);
}

const raw = async (ref: string): Promise<Buffer> =>
  (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${ref}`)).stdout as unknown as Buffer;

describe('kko artifact serve of an imported directory', () => {
  it.each([['imp'], ['imp/images']])(
    '%s: the upstream index (registry bytes), the synthesized index and per-arch manifests, as from the file',
    async (which) => {
      const host = await serveDir(join(fixture.dir, which));
      const upstream = await fixture.client.getManifest('calico/node', 'v3.27.3');
      expect((await raw(`${host}/calico/node:v3.27.3`)).equals(upstream.bytes)).toBe(true);
      const file = await openImageStore(fixture.artifact);
      opened.push(file);
      const api = { registry: 'docker.io', repository: 'kubesphere/kube-apiserver', tag: 'v1.28.12' };
      const synthesized = await raw(`${host}/kubesphere/kube-apiserver:v1.28.12`);
      expect(synthesized.equals((await file.getManifest(api)).bytes)).toBe(true);
      const arm = JSON.parse(
        (
          await skopeo('inspect', '--tls-verify=false', `docker://${host}/quay.io/calico/kko-cni:v1-arm64`)
        ).stdout.toString(),
      ) as { Architecture: string; Digest: string };
      expect(arm.Architecture).toBe('arm64');
      expect(arm.Digest).toBe(
        (await file.headManifest({ ...api, repository: 'calico/kko-cni', registry: 'quay.io', tag: 'v1-arm64' }))
          ?.digest,
      );
    },
  );

  it('skopeo copy --all gets every blob with the registry digests; Range reads return the blob bytes', async () => {
    const host = await serveDir(join(fixture.dir, 'imp'));
    const out = join(fixture.dir, 'from-dir');
    await mkdir(out, { recursive: true });
    await skopeo(
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${host}/calico/node:v3.27.3`,
      `oci:${out}:n`,
    );
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests[0]?.digest).toBe((await fixture.client.getManifest('calico/node', 'v3.27.3')).digest);
    for (const hex of await readdir(join(out, 'blobs', 'sha256')))
      expect(
        createHash('sha256')
          .update(await readFile(join(out, 'blobs', 'sha256', hex)))
          .digest('hex'),
      ).toBe(hex);
    // the largest blob, by ranges
    const blobs = join(fixture.dir, 'imp', 'images', 'blobs', 'sha256');
    const sizes = await Promise.all(
      (await readdir(blobs)).map(async (h) => ({ h, bytes: await readFile(join(blobs, h)) })),
    );
    const big = sizes.sort((a, b) => b.bytes.length - a.bytes.length)[0] as { h: string; bytes: Buffer };
    const r = await fetch(`http://${host}/v2/calico/node/blobs/sha256:${big.h}`, {
      headers: { Range: 'bytes=1000-4999' },
    });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 1000-4999/${big.bytes.length}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(big.bytes.subarray(1000, 5000))).toBe(true);
    const tail = await fetch(`http://${host}/v2/calico/node/blobs/sha256:${big.h}`, {
      headers: { Range: 'bytes=-10' },
    });
    expect(Buffer.from(await tail.arrayBuffer()).equals(big.bytes.subarray(-10))).toBe(true);
  });

  it('refuses a directory whose blob was truncated (open), and cuts a whole read of a blob changed in place', async () => {
    const bad = join(fixture.dir, 'imp-bad');
    await sh('cp', ['-r', join(fixture.dir, 'imp'), bad]);
    const blobs = join(bad, 'images', 'blobs', 'sha256');
    const files = await Promise.all(
      (await readdir(blobs)).map(async (h) => ({ h, size: (await readFile(join(blobs, h))).length })),
    );
    const big = files.sort((a, b) => b.size - a.size)[0] as { h: string; size: number };
    const bytes = await readFile(join(blobs, big.h));
    const store = await openImageStore(bad);
    opened.push(store);
    const srv = await startServer(store, { listen: { host: '127.0.0.1', port: 0 } });
    servers.push(srv);
    bytes[100] = (bytes[100] as number) ^ 0xff; // same size: only the hash can tell
    await writeFile(join(blobs, big.h), bytes);
    const whole = await fetch(`${srv.url}/v2/calico/node/blobs/sha256:${big.h}`)
      .then((r) => r.arrayBuffer())
      .catch((e: unknown) => e);
    expect(whole instanceof Error || (whole as ArrayBuffer).byteLength < big.size).toBe(true);
    await writeFile(join(blobs, big.h), bytes.subarray(0, 1000));
    const err = await openImageStore(bad).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ARTIFACT_CORRUPT');
    expect((err as Error).message).toMatch(
      new RegExp(`blob sha256:${big.h} has 1000 bytes, its manifest says ${big.size}`),
    );
  });

  it('refuses a directory whose blob is a symlink to a file outside the layout (a Range read would serve it)', async () => {
    const bad = join(fixture.dir, 'imp-link');
    await sh('cp', ['-r', join(fixture.dir, 'imp'), bad]);
    const blobs = join(bad, 'images', 'blobs', 'sha256');
    const files = await Promise.all(
      (await readdir(blobs)).map(async (h) => ({ h, size: (await readFile(join(blobs, h))).length })),
    );
    const big = files.sort((a, b) => b.size - a.size)[0] as { h: string; size: number };
    const secret = join(fixture.dir, 'secret.bin'); // outside the layout, of the size the manifest says
    await writeFile(secret, Buffer.alloc(big.size, 0x53));
    await rm(join(blobs, big.h));
    await symlink(secret, join(blobs, big.h));
    const err = await openImageStore(bad).catch((e: unknown) => e);
    if (!(err instanceof Error)) opened.push(err as ImageStore);
    expect((err as { code?: string }).code).toBe('INVALID_INPUT');
    expect((err as Error).message).toMatch(new RegExp(`blob sha256:${big.h} is a link to .*secret\\.bin, outside`));
    // a symlink that stays inside the layout (to a copy of the same bytes) is served as before
    await rm(join(blobs, big.h));
    await sh('cp', [join(fixture.dir, 'imp', 'images', 'blobs', 'sha256', big.h), join(bad, 'images', 'copy')]);
    await symlink(join('..', '..', 'copy'), join(blobs, big.h));
    const store = await openImageStore(bad);
    opened.push(store);
  });

  it('refuses a directory that is no imported artifact, and --key with a directory (exit 2)', async () => {
    const run = (...args: string[]) =>
      runCli(['artifact', 'serve', ...args, '--listen', '127.0.0.1:0'], {
        cwd: fixture.dir,
        env: { HOME: fixture.dir },
      });
    const none = await run(join(fixture.dir, 'cache'));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/neither an imported artifact \(no images\/index\.json\) nor an OCI image layout/);
    expect(none.stderr).toMatch(/hint: .*kko artifact import/);
    const key = await run('imp', '--key', 'whatever.pub');
    expect(key.code).toBe(2);
    expect(key.stderr).toMatch(/--key: imp is a directory/);
  });
});

describe('a .tar.gz kko did not write (GNU tar -z)', () => {
  let foreign: string;
  beforeAll(async () => {
    const x = join(fixture.dir, 'unpacked');
    await mkdir(x, { recursive: true });
    await sh('tar', ['-xzf', fixture.artifact, '-C', x]);
    foreign = join(fixture.dir, 'foreign.tar.gz');
    await sh('tar', ['-czf', foreign, '-C', x, ...(await readdir(x)).sort()]);
  }, 60_000);

  it('serve refuses it (exit 2) naming a deflated blob and the fix; the fix (import, serve the directory) works', async () => {
    const r = await runCli(['artifact', 'serve', foreign, '--listen', '127.0.0.1:0'], {
      cwd: fixture.dir,
      env: { HOME: fixture.dir },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/blob sha256:[a-f0-9]{64} \(\d+ bytes\) is deflated in the archive/);
    expect(r.stderr).toMatch(/hint: .*kko artifact import .*foreign\.tar\.gz --dir DIR, then kko artifact serve DIR/);
    const imp = await runCli(['artifact', 'import', foreign, '--dir', 'foreign-imp'], {
      cwd: fixture.dir,
      env: { HOME: fixture.dir },
    });
    expect(imp.code, imp.stderr).toBe(0);
    const host = await serveDir(join(fixture.dir, 'foreign-imp'));
    const upstream = await fixture.client.getManifest('calico/node', 'v3.27.3');
    expect((await raw(`${host}/calico/node:v3.27.3`)).equals(upstream.bytes)).toBe(true);
  });

  it('push reads it in order instead (two passes, no import needed), as it pushes the imported directory', async () => {
    const push = (...src: string[]) =>
      runCli(
        [
          'artifact',
          'images',
          'push',
          ...src,
          '--registry',
          `${fixture.env.reg.host}/foreign`,
          '--plain-http',
          '--kk-version',
          'v3.1.12',
        ],
        { cwd: fixture.dir, env: { HOME: fixture.dir } },
      );
    const r = await push('-a', foreign);
    expect(r.code, r.stderr).toBe(0);
    const d = await push('--images-dir', 'foreign-imp');
    expect(d.code, d.stderr).toBe(0);
  });
});
