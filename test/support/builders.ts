import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { Descriptor, Platform } from '../../src/oci/index.js';
import { MediaType } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import { raw, rawHeader, rawTar } from './raw-tar.js';

// Deterministic fixture images built in memory (ggcr's pkg/v1/random idea, but seeded): same seed, same digests.

export type Blob = { readonly bytes: Buffer; readonly descriptor: Descriptor };
export type FixtureImage = { readonly manifest: Blob; readonly config: Blob; readonly layers: readonly Blob[] };
export type FixtureIndex = { readonly manifest: Blob; readonly images: readonly FixtureImage[] };
export type Format = 'oci' | 'docker';

// Pseudo-random bytes from AES-128-CTR keyed by sha256(seed): fast, incompressible, reproducible.
export function seededBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

// One ustar header of a regular file (mtime 0, uid/gid 0, mode 0644). `size` is what the header claims (a hostile
// test may follow it with fewer bytes).
export function tarHeader(name: string, size: number): Buffer {
  return rawHeader(name, { size });
}

// A ustar archive of regular files, in the given order, through the raw header writer; `end: false` leaves off the
// end-of-archive marker.
export function tarOf(files: ReadonlyArray<{ name: string; data: Buffer }>, opts: { end?: boolean } = {}): Buffer {
  const body = rawTar(...files.map((f) => raw(f.name, f.data)));
  return opts.end === false ? body.subarray(0, body.length - 1024) : body;
}

function blob(bytes: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Blob {
  return { bytes, descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...extra } };
}

function layerType(format: Format): string {
  return format === 'oci' ? MediaType.OCI_LAYER_GZIP : MediaType.DOCKER_LAYER_GZIP;
}

// A gzip layer holding one file of seeded random bytes; `diffId` is the digest of the uncompressed tar.
export function buildLayer(seed: string, size: number, format: Format = 'oci'): Blob & { readonly diffId: Digest } {
  const tar = tarOf([{ name: `data/${seed.replace(/[^a-z0-9.-]/gi, '_')}.bin`, data: seededBytes(seed, size) }]);
  return { ...blob(gzipSync(tar, { level: 1 }), layerType(format)), diffId: sha256Digest(tar) };
}

export type ImageSpec = {
  readonly name: string;
  readonly platform: Platform;
  // What the config claims; defaults to `platform` (set it to build an image that lies about its arch).
  readonly configPlatform?: Platform;
  readonly base?: Blob & { readonly diffId: Digest };
  readonly layerSize?: number;
  readonly format?: Format;
};

// One image: an optional shared base layer, one unique layer, a config naming the platform, a manifest.
export function buildImage(spec: ImageSpec): FixtureImage {
  const format = spec.format ?? 'oci';
  const own = buildLayer(`${spec.name}/${spec.platform.architecture}`, spec.layerSize ?? 2048, format);
  const layers = spec.base ? [spec.base, own] : [own];
  const cp = spec.configPlatform ?? spec.platform;
  const configDoc = {
    created: '2024-01-01T00:00:00Z',
    architecture: cp.architecture,
    os: cp.os,
    ...(cp.variant ? { variant: cp.variant } : {}),
    config: { Entrypoint: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const config = blob(
    Buffer.from(JSON.stringify(configDoc)),
    format === 'oci' ? MediaType.OCI_CONFIG : MediaType.DOCKER_CONFIG,
  );
  const mediaType = format === 'oci' ? MediaType.OCI_MANIFEST : MediaType.DOCKER_MANIFEST;
  const doc = { schemaVersion: 2, mediaType, config: config.descriptor, layers: layers.map((l) => l.descriptor) };
  return { manifest: blob(Buffer.from(JSON.stringify(doc)), mediaType, { platform: spec.platform }), config, layers };
}

// An OCI index or Docker manifest list over images; each entry carries the image's (claimed) platform.
export function buildIndex(images: readonly FixtureImage[], format: Format = 'oci'): FixtureIndex {
  const mediaType = format === 'oci' ? MediaType.OCI_INDEX : MediaType.DOCKER_MANIFEST_LIST;
  const doc = { schemaVersion: 2, mediaType, manifests: images.map((i) => i.manifest.descriptor) };
  return { manifest: blob(Buffer.from(JSON.stringify(doc)), mediaType), images };
}

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };

// An OCI index over an amd64 and an arm64 image of `name`, each on its arch's base layer (when given).
export function buildMultiArch(
  name: string,
  opts: {
    layerSize: number;
    base?: { amd64?: Blob & { readonly diffId: Digest }; arm64?: Blob & { readonly diffId: Digest } };
  },
): FixtureIndex {
  const one = (p: Platform, base?: Blob & { readonly diffId: Digest }): FixtureImage =>
    buildImage({ name, platform: p, layerSize: opts.layerSize, ...(base ? { base } : {}) });
  return buildIndex([one(AMD64, opts.base?.amd64), one(ARM64, opts.base?.arm64)]);
}

// The standard fixture set: shared base layers, single images, a multi-arch OCI index, a Docker list,
// and a "pretender" whose arm64 entry is really an amd64 image (kk #1494 / #2281).
export function fixtureSet(opts: { baseSize?: number; layerSize?: number } = {}) {
  const base = {
    amd64: buildLayer('base/amd64', opts.baseSize ?? 64 * 1024),
    arm64: buildLayer('base/arm64', opts.baseSize ?? 64 * 1024),
  };
  const dockerBase = buildLayer('base/amd64', opts.baseSize ?? 64 * 1024, 'docker');
  const size = opts.layerSize ?? 4096;
  const img = (name: string, p: Platform, extra: Partial<ImageSpec> = {}): FixtureImage =>
    buildImage({
      name,
      platform: p,
      layerSize: size,
      base: p.architecture === 'arm64' ? base.arm64 : base.amd64,
      ...extra,
    });
  return {
    base,
    apiserver: img('kube-apiserver', AMD64),
    scheduler: img('kube-scheduler', AMD64),
    pause: buildIndex([img('pause', AMD64), img('pause', ARM64)]),
    pauseDocker: buildIndex(
      [
        img('pause-d', AMD64, { format: 'docker', base: dockerBase }),
        img('pause-d', ARM64, { format: 'docker', base: dockerBase }),
      ],
      'docker',
    ),
    pretender: buildIndex([
      img('lonely', AMD64),
      img('lonely-fake', ARM64, { configPlatform: AMD64, base: base.amd64 }),
    ]),
  };
}

async function pushBlobs(client: RegistryClient, repo: string, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs) {
    if (await client.headBlob(repo, b.descriptor.digest)) continue;
    await client.putBlob(repo, b.descriptor.digest, b.descriptor.size, Readable.from([b.bytes]));
  }
}

// Push an image's blobs (streamed) and then its manifest under `ref` (a tag, or its digest).
export async function pushImage(
  client: RegistryClient,
  repo: string,
  ref: string,
  image: FixtureImage,
): Promise<Digest> {
  await pushBlobs(client, repo, [image.config, ...image.layers]);
  return client.putManifest(repo, ref, image.manifest.bytes, image.manifest.descriptor.mediaType);
}

// Push every child by digest, then the index under `tag` (children first, as the spec requires).
export async function pushIndex(
  client: RegistryClient,
  repo: string,
  tag: string,
  index: FixtureIndex,
): Promise<Digest> {
  for (const image of index.images) await pushImage(client, repo, image.manifest.descriptor.digest, image);
  return client.putManifest(repo, tag, index.manifest.bytes, index.manifest.descriptor.mediaType);
}
