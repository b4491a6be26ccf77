import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ContentTarget, CopyEvent } from '../../src/content/index.js';
import { copyImage } from '../../src/copy/index.js';
import { OciLayout } from '../../src/layout/index.js';
import { parsePlatform } from '../../src/oci/index.js';
import { parseReference, sha256Digest, type Reference } from '../../src/reference/index.js';
import { RegistryStore } from '../../src/registry/index.js';
import { fixtureSet, pushImage, type Blob, type FixtureImage, type FixtureIndex } from '../support/builders.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';

const fx = fixtureSet({ baseSize: 256 * 1024, layerSize: 64 * 1024 });
const PAUSE = 'docker.io/kubesphere/pause:3.9';
const APISERVER = 'docker.io/kubesphere/kube-apiserver:v1.28.0';
const ref = (s: string): Reference => parseReference(s);

// Write a fixture into a layout through the store's own puts (children by digest, then the top under its tag).
async function seedImage(layout: ContentTarget, r: Reference, img: FixtureImage, tagged = true): Promise<void> {
  for (const b of [img.config, ...img.layers])
    await layout.putBlob(r, b.descriptor, async () => Readable.from([b.bytes]));
  const m = img.manifest;
  await layout.putManifest(
    tagged ? r : { registry: r.registry, repository: r.repository, digest: m.descriptor.digest },
    { bytes: m.bytes, mediaType: m.descriptor.mediaType, digest: m.descriptor.digest },
  );
}

async function seedIndex(layout: ContentTarget, r: Reference, index: FixtureIndex): Promise<void> {
  for (const img of index.images) await seedImage(layout, r, img, false);
  const m = index.manifest;
  await layout.putManifest(r, { bytes: m.bytes, mediaType: m.descriptor.mediaType, digest: m.descriptor.digest });
}

function blobsOf(index: FixtureIndex | FixtureImage): Blob[] {
  const images = 'images' in index ? index.images : [index];
  return images.flatMap((i) => [i.manifest, i.config, ...i.layers]).concat('images' in index ? [index.manifest] : []);
}

// sha256 of every file under blobs/sha256 of a layout, by name.
async function blobFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(join(dir, 'blobs', 'sha256')))
    out.set(name, await readFile(join(dir, 'blobs', 'sha256', name)));
  return out;
}

