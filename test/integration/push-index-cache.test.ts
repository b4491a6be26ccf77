import { execFile } from 'node:child_process';
import { copyFile, mkdir, open, readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/artifact-store/index.js';
import { parseDigest, parseReference } from '../../src/reference/index.js';
import { buildLayer, buildMultiArch, pushIndex } from '../support/builders.js';
import { exportArgs, jsonEvents, pushArgs, writeExportInputs } from '../support/cli-args.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import {
  startProxiedRegistry,
  startRegistryBehindProxy,
  type ProxiedRegistry,
  type RegistryBehindProxy,
} from '../support/proxied-registry.js';
import type { TestRegistry } from '../support/registry.js';
import { runCli, type CliRun } from '../cli/run-cli.js';

// #11 performance: push opens the artifact on-read (metadata verified, each blob hashed as it is sent) and keeps a
// verified index in the kko cache, so a re-push of an unchanged artifact reads only its metadata and sends nothing.
// Against the real distribution registry behind the fault proxy (which counts the uploads).

const sh = promisify(execFile);
const IMAGES = ['docker.io/calico/cni:v3.27.4', 'docker.io/library/nginx:1.25', 'docker.io/library/busybox:1.36'];
const LAYER = 5 * 1024 * 1024; // above the 4 MiB a pass hashes as a possible manifest: layers are hashed on read
// One layer under both arches of busybox: the arches go up side by side, and it must still be sent once.
const SHARED = buildLayer('both-arches', LAYER);

let src: ProxiedRegistry;
let fronted: RegistryBehindProxy;
let target: TestRegistry;
let proxy: FaultProxy;
let dir: string;

beforeAll(async () => {
  src = await startProxiedRegistry('kko-push-cache-', async (c) => {
    const base = { amd64: buildLayer('cache-base', LAYER) };
    await pushIndex(c, 'calico/cni', 'v3.27.4', buildMultiArch('cni', { layerSize: LAYER, base }));
    await pushIndex(c, 'library/nginx', '1.25', buildMultiArch('nginx', { layerSize: LAYER }));
    const both = { amd64: SHARED, arm64: SHARED };
    await pushIndex(c, 'library/busybox', '1.36', buildMultiArch('busybox', { layerSize: LAYER, base: both }));
  });
  fronted = await startRegistryBehindProxy();
  ({ reg: target, proxy } = fronted);
  dir = join(src.work.dir, 'w');
  await mkdir(dir, { recursive: true });
  await writeExportInputs(dir, IMAGES, { host: src.reg.host });
  for (const [out, compress] of [
    ['art.tar', 'none'],
    ['art.tar.gz', 'gzip'],
  ] as const) {
    const r = await kko(exportArgs(out, { cache: 'blobs' }, '--compress', compress));
    expect(r.code, r.stderr).toBe(0);
  }
}, 180_000);

afterAll(async () => {
  await fronted?.stop();
  await src?.stop();
});

type Event = { type: string; [k: string]: unknown };
const events = (stdout: string): Event[] => jsonEvents<Event>(stdout);
const kko = (argv: string[]): Promise<CliRun> => runCli(argv, { cwd: dir, env: { HOME: dir } });

function push(art: string, path: string, cache = 'idx'): Promise<CliRun> {
  return kko(pushArgs(art, `${proxy.host}/${path}`, '--cache', cache, '--json'));
}

