import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import type { TarEntry } from '../../src/archive/tar.js';
import { writeArchive, type Compression } from '../../src/archive/write.js';
import { ArtifactStore } from '../../src/artifact-store/index.js';
import type { Catalog } from '../../src/catalog/index.js';
import { isKkoError } from '../../src/errors.js';
import { parseReference, sha256Digest } from '../../src/reference/index.js';
import { artifactEntries, fixtureCatalog, type Img } from '../support/artifact-fixture.js';
import { buildImage } from '../support/builders.js';
import { tempDir } from '../cli/run-cli.js';

// The artifact store over artifacts written by kko's own archive writer: the layers (marked compressed, as export
// marks +gzip layers) are stored blocks in a .tar.gz and raw blocks in a .tar.zst, so they are read in place.

let catalog: Catalog;
let work: { dir: string; cleanup: () => Promise<void> };

const IMGS: Img[] = [
  {
    ref: 'docker.io/calico/cni:v3.27.3',
    arch: 'amd64',
    class: 'network',
    image: buildImage({ name: 'cni', layerSize: 300_000, platform: { os: 'linux', architecture: 'amd64' } }),
  },
  {
    ref: 'docker.io/calico/cni:v3.27.3',
    arch: 'arm64',
    class: 'network',
    image: buildImage({ name: 'cni', layerSize: 200_000, platform: { os: 'linux', architecture: 'arm64' } }),
  },
  {
    ref: 'docker.io/kubesphere/pause:3.9',
    arch: 'amd64',
    class: 'k8s-core',
    image: buildImage({ name: 'pause', layerSize: 70_000, platform: { os: 'linux', architecture: 'amd64' } }),
  },
];
const LAYERS = new Set(
  IMGS.flatMap((i) => i.image.layers.map((l) => `images/blobs/sha256/${l.descriptor.digest.slice(7)}`)),
);

function entries(): TarEntry[] {
  return withChecksums(artifactEntries(IMGS).map((e) => (LAYERS.has(e.name) ? { ...e, compressed: true } : e)));
}

async function build(name: string, compress: Compression, splitSize?: number): Promise<string> {
  const out = join(work.dir, name);
  await writeArchive(entries(), out, compress, { SOURCE_DATE_EPOCH: '0' }, splitSize ? { splitSize } : {});
  return splitSize ? `${out}.part-000` : out;
}

const ref = (s: string) => parseReference(s);

beforeAll(async () => {
  work = await tempDir('kko-astore-');
  catalog = await fixtureCatalog(work.dir);
});
afterAll(async () => work?.cleanup());