describe('copyImage: OCI layout ⇄ real registry (distribution behind the fault proxy)', () => {
  let env: ProxiedRegistry;
  let registry: RegistryStore;
  let srcDir: string;
  let n = 0;
  const dir = (name: string): string => join(env.work.dir, `${name}-${++n}`);
  const at = (repoTag: string): Reference => ref(`${env.proxy.host}/${repoTag}`);

  beforeAll(async () => {
    env = await startProxiedRegistry('kko-copy-', async (c) => {
      await pushImage(c, 'seed/apiserver', 'v1.28.0', fx.apiserver);
    });
    registry = new RegistryStore({ hostOptions: () => ({ plainHTTP: true, baseDelayMs: 5, maxDelayMs: 20 }) });
    srcDir = join(env.work.dir, 'src');
    const src = new OciLayout(srcDir);
    await seedIndex(src, ref(PAUSE), fx.pause);
    await seedImage(src, ref(APISERVER), fx.apiserver);
  });
  afterAll(async () => {
    await registry?.close();
    await env?.stop();
  });
  beforeEach(() => env.proxy.clear());

  it('layout → registry → layout keeps every digest and every blob byte', async () => {
    const src = new OciLayout(srcDir);
    const up = await copyImage(src, ref(PAUSE), registry, at('rt/pause:3.9'));
    expect(up.digest).toBe(fx.pause.manifest.descriptor.digest);
    expect(up.blobs).toEqual({ copied: 6, present: 0, mounted: 0 }); // per arch: a base layer, its own layer, a config
    const outDir = dir('out');
    const down = await copyImage(registry, at('rt/pause:3.9'), new OciLayout(outDir), ref(PAUSE));
    expect(down.digest).toBe(fx.pause.manifest.descriptor.digest);
    expect((await registry.headManifest(at('rt/pause:3.9')))?.digest).toBe(fx.pause.manifest.descriptor.digest);
    const [a, b] = [await blobFiles(srcDir), await blobFiles(outDir)];
    for (const blob of blobsOf(fx.pause)) {
      const hex = blob.descriptor.digest.slice(7);
      expect(b.get(hex)?.equals(blob.bytes), hex).toBe(true);
      expect(a.get(hex)?.equals(blob.bytes), hex).toBe(true);
    }
    expect((await new OciLayout(outDir).getManifest(ref(PAUSE))).digest).toBe(fx.pause.manifest.descriptor.digest);
  });

  it('skopeo reads and copies the layout kko wrote, digests intact', async () => {
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${srcDir}:${PAUSE}`]);
    expect(sha256Digest(raw.trimEnd())).toBe(fx.pause.manifest.descriptor.digest);
    await run('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--dest-tls-verify=false',
      `oci:${srcDir}:${PAUSE}`,
      `docker://${env.reg.host}/by-skopeo/pause:3.9`,
    ]);
    const pushed = await registry.headManifest(ref(`${env.reg.host}/by-skopeo/pause:3.9`));
    expect(pushed?.digest).toBe(fx.pause.manifest.descriptor.digest);
  });

  it('reads a layout skopeo wrote (oci:DIR:tag) and copies it on, verifying every blob', async () => {
    const skopeoDir = dir('skopeo');
    await run('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${env.reg.host}/seed/apiserver:v1.28.0`,
      `oci:${skopeoDir}:v1.28.0`,
    ]);
    const fromSkopeo = new OciLayout(skopeoDir);
    const m = await fromSkopeo.getManifest(ref('docker.io/any/name:v1.28.0'));
    expect(m.digest).toBe(fx.apiserver.manifest.descriptor.digest);
    const r = await copyImage(fromSkopeo, ref('docker.io/any/name:v1.28.0'), registry, at('from-skopeo/apiserver:v1'));
    expect(r.digest).toBe(fx.apiserver.manifest.descriptor.digest);
    expect(r.blobs.copied).toBe(3); // config, base layer, own layer
  });

  it('a second copy sends no blob bytes: every blob is HEAD-present, no upload is opened', async () => {
    const src = new OciLayout(srcDir);
    await copyImage(src, ref(APISERVER), registry, at('again/apiserver:v1.28.0'));
    env.proxy.clear();
    const events: CopyEvent[] = [];
    const r = await copyImage(src, ref(APISERVER), registry, at('again/apiserver:v1.28.0'), {
      onEvent: (e) => events.push(e),
    });
    expect(r.bytesSent).toBe(0);
    expect(r.blobs).toEqual({ copied: 0, present: 3, mounted: 0 });
    expect(events.filter((e) => e.kind === 'blob-bytes' || e.kind === 'blob-copied')).toEqual([]);
    expect(env.proxy.count({ path: '/blobs/uploads/' })).toBe(0);
    // and the same into a layout that has it all
    const outDir = dir('again');
    await copyImage(src, ref(APISERVER), new OciLayout(outDir), ref(APISERVER));
    const twice = await copyImage(src, ref(APISERVER), new OciLayout(outDir), ref(APISERVER));
    expect(twice).toMatchObject({ bytesSent: 0, blobs: { copied: 0, present: 3, mounted: 0 } });
  });

  it('mounts from another repository of the same registry instead of uploading', async () => {
    const events: CopyEvent[] = [];
    const r = await copyImage(registry, at('rt/pause:3.9'), registry, at('mounted/pause:3.9'), {
      onEvent: (e) => events.push(e),
    });
    expect(r.digest).toBe(fx.pause.manifest.descriptor.digest);
    expect(r.blobs).toEqual({ copied: 0, present: 0, mounted: 6 });
    expect(r.bytesSent).toBe(0);
    expect(env.proxy.count({ method: 'POST', path: 'mount=' })).toBe(6);
    expect(env.proxy.count({ method: 'PUT', path: '/blobs/uploads/' })).toBe(0);
    expect(
      events
        .filter((e) => e.kind === 'manifest-put')
        .map((e) => (e as { digest: string }).digest)
        .at(-1),
    ).toBe(fx.pause.manifest.descriptor.digest);
  });

  it('rides out 5xx on the upload and a reset mid-blob on the download', async () => {
    const src = new OciLayout(srcDir);
    env.proxy.add({ method: 'PUT', path: '/blobs/uploads/', times: 2, fault: { kind: 'status', status: 503 } });
    const up = await copyImage(src, ref(APISERVER), registry, at('faults/apiserver:v1'), { concurrency: 1 });
    expect(up.digest).toBe(fx.apiserver.manifest.descriptor.digest);
    expect(env.proxy.count({ method: 'PUT', path: '/blobs/uploads/' })).toBe(5); // the config three times (503, 503, 201), each of the two layers once
    const base = fx.apiserver.layers[0] as Blob;
    env.proxy.add({ method: 'GET', path: base.descriptor.digest, fault: { kind: 'reset', afterBytes: 100_000 } });
    const outDir = dir('faults');
    const down = await copyImage(registry, at('faults/apiserver:v1'), new OciLayout(outDir), ref(APISERVER));
    expect(down.digest).toBe(fx.apiserver.manifest.descriptor.digest);
    expect((await readFile(new OciLayout(outDir).blobPath(base.descriptor.digest))).equals(base.bytes)).toBe(true);
    expect(env.proxy.count({ method: 'GET', path: base.descriptor.digest })).toBe(2); // reset once, resumed with Range
  });

  it('a failure that does not pass puts nothing under the tag (registry and layout targets)', async () => {
    const src = new OciLayout(srcDir);
    env.proxy.add({ method: 'PUT', path: '/blobs/uploads/', times: Infinity, fault: { kind: 'status', status: 500 } });
    const err = await copyImage(src, ref(APISERVER), registry, at('broken/apiserver:v1')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_ERROR', status: 500 });
    expect((err as Error).message).toMatch(/pushing blob broken\/apiserver@sha256:[a-f0-9]{64}/);
    env.proxy.clear();
    expect(await registry.headManifest(at('broken/apiserver:v1'))).toBeUndefined();
    const layer = fx.apiserver.layers[1] as Blob;
    env.proxy.add({
      method: 'GET',
      path: layer.descriptor.digest,
      times: Infinity,
      fault: { kind: 'reset', afterBytes: 1000 },
    });
    const outDir = dir('broken');
    const err2 = await copyImage(registry, at('faults/apiserver:v1'), new OciLayout(outDir), ref(APISERVER)).catch(
      (e: unknown) => e,
    );
    expect(err2).toMatchObject({ code: 'NETWORK_ERROR' });
    expect(await new OciLayout(outDir).headManifest(ref(APISERVER))).toBeUndefined();
    await expect(readFile(join(outDir, 'index.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a tampered blob in the source layout fails DIGEST_MISMATCH naming it; the registry keeps neither blob nor tag', async () => {
    const bad = dir('tampered');
    await cp(srcDir, bad, { recursive: true });
    const layer = fx.apiserver.layers[1] as Blob;
    const path = new OciLayout(bad).blobPath(layer.descriptor.digest);
    const bytes = await readFile(path);
    bytes[100] = (bytes[100] as number) ^ 0xff;
    await writeFile(path, bytes);
    const err = await copyImage(new OciLayout(bad), ref(APISERVER), registry, at('tampered/apiserver:v1')).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((err as Error).message).toContain(layer.descriptor.digest);
    expect(await registry.headManifest(at('tampered/apiserver:v1'))).toBeUndefined();
    expect(await registry.headBlob(at('tampered/apiserver:v1'), layer.descriptor.digest)).toBeUndefined();
    // and into a layout: the corrupt bytes never land under the digest
    const outDir = dir('tampered-out');
    const err2 = await copyImage(new OciLayout(bad), ref(APISERVER), new OciLayout(outDir), ref(APISERVER)).catch(
      (e: unknown) => e,
    );
    expect(err2).toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(readFile(new OciLayout(outDir).blobPath(layer.descriptor.digest))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await new OciLayout(outDir).headManifest(ref(APISERVER))).toBeUndefined();
    expect(await readdir(outDir)).not.toContain('tmp'); // no partial of known-bad bytes kept for a resume
  });

  it('filters a multi-arch index by platform: one platform puts that child under the tag', async () => {
    const src = new OciLayout(srcDir);
    const arm = fx.pause.images[1] as FixtureImage;
    const amd = fx.pause.images[0] as FixtureImage;
    const r = await copyImage(src, ref(PAUSE), registry, at('arm/pause:3.9'), {
      platforms: [parsePlatform('linux/arm64')],
    });
    expect(r.digest).toBe(arm.manifest.descriptor.digest);
    expect((await registry.headManifest(at('arm/pause:3.9')))?.digest).toBe(arm.manifest.descriptor.digest);
    expect(await registry.headBlob(at('arm/pause:3.9'), (amd.layers[1] as Blob).descriptor.digest)).toBeUndefined();
    expect(await registry.headBlob(at('arm/pause:3.9'), (arm.layers[1] as Blob).descriptor.digest)).toBeDefined();
    const both = await copyImage(src, ref(PAUSE), new OciLayout(dir('both')), ref(PAUSE), {
      platforms: [parsePlatform('linux/arm64'), parsePlatform('linux/amd64')],
    });
    expect(both.digest).toBe(fx.pause.manifest.descriptor.digest); // every child kept: the index itself, unchanged
    await expect(
      copyImage(src, ref(PAUSE), registry, at('none/pause:3.9'), { platforms: [parsePlatform('linux/s390x')] }),
    ).rejects.toMatchObject({ code: 'PLATFORM_NOT_FOUND' });
  });

  it('stops on abort: the reason is thrown, nothing is put under the tag', async () => {
    const src = new OciLayout(srcDir);
    const ctl = new AbortController();
    env.proxy.add({ method: 'PUT', path: '/blobs/uploads/', times: Infinity, fault: { kind: 'stall', ms: 2000 } });
    const p = copyImage(src, ref(APISERVER), registry, at('aborted/apiserver:v1'), { signal: ctl.signal });
    setTimeout(() => ctl.abort(new Error('interrupted by test')), 200);
    await expect(p).rejects.toThrow('interrupted by test');
    env.proxy.clear();
    expect(await registry.headManifest(at('aborted/apiserver:v1'))).toBeUndefined();
  });
});