const uploads = (): number => proxy.count({ method: 'POST', path: /\/blobs\/uploads\// });

describe.each(['art.tar', 'art.tar.gz'])('%s', (art) => {
  const ns = art.replace(/\W/g, '');
  it('first push verifies on read and writes the index; a re-push hits it, reads no blob byte and sends none', async () => {
    const first = await push(art, ns, `idx-${ns}`);
    expect(first.code, first.stderr).toBe(0);
    const e1 = events(first.stdout);
    expect(e1.find((e) => e.type === 'source')).toMatchObject({ verify: 'on-read', index: 'miss' });
    const d1 = e1.at(-1) as Event;
    expect(d1).toMatchObject({ type: 'done', failed: 0 });
    expect(d1.bytesSent as number).toBeGreaterThan(4 * LAYER);
    expect(d1.sourceBytesRead as number).toBeGreaterThanOrEqual(4 * LAYER);
    expect((await readdir(join(dir, `idx-${ns}`, 'artifact-index'))).length).toBe(1);

    proxy.clear();
    const again = await push(art, ns, `idx-${ns}`);
    expect(again.code, again.stderr).toBe(0);
    const e2 = events(again.stdout);
    expect(e2.find((e) => e.type === 'source')).toMatchObject({ index: 'hit' });
    expect(e2.at(-1)).toMatchObject({ type: 'done', failed: 0, bytesSent: 0, sourceBytesRead: 0 });
    expect(e2.filter((e) => e.type === 'blob').every((e) => e.how === 'present')).toBe(true);
    expect(uploads()).toBe(0);
    expect(proxy.count({ method: 'GET', path: /\/blobs\/sha256:/ })).toBe(0);
  });
});

// Re-push request budget: a name whose tag already holds the digest the push would put costs one manifest HEAD, no
// blob HEAD and no PUT; only a digest match counts (a tag moved to other bytes is copied again), and --recheck HEADs
// every blob again.
describe('re-push skips names whose tag already holds the digest', () => {
  const MANIFEST_ACCEPT = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ].join(', ');
  // "HOST:PORT/ns/name:tag" → the registry URL of that manifest (straight to the registry, not through the proxy)
  const manifestUrl = (name: string): string => {
    const at = name.lastIndexOf(':');
    const repo = name.slice(name.indexOf('/') + 1, at);
    return `http://${target.host}/v2/${repo}/manifests/${name.slice(at + 1)}`;
  };
  const digestOf = async (name: string): Promise<string | null> => {
    const r = await fetch(manifestUrl(name), { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    return r.status === 200 ? r.headers.get('docker-content-digest') : null;
  };

  it('the arches of an image go up side by side; a layer they share is uploaded once', async () => {
    proxy.clear();
    const r = await push('art.tar', 'shared', 'idx-shared');
    expect(r.code, r.stderr).toBe(0);
    const done = events(r.stdout).at(-1) as Event;
    expect(done).toMatchObject({ type: 'done', images: 3, failed: 0 });
    const shared = SHARED.descriptor.digest;
    const sharedPuts = proxy.seen.filter(
      (q) => q.method === 'PUT' && q.path.includes('/blobs/uploads/') && q.path.includes(shared.slice(7)),
    );
    expect(sharedPuts.length).toBe(1);
    const blobs = events(r.stdout).filter((e) => e.type === 'blob' && String(e.name).endsWith('/busybox:1.36'));
    expect(blobs.length).toBe(6); // per arch: config, the shared layer, its own layer
    expect(new Set(blobs.map((e) => e.digest)).size).toBe(5);
  });

  it('one HEAD per name, none per blob; a moved tag is put back; --recheck HEADs the blobs', async () => {
    const first = await push('art.tar', 'skip', 'idx-skip');
    expect(first.code, first.stderr).toBe(0);
    const done = events(first.stdout).filter((e) => e.type === 'image-done');
    const names = done.flatMap((e) => [e.name as string, ...(e.tags as string[])]);
    expect(names.length).toBe(9); // 3 images × (2 arches + the index)
    const before = new Map(await Promise.all(names.map(async (n) => [n, await digestOf(n)] as const)));

    proxy.clear();
    const again = await push('art.tar', 'skip', 'idx-skip');
    expect(again.code, again.stderr).toBe(0);
    expect(events(again.stdout).at(-1)).toMatchObject({ type: 'done', images: 3, failed: 0, bytesSent: 0 });
    expect(proxy.count({ method: 'HEAD', path: /\/blobs\// })).toBe(0);
    expect(proxy.count({ method: 'PUT' })).toBe(0);
    expect(proxy.count({ method: 'HEAD', path: /\/manifests\// })).toBe(names.length);
    expect(proxy.seen.filter((r) => r.path !== '/v2/').length).toBe(names.length);

    // Move one arch tag to the other arch's manifest: same repository, other digest. The re-push must not trust it.
    const moved = (done[0]?.tags as string[])[0] as string;
    const other = (done[0]?.tags as string[])[1] as string;
    const got = await fetch(manifestUrl(other), { headers: { accept: MANIFEST_ACCEPT } });
    const put = await fetch(manifestUrl(moved), {
      method: 'PUT',
      headers: { 'content-type': got.headers.get('content-type') ?? '' },
      body: Buffer.from(await got.arrayBuffer()),
    });
    expect(put.status).toBe(201);
    expect(await digestOf(moved)).not.toBe(before.get(moved));

    proxy.clear();
    const fixed = await push('art.tar', 'skip', 'idx-skip');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await digestOf(moved)).toBe(before.get(moved));
    const tagOf = (n: string): string => n.slice(n.lastIndexOf(':') + 1);
    expect(proxy.count({ method: 'PUT', path: new RegExp(`/manifests/${tagOf(moved)}$`) })).toBe(1);
    expect(proxy.count({ method: 'PUT', path: /\/manifests\/sha256:/ })).toBe(0);
    expect(proxy.count({ method: 'HEAD', path: /\/blobs\// })).toBeGreaterThan(0);
    expect(uploads()).toBe(0);
    for (const n of names) expect(await digestOf(n)).toBe(before.get(n));

    proxy.clear();
    const recheck = await kko(pushArgs('art.tar', `${proxy.host}/skip`, '--cache', 'idx-skip', '--recheck', '--json'));
    expect(recheck.code, recheck.stderr).toBe(0);
    expect(proxy.count({ method: 'HEAD', path: /\/blobs\// })).toBeGreaterThanOrEqual(4);
    expect(proxy.count({ method: 'PUT', path: /\/manifests\// })).toBeGreaterThanOrEqual(names.length);
    expect(uploads()).toBe(0);
  });
});

// Flip one byte of `digest`'s bytes inside the file, size kept, mtime put back as it was.
async function flipByteOf(file: string, blob: Buffer): Promise<void> {
  const bytes = await readFile(file);
  const at = bytes.indexOf(blob.subarray(0, 4096));
  expect(at).toBeGreaterThan(0);
  const before = await stat(file);
  const fh = await open(file, 'r+');
  const one = Buffer.of((bytes[at + 5000] as number) ^ 0xff);
  await fh.write(one, 0, 1, at + 5000);
  await fh.close();
  await utimes(file, before.atimeMs / 1000, before.mtimeMs / 1000);
  expect(Math.abs((await stat(file)).mtimeMs - before.mtimeMs)).toBeLessThan(0.01);
  expect((await stat(file)).size).toBe(before.size);
}

async function layerOf(art: string, image: string): Promise<{ digest: string; bytes: Buffer }> {
  const inv = JSON.parse((await sh('tar', ['-xOf', art, 'kko/inventory.json'])).stdout) as {
    images: Array<{ ref: string; arch: string; digest: string }>;
  };
  const img = inv.images.find((i) => i.ref === image && i.arch === 'arm64');
  const manifest = JSON.parse(
    (await sh('tar', ['-xOf', art, `images/blobs/sha256/${img?.digest.slice(7)}`])).stdout,
  ) as { layers: Array<{ digest: string; size: number }> };
  const layer = manifest.layers.at(-1) as { digest: string; size: number };
  const out = await sh('tar', ['-xOf', art, `images/blobs/sha256/${layer.digest.slice(7)}`], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { digest: layer.digest, bytes: out.stdout };
}

describe('trust', () => {
  it('a layer corrupted in place (size and mtime kept) is refused at push with DIGEST_MISMATCH naming it; no tag for that image', async () => {
    const bad = join(dir, 'bad.tar');
    await copyFile(join(dir, 'art.tar'), bad);
    const warm = await push(bad, 'warm', 'idx-bad');
    expect(warm.code, warm.stderr).toBe(0);
    const layer = await layerOf(bad, IMAGES[1] as string);
    await flipByteOf(bad, layer.bytes);
    const r = await push(bad, 'corrupt', 'idx-bad');
    expect(r.code).toBe(1);
    const ev = events(r.stdout);
    expect(ev.find((e) => e.type === 'source')).toMatchObject({ index: 'miss' }); // ctime moved: the index is stale
    const failed = ev.filter((e) => e.type === 'image-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(failed[0]?.message).toContain(layer.digest);
    expect(failed[0]?.name).toMatch(/library\/nginx:1\.25$/);
    const tags = await fetch(`http://${target.host}/v2/corrupt/library/nginx/tags/list`);
    const list = tags.ok ? (((await tags.json()) as { tags?: string[] | null }).tags ?? []) : [];
    expect(list).not.toContain('1.25');
    expect(list).not.toContain('1.25-arm64');
    // the other image went through
    const ok = await fetch(`http://${target.host}/v2/corrupt/calico/cni/manifests/v3.27.4`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    expect(ok.status).toBe(200);
  });

  it('an artifact replaced under the same name is not served from the old index', async () => {
    const path = join(dir, 'swap.tar');
    await copyFile(join(dir, 'art.tar'), path);
    expect((await push(path, 'swap1', 'idx-swap')).code).toBe(0);
    expect(events((await push(path, 'swap1', 'idx-swap')).stdout).find((e) => e.type === 'source')).toMatchObject({
      index: 'hit',
    });
    await copyFile(join(dir, 'art.tar'), `${path}.new`);
    await rename(`${path}.new`, path);
    const r = await push(path, 'swap2', 'idx-swap');
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).find((e) => e.type === 'source')).toMatchObject({ index: 'miss' });
  });

  it('a damaged index file is ignored (no crash), the push verifies on read, and the index is rebuilt', async () => {
    const cache = 'idx-damaged';
    expect((await push('art.tar', 'dmg1', cache)).code).toBe(0);
    const files = await readdir(join(dir, cache, 'artifact-index'));
    expect(files).toHaveLength(1);
    const file = join(dir, cache, 'artifact-index', files[0] as string);
    const good = await readFile(file);
    // a flipped byte in the body (its checksum line no longer matches), then plain garbage
    for (const damaged of [Buffer.concat([good.subarray(0, -10), Buffer.from('0000000000')]), Buffer.from('{oops')]) {
      await writeFile(file, damaged);
      const r = await push('art.tar', 'dmg2', cache);
      expect(r.code, r.stderr).toBe(0);
      expect(events(r.stdout).find((e) => e.type === 'source')).toMatchObject({ index: 'miss' });
    }
    const r = await push('art.tar', 'dmg2', cache);
    expect(events(r.stdout).find((e) => e.type === 'source')).toMatchObject({ index: 'hit' });
  });

  it('on-read store: a range of a blob not yet verified is read whole through the hash; corrupt bytes fail it', async () => {
    const path = join(dir, 'range.tar');
    await copyFile(join(dir, 'art.tar'), path);
    const layer = await layerOf(path, IMAGES[0] as string);
    const ref = parseReference('docker.io/calico/cni:v3.27.4');
    const desc = { mediaType: 'application/octet-stream', digest: parseDigest(layer.digest), size: layer.bytes.length };
    const store = await ArtifactStore.open(path, { verify: 'on-read' });
    try {
      const part = await buffer(await store.getBlob(ref, desc, { offset: 1000, length: 3000 }));
      expect(part.equals(layer.bytes.subarray(1000, 4000))).toBe(true);
      expect(store.stats.blobBytesRead).toBe(layer.bytes.length);
    } finally {
      await store.close();
    }
    await flipByteOf(path, layer.bytes);
    const again = await ArtifactStore.open(path, { verify: 'on-read' });
    try {
      await expect(buffer(await again.getBlob(ref, desc, { offset: 1000, length: 3000 }))).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
      });
      // the full open (serve, artifact verify) refuses it before anything is read
      await expect(ArtifactStore.open(path)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
    } finally {
      await again.close();
    }
  });
});
