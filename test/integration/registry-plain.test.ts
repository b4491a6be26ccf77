import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, parseManifestJson, selectManifests, parseConfigPlatform } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushImage, pushIndex } from '../support/builders.js';
import { run } from '../support/exec.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('registry client against a plain-HTTP distribution registry', () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  const fx = fixtureSet({ baseSize: 256 * 1024 });

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'plain' });
    client = new RegistryClient(reg.host, { plainHTTP: true });
    await pushImage(client, 'kubesphere/kube-apiserver', 'v1.28.0', fx.apiserver);
    await pushIndex(client, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(client, 'kubesphere/pause', '3.9-docker', fx.pauseDocker);
    await pushIndex(client, 'library/lonely', '1.0', fx.pretender);
  });
  afterAll(async () => {
    await client?.close();
    await reg?.stop();
  });

  it('pings', async () => {
    await expect(client.ping()).resolves.toBeUndefined();
  });

  it('round-trips an image: manifest bytes and digest, config, every layer', async () => {
    const m = await client.getManifest('kubesphere/kube-apiserver', 'v1.28.0');
    expect(m.bytes.equals(fx.apiserver.manifest.bytes)).toBe(true);
    expect(m.digest).toBe(fx.apiserver.manifest.descriptor.digest);
    expect(m.mediaType).toBe(MediaType.OCI_MANIFEST);
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    expect(parsed.kind).toBe('image');
    for (const blob of [fx.apiserver.config, ...fx.apiserver.layers]) {
      const bytes = await readAll(await client.getBlob('kubesphere/kube-apiserver', blob.descriptor.digest));
      expect(sha256Digest(bytes)).toBe(blob.descriptor.digest);
    }
    const byDigest = await client.getManifest('kubesphere/kube-apiserver', m.digest);
    expect(byDigest.digest).toBe(m.digest);
  });

  it('HEADs manifests and blobs, and reports absent ones as undefined', async () => {
    const d = await client.headManifest('kubesphere/kube-apiserver', 'v1.28.0');
    expect(d).toEqual({
      mediaType: MediaType.OCI_MANIFEST,
      digest: fx.apiserver.manifest.descriptor.digest,
      size: fx.apiserver.manifest.bytes.length,
    });
    expect(await client.headManifest('kubesphere/kube-apiserver', 'nope')).toBeUndefined();
    const layer = fx.apiserver.layers[0]!.descriptor;
    expect((await client.headBlob('kubesphere/kube-apiserver', layer.digest))?.size).toBe(layer.size);
    expect(await client.headBlob('kubesphere/kube-apiserver', sha256Digest('absent'))).toBeUndefined();
  });

  it('fails a missing manifest with MANIFEST_UNKNOWN and a missing blob with BLOB_UNKNOWN', async () => {
    await expect(client.getManifest('kubesphere/kube-apiserver', 'v0')).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
      status: 404,
    });
    await expect(client.getManifest('no/such-repo', 'v0')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(client.getBlob('kubesphere/kube-apiserver', sha256Digest('absent'))).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
    });
  });

  it('gets an OCI index and a Docker manifest list as themselves (full Accept list)', async () => {
    const oci = await client.getManifest('kubesphere/pause', '3.9');
    expect(oci.mediaType).toBe(MediaType.OCI_INDEX);
    expect(oci.digest).toBe(fx.pause.manifest.descriptor.digest);
    const docker = await client.getManifest('kubesphere/pause', '3.9-docker');
    expect(docker.mediaType).toBe(MediaType.DOCKER_MANIFEST_LIST);
    expect(docker.bytes.equals(fx.pauseDocker.manifest.bytes)).toBe(true);
    const head = await client.headManifest('kubesphere/pause', '3.9-docker');
    expect(head?.digest).toBe(fx.pauseDocker.manifest.descriptor.digest);
  });

  it('shows the server quirks the Accept list avoids', async () => {
    const url = `${reg.url}/v2/kubesphere/pause/manifests/3.9`;
    const bare = await fetch(url);
    expect(bare.status).toBe(404);
    const dockerOnly = await fetch(`${reg.url}/v2/kubesphere/pause/manifests/3.9-docker`, {
      headers: { accept: MediaType.DOCKER_MANIFEST },
    });
    expect(dockerOnly.headers.get('content-type')).toBe(MediaType.DOCKER_MANIFEST);
    expect(await dockerOnly.text()).not.toContain('manifests');
  });

  it('selects arm64 (≡ arm64/v8) from the index and the pretender is caught by its config', async () => {
    const index = parseManifestJson((await client.getManifest('kubesphere/pause', '3.9')).bytes);
    if (index.kind !== 'index') throw new Error('expected index');
    const [arm] = selectManifests(index.manifest, { os: 'linux', architecture: 'arm64' });
    expect(arm?.digest).toBe(fx.pause.images[1]!.manifest.descriptor.digest);

    const pretender = parseManifestJson((await client.getManifest('library/lonely', '1.0')).bytes);
    if (pretender.kind !== 'index') throw new Error('expected index');
    const [fake] = selectManifests(pretender.manifest, { os: 'linux', architecture: 'arm64' });
    const child = parseManifestJson((await client.getManifest('library/lonely', fake!.digest)).bytes);
    if (child.kind !== 'image') throw new Error('expected image');
    const config = await readAll(await client.getBlob('library/lonely', child.manifest.config.digest));
    expect(parseConfigPlatform(config).architecture).toBe('amd64');
  });

  it('continues a blob from an offset with Range (206) and returns exactly the tail', async () => {
    const layer = fx.apiserver.layers[0]!;
    const offset = 100_000;
    const tail = await readAll(await client.getBlob('kubesphere/kube-apiserver', layer.descriptor.digest, { offset }));
    expect(tail.equals(layer.bytes.subarray(offset))).toBe(true);
  });

  it('streams a whole blob that hashes to its digest', async () => {
    const layer = fx.apiserver.layers[1]!;
    const stream = await client.getBlob('kubesphere/kube-apiserver', layer.descriptor.digest);
    const hash = createHash('sha256');
    for await (const c of stream) hash.update(c as Buffer);
    expect(`sha256:${hash.digest('hex')}`).toBe(layer.descriptor.digest);
  });

  it('mounts a blob across repositories', async () => {
    const layer = fx.apiserver.layers[0]!.descriptor.digest as Digest;
    expect(await client.mountBlob('mirror/kube-apiserver', layer, 'kubesphere/kube-apiserver')).toBe(true);
    expect(await client.headBlob('mirror/kube-apiserver', layer)).toBeDefined();
    expect(await client.mountBlob('mirror/other', sha256Digest('absent'), 'kubesphere/kube-apiserver')).toBe(false);
  });

  it('lists tags across Link pages', async () => {
    await pushImage(client, 'paged/img', 'a', fx.scheduler);
    for (const t of ['b', 'c', 'd', 'e'])
      await client.putManifest('paged/img', t, fx.scheduler.manifest.bytes, MediaType.OCI_MANIFEST);
    const tags = await client.listTags('paged/img', { pageSize: 2 });
    expect(tags.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('is readable by skopeo', async () => {
    const out = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${reg.host}/kubesphere/kube-apiserver:v1.28.0`,
    ]);
    // skopeo prints the raw bytes followed by a newline.
    expect(sha256Digest(Buffer.from(out.replace(/\n$/, '')))).toBe(fx.apiserver.manifest.descriptor.digest);
    const info = JSON.parse(
      await run('skopeo', [
        'inspect',
        '--tls-verify=false',
        '--override-arch',
        'arm64',
        `docker://${reg.host}/kubesphere/pause:3.9`,
      ]),
    ) as { Architecture: string; Digest: string };
    expect(info.Architecture).toBe('arm64');
    // skopeo reports the digest of the top-level manifest it resolved from (the index).
    expect(info.Digest).toBe(fx.pause.manifest.descriptor.digest);
  });
});
