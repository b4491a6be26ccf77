import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestContent } from '../content/index.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor } from '../oci/index.js';
import { parseReference, sha256Digest, type Reference } from '../reference/index.js';
import { OciLayout } from './oci-layout.js';

function manifest(seed: string): ManifestContent {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: sha256Digest(seed), size: seed.length },
      layers: [],
    }),
  );
  return { bytes, mediaType: MediaType.OCI_MANIFEST, digest: sha256Digest(bytes) };
}

function blob(text: string): { desc: Descriptor; open: () => Promise<Readable> } {
  const bytes = Buffer.from(text);
  return {
    desc: { mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: bytes.length },
    open: async () => Readable.from([bytes]),
  };
}

async function drain(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const ref = (s: string): Reference => parseReference(s);

describe('OciLayout index.json', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kko-layout-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names entries by the full reference, sorted in byte order, whatever order they were put in', async () => {
    const names = [
      'docker.io/calico/cni:v3.27.3-amd64',
      'docker.io/calico/cni:v3.27.3-arm64',
      'docker.io/calico/node:v3.27.3-amd64',
    ];
    const [a, b] = [new OciLayout(join(dir, 'a')), new OciLayout(join(dir, 'b'))];
    for (const n of names) await a.putManifest(ref(n), manifest(n));
    for (const n of [...names].reverse()) await b.putManifest(ref(n), manifest(n));
    const bytes = await readFile(join(dir, 'a', 'index.json'));
    expect(bytes.equals(await readFile(join(dir, 'b', 'index.json')))).toBe(true);
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType: string; manifests: Descriptor[] };
    expect(doc.mediaType).toBe(MediaType.OCI_INDEX);
    expect(doc.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION])).toEqual(names);
    expect(bytes.toString('utf8').endsWith('}\n')).toBe(true);
    expect(await readFile(join(dir, 'a', 'oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}');
  });

  it('re-points a ref name and keeps entries it did not write, fields and all', async () => {
    const l = new OciLayout(dir);
    const foreign = {
      mediaType: MediaType.OCI_MANIFEST,
      digest: sha256Digest('x'),
      size: 1,
      platform: { os: 'linux', architecture: 'amd64' },
      annotations: { other: 'kept' },
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [foreign] }));
    const r = ref('docker.io/kubesphere/pause:3.9');
    await l.putManifest(r, manifest('one'));
    const second = manifest('two');
    await l.putManifest(r, second);
    const entries = await l.entries();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toEqual({
      mediaType: MediaType.OCI_MANIFEST,
      digest: second.digest,
      size: second.bytes.length,
      annotations: { [REF_NAME_ANNOTATION]: 'docker.io/kubesphere/pause:3.9' },
    });
    expect(entries[1]).toEqual(foreign);
    expect((await l.getManifest(r)).digest).toBe(second.digest);
  });

  it('serialises concurrent tag writes of one object (none is lost)', async () => {
    const l = new OciLayout(dir);
    const refs = Array.from({ length: 12 }, (_, i) => ref(`docker.io/a/b:t${i}`));
    await Promise.all(refs.map((r) => l.putManifest(r, manifest(r.tag as string))));
    expect((await l.listTags(ref('docker.io/a/b'))).length).toBe(12);
  });

  it("reads skopeo's bare-tag names and kk's full names; the full name wins", async () => {
    const l = new OciLayout(dir, { refNames: 'tag' });
    const bare = manifest('bare');
    await l.putManifest(ref('docker.io/x/y:v1'), bare);
    expect((await l.entries())[0]?.annotations?.[REF_NAME_ANNOTATION]).toBe('v1');
    // a bare tag names no repository: any reference with that tag finds it
    expect((await l.getManifest(ref('127.0.0.1:5000/other/repo:v1'))).digest).toBe(bare.digest);
    const full = manifest('full');
    await new OciLayout(dir).putManifest(ref('docker.io/x/y:v1'), full);
    expect((await l.getManifest(ref('docker.io/x/y:v1'))).digest).toBe(full.digest);
    expect((await l.getManifest(ref('docker.io/q/r:v1'))).digest).toBe(bare.digest);
    expect(await l.listTags(ref('docker.io/x/y'))).toEqual(['v1']);
    expect(await l.headManifest(ref('docker.io/x/y:v2'))).toBeUndefined();
    await expect(l.getManifest(ref('docker.io/x/y:v2'))).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('finds a manifest by digest with or without an index.json entry', async () => {
    const l = new OciLayout(dir);
    const m = manifest('d');
    await l.putManifest(ref('docker.io/a/b'), { ...m }); // no tag: blob only
    expect(await l.entries()).toEqual([]);
    const desc = await l.headManifest(ref(`docker.io/a/b@${m.digest}`));
    expect(desc).toEqual({ mediaType: MediaType.OCI_MANIFEST, digest: m.digest, size: m.bytes.length });
  });
});

describe('OciLayout blobs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kko-layout-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a blob only when digest and size match, and leaves no temp folder behind', async () => {
    const l = new OciLayout(dir);
    const good = blob('layer bytes');
    await l.putBlob(ref('docker.io/a/b:1'), good.desc, good.open);
    expect(await readFile(l.blobPath(good.desc.digest), 'utf8')).toBe('layer bytes');
    const liar = { ...good.desc, digest: sha256Digest('something else') };
    await expect(l.putBlob(ref('docker.io/a/b:1'), liar, good.open)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(l.putBlob(ref('docker.io/a/b:1'), { ...blob('x').desc, size: 1 }, good.open)).rejects.toMatchObject({
      code: 'SIZE_LIMIT_EXCEEDED',
    });
    expect((await readdir(join(dir, 'blobs', 'sha256'))).sort()).toEqual([good.desc.digest.slice(7)]);
    expect((await readdir(dir)).sort()).toEqual(['blobs', 'oci-layout']);
  });

  it('fails a read of a tampered blob with DIGEST_MISMATCH naming the digest', async () => {
    const l = new OciLayout(dir);
    const b = blob('original content');
    await l.putBlob(ref('docker.io/a/b:1'), b.desc, b.open);
    await writeFile(l.blobPath(b.desc.digest), 'Original content');
    const err = await drain(await l.getBlob(ref('docker.io/a/b:1'), b.desc)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((err as Error).message).toContain(b.desc.digest);
    await expect(l.getBlob(ref('docker.io/a/b:1'), blob('absent').desc)).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
    });
  });

  it('refuses to write into a directory whose oci-layout is not version 1.0.0', async () => {
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    const b = blob('x');
    await expect(new OciLayout(dir).putBlob(ref('docker.io/a/b:1'), b.desc, b.open)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});
