import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildMultiArch, fixtureSet, pushIndex, tarOf, type FixtureIndex } from '../support/builders.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { runCli } from '../cli/run-cli.js';

// #12 item 4 against the real registry (behind the fault proxy, which records every request): lock, retag an image
// to other content, export refuses naming the tag; --update-lock takes it; a matching lock pulls by digest.
const fx = fixtureSet({ baseSize: 16 * 1024 });
const moved = buildMultiArch('pause-moved', { layerSize: 8 * 1024 });
let env: ProxiedRegistry;
let dir: string;
let mf: string;
let lockFile: string;
let mirrors: string;

const MANIFEST = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64, arm64]
  images:
  - docker.io/library/pause-d:1
  - docker.io/kubesphere/pause:3.9
`;

const lockedFor = (ref: string, index: FixtureIndex) => ({
  ref,
  digest: index.manifest.descriptor.digest,
  mediaType: index.manifest.descriptor.mediaType,
  arches: { amd64: index.images[0]?.manifest.descriptor.digest, arm64: index.images[1]?.manifest.descriptor.digest },
});

const cli = (args: string[]) =>
  runCli([...args, '--mirror-config', mirrors, '--cache', join(dir, 'cache'), '--retries', '0']);
const exportTo = (out: string, extra: string[] = []) =>
  cli(['artifact', 'export', '-m', mf, '-o', out, '--quiet', ...extra]);

async function retag(index: FixtureIndex): Promise<void> {
  const c = new RegistryClient(env.reg.host, { plainHTTP: true });
  try {
    await pushIndex(c, 'kubesphere/pause', '3.9', index);
  } finally {
    await c.close();
  }
}

async function inventoryOf(
  art: string,
  sub: string,
): Promise<{
  images: Array<{ ref: string; arch: string; upstream: { manifestDigest: string; indexDigest?: string } }>;
}> {
  const x = join(dir, sub);
  await mkdir(x);
  await run('tar', ['xzf', art, '-C', x, 'kko/inventory.json']);
  return JSON.parse(await readFile(join(x, 'kko/inventory.json'), 'utf8')) as never;
}

beforeAll(async () => {
  env = await startProxiedRegistry('kko-lock-', async (c) => {
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(c, 'library/pause-d', '1', fx.pauseDocker);
  });
  dir = env.work.dir;
  mf = join(dir, 'manifest.yaml');
  lockFile = join(dir, 'manifest.lock.json');
  mirrors = join(dir, 'mirrors.yaml');
  await writeFile(mf, MANIFEST);
  await writeFile(
    mirrors,
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "${env.proxy.host}", plainHTTP: true}], upstream: false}\n`,
  );
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe('kko manifest lock → artifact export', () => {
  it('locks every tag to its index digest and each arch manifest digest, deterministically', async () => {
    const r = await cli(['manifest', 'lock', '-m', mf]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${lockFile}`);
    const text = await readFile(lockFile, 'utf8');
    expect(JSON.parse(text)).toEqual({
      apiVersion: 'kko.io/v1alpha1',
      kind: 'ManifestLock',
      images: [
        lockedFor('docker.io/kubesphere/pause:3.9', fx.pause),
        lockedFor('docker.io/library/pause-d:1', fx.pauseDocker),
      ],
    });
    const again = await cli(['manifest', 'lock', '-m', mf]);
    expect(again.stdout).toContain(`unchanged ${lockFile}`);
    expect(await readFile(lockFile, 'utf8')).toBe(text);
  });

  it('an export with the matching lock checks each tag once, then pulls by digest', async () => {
    env.proxy.clear();
    const out = join(dir, 'ok.tar.gz');
    const r = await exportTo(out);
    expect(r.code, r.stderr).toBe(0);
    const index = fx.pause.manifest.descriptor.digest;
    expect(env.proxy.count({ method: 'GET', path: '/v2/kubesphere/pause/manifests/3.9' })).toBe(1); // the drift check
    expect(env.proxy.count({ method: 'GET', path: `/v2/kubesphere/pause/manifests/${index}` })).toBe(1); // the fetch
    const inv = await inventoryOf(out, 'x-ok');
    expect(
      inv.images.find((i) => i.ref === 'docker.io/kubesphere/pause:3.9' && i.arch === 'arm64')?.upstream,
    ).toMatchObject({ indexDigest: index, manifestDigest: fx.pause.images[1]?.manifest.descriptor.digest });
  });

  it('refuses a tag that moved, old → new digest, before any layer is fetched; nothing is written (exit 1)', async () => {
    await retag(moved);
    env.proxy.clear();
    const out = join(dir, 'drift.tar.gz');
    const r = await exportTo(out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `docker.io/kubesphere/pause:3.9 moved: ${fx.pause.manifest.descriptor.digest} → ${moved.manifest.descriptor.digest}`,
    );
    expect(r.stderr).toContain('--update-lock');
    expect(r.stderr).not.toContain('pause-d:1 moved');
    for (const l of moved.images.flatMap((i) => i.layers))
      expect(env.proxy.count({ method: 'GET', path: `/blobs/${l.descriptor.digest}` })).toBe(0);
    await expect(stat(out)).rejects.toThrow();
  });

  it('--update-lock takes the new digests, rewrites the lock and exports the new content', async () => {
    const before = await readFile(lockFile, 'utf8');
    const out = join(dir, 'updated.tar.gz');
    const r = await exportTo(out, ['--update-lock']);
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: unknown[] };
    expect(lock.images).toEqual([
      lockedFor('docker.io/kubesphere/pause:3.9', moved),
      lockedFor('docker.io/library/pause-d:1', fx.pauseDocker),
    ]);
    expect(await readFile(lockFile, 'utf8')).not.toBe(before);
    const inv = await inventoryOf(out, 'x-up');
    expect(inv.images.find((i) => i.ref === 'docker.io/kubesphere/pause:3.9')?.upstream.indexDigest).toBe(
      moved.manifest.descriptor.digest,
    );
    // and the next plain export holds to the new lock
    expect((await exportTo(join(dir, 'after.tar.gz'))).code).toBe(0);
  });

  it('a malformed lock, or a --lock that does not exist, is invalid input (exit 2)', async () => {
    const bad = join(dir, 'bad.lock.json');
    await writeFile(
      bad,
      JSON.stringify({
        apiVersion: 'kko.io/v1alpha1',
        kind: 'ManifestLock',
        images: [{ ref: 'x', digest: 'sha256:nothex', mediaType: 'm', arches: {} }],
      }),
    );
    const r = await exportTo(join(dir, 'bad.tar.gz'), ['--lock', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.lock\.json: images\.0\.digest: must be sha256/);
    const missing = await exportTo(join(dir, 'missing.tar.gz'), ['--lock', join(dir, 'nope.lock.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.lock.json');
  });
});

describe('kko artifact inventory (#12 item 3: the have-list)', () => {
  it('lists every blob, ref and file of the artifact with the sha256 of its inventory', async () => {
    const art = join(dir, 'ok.tar.gz');
    const r = await runCli(['artifact', 'inventory', art]);
    expect(r.code, r.stderr).toBe(0);
    const have = JSON.parse(r.stdout) as {
      kind: string;
      base: { inventorySha256: string };
      refs: Record<string, string>;
      blobs: string[];
      files: Array<{ path: string; sha256: string; size: number }>;
    };
    const names = (await run('tar', ['tzf', art])).split('\n').filter((n) => n && !n.endsWith('/'));
    expect(have.kind).toBe('ArtifactHave');
    expect(have.blobs).toEqual(
      names
        .filter((n) => n.startsWith('images/blobs/'))
        .map((n) => `sha256:${n.slice('images/blobs/sha256/'.length)}`)
        .sort(),
    );
    const x = join(dir, 'x-have');
    await mkdir(x);
    await run('tar', ['xzf', art, '-C', x]);
    const sha = async (p: string) =>
      createHash('sha256')
        .update(await readFile(join(x, p)))
        .digest('hex');
    expect(have.base.inventorySha256).toBe(await sha('kko/inventory.json'));
    expect(have.files.map((f) => f.path)).toEqual(['images/index.json', 'images/oci-layout']);
    expect(have.files[0]?.sha256).toBe(await sha('images/index.json'));
    const index = JSON.parse(await readFile(join(x, 'images/index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    expect(have.refs).toEqual(
      Object.fromEntries(index.manifests.map((m) => [m.annotations['org.opencontainers.image.ref.name'], m.digest])),
    );
  });

  it('refuses a damaged artifact (exit 1): its list would name content that is not there', async () => {
    const bad = join(dir, 'bad.tar.gz');
    await writeFile(
      bad,
      gzipSync(
        tarOf([
          { name: 'images/oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
          { name: `images/blobs/sha256/${'a'.repeat(64)}`, data: Buffer.from('not a') },
        ]),
      ),
    );
    const r = await runCli(['artifact', 'inventory', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`corrupt: images/blobs/sha256/${'a'.repeat(64)}`);
    expect(r.stdout).toBe('');
  });
});