describe.each([
  ['a.tar', 'none' as const, undefined],
  ['a.tar.gz', 'gzip' as const, undefined],
  ['a.tar.zst', 'zstd' as const, undefined],
  ['split.tar.gz', 'gzip' as const, 150_000],
])('ArtifactStore over %s', (name, compress, split) => {
  let store: ArtifactStore;
  beforeAll(async () => {
    store = await ArtifactStore.open(await build(name, compress, split), { catalog, smallBlob: 1024 }); // layers in place, configs in memory
  });
  afterAll(async () => store?.close());

  it('serves every layer in place, whole (hashed) and by range, byte for byte', async () => {
    for (const { ref: r, image } of IMGS) {
      for (const l of image.layers) {
        const whole = await buffer(await store.getBlob(ref(r), l.descriptor));
        expect(sha256Digest(whole)).toBe(l.descriptor.digest);
        // across stored-block (64 KiB) and raw-block (128 KiB) boundaries
        const from = Math.min(65_530, Math.floor(l.bytes.length / 3));
        const n = Math.min(140_000, l.bytes.length - from - 1);
        const part = await buffer(await store.getBlob(ref(r), l.descriptor, { offset: from, length: n }));
        expect(part.equals(l.bytes.subarray(from, from + n))).toBe(true);
        const tail = await buffer(await store.getBlob(ref(r), l.descriptor, { offset: l.bytes.length - 3 }));
        expect(tail.equals(l.bytes.subarray(-3))).toBe(true);
      }
      const cfg = await buffer(await store.getBlob(ref(r), image.config.descriptor));
      expect(cfg.equals(image.config.bytes)).toBe(true);
    }
  });

  it('answers <ref>-<arch> with the per-arch manifest and <ref> with a deterministic multi-arch index', async () => {
    const amd = IMGS[0] as Img;
    const m = await store.getManifest(ref('docker.io/calico/cni:v3.27.3-amd64'));
    expect(m.digest).toBe(amd.image.manifest.descriptor.digest);
    expect(m.bytes.equals(amd.image.manifest.bytes)).toBe(true);
    const idx = await store.getManifest(ref('docker.io/calico/cni:v3.27.3'));
    const doc = JSON.parse(idx.bytes.toString()) as {
      mediaType: string;
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    expect(doc.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(doc.manifests.map((c) => [c.platform.architecture, c.digest])).toEqual([
      ['amd64', amd.image.manifest.descriptor.digest],
      ['arm64', (IMGS[1] as Img).image.manifest.descriptor.digest],
    ]);
    expect(idx.digest).toBe(sha256Digest(idx.bytes));
    expect((await store.getManifest(ref(`docker.io/calico/cni@${idx.digest}`))).bytes.equals(idx.bytes)).toBe(true);
    expect(await store.headManifest(ref('docker.io/calico/cni:v3.27.3'))).toEqual({
      mediaType: doc.mediaType,
      digest: idx.digest,
      size: idx.bytes.length,
    });
    expect(await store.listTags(ref('docker.io/calico/cni'))).toEqual(['v3.27.3', 'v3.27.3-amd64', 'v3.27.3-arm64']);
    expect(store.repositories()).toEqual(['docker.io/calico/cni', 'docker.io/kubesphere/pause']);
    expect(await store.headManifest(ref('docker.io/calico/cni:nope'))).toBeUndefined();
    expect(await store.headBlob(ref('docker.io/calico/nope'), amd.image.config.descriptor.digest)).toBeUndefined();
  });
});

describe('ArtifactStore refuses', () => {
  it('a tampered artifact (one layer byte changed, the lists left alone)', async () => {
    const path = await build('t.tar', 'none');
    const bytes = await readFile(path);
    const layer = (IMGS[0] as Img).image.layers[0]?.bytes as Buffer;
    const at = bytes.indexOf(layer.subarray(1000, 1064));
    expect(at).toBeGreaterThan(0);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    await writeFile(path, bytes);
    const err = await ArtifactStore.open(path, { catalog }).catch((e: unknown) => e);
    expect(isKkoError(err) && err.code).toBe('ARTIFACT_CORRUPT');
  });

  it('to read a file changed in place after it was verified', async () => {
    const path = await build('c.tar', 'none');
    const store = await ArtifactStore.open(path, { catalog, smallBlob: 0 });
    try {
      const fh = await open(path, 'r+');
      await fh.write(Buffer.from('x'), 0, 1, 700);
      await fh.utimes(new Date(), new Date(Date.now() + 5000));
      await fh.close();
      const l = (IMGS[0] as Img).image.layers[0];
      const err = await store.getBlob(ref(IMGS[0]?.ref as string), l?.descriptor as never).catch((e: unknown) => e);
      expect(isKkoError(err) && err.code).toBe('ARTIFACT_CORRUPT');
    } finally {
      await store.close();
    }
  });

  it('a foreign .tar.gz whose layers are deflated, naming the blob and the fix', async () => {
    const path = join(work.dir, 'foreign.tar.gz');
    await writeArchive(withChecksums(artifactEntries(IMGS)), path, 'gzip', { SOURCE_DATE_EPOCH: '0' });
    const err = await ArtifactStore.open(path, { catalog, smallBlob: 0 }).catch((e: unknown) => e);
    expect(isKkoError(err) && err.code).toBe('INVALID_INPUT');
    expect((err as Error).message).toMatch(/blob sha256:[a-f0-9]{64} \(\d+ bytes\) is deflated/);
    expect(isKkoError(err) && err.hint).toMatch(/kko artifact import .*--dir DIR.*gunzip/);
    await rm(path);
  });
});
