// The export fixture: a k8s-core + calico shaped image set (12 images × amd64/arm64 behind OCI indexes
// or Docker manifest lists, shared base layers per arch), generated deterministically from seeds and
// pushed with kko's own compiled RegistryClient into a registry whose storage directory IS the cache:
// os.tmpdir()/kko-bench-fixture-<version>-<size>MiB/registry. The next run verifies every blob there
// against fixture.json (sha256 of each file; this also warms the page cache the same way for both
// tools) and serves it read-only, so a rebuild only happens when the cache is missing or damaged.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { onCleanup } from './cleanup.js';
import { startRegistry } from './registry.js';

// Bump when anything below changes what gets built (names, sizes, seeds, layer format).
export const FIXTURE_VERSION = 'v1';
export const ARCHES = /** @type {const} */ (['amd64', 'arm64']);
export const MiB = 1024 * 1024;

const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

// Relative weights ≈ the real compressed sizes in MB of one arch (kubesphere/kk v3 image list for a
// 1.28 cluster with calico). Base layers are shared per arch by the images that name them.
const BASES = { distroless: 8, iptables: 12, ubi: 20 };
/** @type {Array<{ repo: string, tag: string, format: 'oci' | 'docker', bases: Array<keyof typeof BASES>, own: number }>} */
export const IMAGES = [
  { repo: 'kubesphere/pause', tag: '3.9', format: 'oci', bases: [], own: 0.3 },
  { repo: 'kubesphere/kube-apiserver', tag: 'v1.28.12', format: 'oci', bases: ['distroless'], own: 30 },
  { repo: 'kubesphere/kube-controller-manager', tag: 'v1.28.12', format: 'oci', bases: ['distroless'], own: 28 },
  { repo: 'kubesphere/kube-scheduler', tag: 'v1.28.12', format: 'oci', bases: ['distroless'], own: 18 },
  { repo: 'kubesphere/kube-proxy', tag: 'v1.28.12', format: 'oci', bases: ['distroless', 'iptables'], own: 14 },
  { repo: 'coredns/coredns', tag: '1.10.1', format: 'docker', bases: ['distroless'], own: 14 },
  { repo: 'kubesphere/k8s-dns-node-cache', tag: '1.22.20', format: 'oci', bases: ['distroless', 'iptables'], own: 12 },
  { repo: 'calico/kube-controllers', tag: 'v3.27.3', format: 'docker', bases: ['ubi'], own: 28 },
  { repo: 'calico/cni', tag: 'v3.27.3', format: 'docker', bases: ['ubi'], own: 60 },
  { repo: 'calico/node', tag: 'v3.27.3', format: 'docker', bases: ['ubi'], own: 80 },
  { repo: 'calico/pod2daemon-flexvol', tag: 'v3.27.3', format: 'oci', bases: ['ubi'], own: 4 },
  { repo: 'calico/typha', tag: 'v3.27.3', format: 'oci', bases: ['ubi'], own: 26 },
];
// An image's own content is split into layers like a real build (binaries, libs, config).
const OWN_SPLIT = [0.7, 0.25, 0.05];

/**
 * @typedef {{ digest: string, size: number }} BlobRef
 * @typedef {{ repo: string, tag: string, mediaType: string, digest: string, children: Array<{ arch: string, digest: string }> }} FixtureImage
 * @typedef {{ version: string, mib: number, uniqueBytes: number, layerBytes: number, images: FixtureImage[], blobs: BlobRef[], repoBlobs: Record<string, string[]> }} FixtureSpec
 * @typedef {{ dir: string, root: string, spec: FixtureSpec, built: boolean, buildSeconds: number, verifySeconds: number, note?: string }} Fixture
 * @typedef {{ bytes: Buffer, digest: string, size: number, diffId: string, mediaType: string }} Layer
 */

/** @param {Buffer} b */
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** @param {number} n @param {number} width */
const octal = (n, width) => `${n.toString(8).padStart(width - 1, '0')}\0`;

/**
 * A one-file ustar layer of `size` pseudo-random bytes (AES-128-CTR keyed by sha256(seed): incompressible
 * and reproducible), gzip-wrapped with stored blocks (level 0) so building costs ~1 s per 300 MiB.
 * @param {string} seed @param {number} size @param {string} mediaType @returns {Layer}
 */
function buildLayer(seed, size, mediaType) {
  const pad = (512 - (size % 512)) % 512;
  const tar = Buffer.alloc(512 + size + pad + 1024);
  const h = tar.subarray(0, 512);
  h.write(`data/${seed.replace(/[^a-z0-9.-]/gi, '_')}.bin`.slice(0, 99), 0, 'utf8');
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write(' '.repeat(8), 148);
  h.write('0', 156);
  h.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zero = Buffer.alloc(Math.min(size, 4 * MiB));
  for (let off = 0; off < size; off += zero.length) {
    const n = Math.min(zero.length, size - off);
    cipher.update(zero.subarray(0, n)).copy(tar, 512 + off);
  }
  const bytes = gzipSync(tar, { level: 0 });
  return { bytes, digest: sha256(bytes), size: bytes.length, diffId: sha256(tar), mediaType };
}

/** @param {unknown} doc @param {string} mediaType */
function jsonBlob(doc, mediaType) {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType };
}

/** @param {string} arch */
const platformOf = (arch) =>
  arch === 'arm64' ? { architecture: 'arm64', os: 'linux', variant: 'v8' } : { architecture: arch, os: 'linux' };

/** @param {number} mib */
export function fixtureDir(mib) {
  return join(tmpdir(), `kko-bench-fixture-${FIXTURE_VERSION}-${mib}MiB`);
}

/** Where distribution's filesystem driver keeps a blob. @param {string} root @param {string} digest */
function storedBlobPath(root, digest) {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** @param {string} path @returns {Promise<string>} */
async function hashFile(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(/** @type {Buffer} */ (chunk));
  return `sha256:${h.digest('hex')}`;
}

/**
 * @param {string} distDir compiled kko (dist/)
 * @param {string} root registry storage to push into
 * @param {number} mib total unique layer content wanted
 * @param {(s: string) => void} log
 * @returns {Promise<FixtureSpec>}
 */
async function build(distDir, root, mib, log) {
  const { RegistryClient } = await import(join(distDir, 'registry', 'index.js'));
  const totalWeight =
    ARCHES.length * (Object.values(BASES).reduce((a, b) => a + b, 0) + IMAGES.reduce((a, i) => a + i.own, 0));
  const perWeight = (mib * MiB) / totalWeight;
  const reg = await startRegistry({ root });
  const client = new RegistryClient(reg.host, { plainHTTP: true });
  /** @type {Map<string, BlobRef>} */
  const blobs = new Map();
  /** @type {Record<string, string[]>} */
  const repoBlobs = {};
  /** @type {Map<string, string>} digest → first repo that has it (cross-repo mount for the rest) */
  const home = new Map();
  let layerBytes = 0;
  try {
    /** @param {string} repo @param {{ bytes: Buffer, digest: string, size: number }} b */
    const pushBlob = async (repo, b) => {
      (repoBlobs[repo] ??= []).push(b.digest);
      blobs.set(b.digest, { digest: b.digest, size: b.size });
      const from = home.get(b.digest);
      if (from === repo) return;
      if (from && (await client.mountBlob(repo, b.digest, from))) return;
      await client.putBlob(repo, b.digest, b.size, b.bytes);
      home.set(b.digest, repo);
    };
    /** @param {string} repo @param {string} ref @param {{ bytes: Buffer, digest: string, size: number, mediaType: string }} m */
    const pushManifest = async (repo, ref, m) => {
      blobs.set(m.digest, { digest: m.digest, size: m.size });
      await client.putManifest(repo, ref, m.bytes, m.mediaType);
    };
    /** @type {FixtureImage[]} */
    const images = IMAGES.map((i) => ({
      repo: i.repo,
      tag: i.tag,
      mediaType: i.format === 'oci' ? MT.ociIndex : MT.dockerList,
      digest: '',
      children: [],
    }));
    /** @type {Array<Array<{ mediaType: string, digest: string, size: number, platform: object }>>} */
    const childDescs = IMAGES.map(() => []);
    // One worker per arch: while one generates a layer (CPU, this thread) the other's upload is in flight.
    await Promise.all(
      ARCHES.map(async (arch) => {
        /** @type {Map<string, Layer>} */
        const bases = new Map();
        for (const [i, img] of IMAGES.entries()) {
          const docker = img.format === 'docker';
          const layerType = docker ? MT.dockerLayer : MT.ociLayer;
          const layers = [];
          for (const b of img.bases) {
            let base = bases.get(`${b}/${layerType}`);
            if (!base) {
              base = buildLayer(
                `kko-bench/${FIXTURE_VERSION}/${arch}/base-${b}`,
                Math.round(BASES[b] * perWeight),
                layerType,
              );
              bases.set(`${b}/${layerType}`, base);
              layerBytes += base.size;
            }
            layers.push(base);
          }
          const split = img.own < 1 ? [1] : OWN_SPLIT;
          for (const [k, frac] of split.entries()) {
            const l = buildLayer(
              `kko-bench/${FIXTURE_VERSION}/${arch}/${img.repo}/${k}`,
              Math.max(512, Math.round(img.own * frac * perWeight)),
              layerType,
            );
            layerBytes += l.size;
            layers.push(l);
          }
          const platform = platformOf(arch);
          const config = jsonBlob(
            {
              created: '2024-01-01T00:00:00Z',
              ...platform,
              config: { Entrypoint: [`/usr/local/bin/${img.repo.split('/').pop()}`] },
              rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
              history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'kko-bench fixture' })),
            },
            docker ? MT.dockerConfig : MT.ociConfig,
          );
          const manifest = jsonBlob(
            {
              schemaVersion: 2,
              mediaType: docker ? MT.dockerManifest : MT.ociManifest,
              config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
              layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
            },
            docker ? MT.dockerManifest : MT.ociManifest,
          );
          for (const l of layers) await pushBlob(img.repo, l);
          await pushBlob(img.repo, config);
          await pushManifest(img.repo, manifest.digest, manifest);
          /** @type {FixtureImage} */ (images[i]).children.push({ arch, digest: manifest.digest });
          /** @type {Array<object>} */ (childDescs[i]).push({
            mediaType: manifest.mediaType,
            digest: manifest.digest,
            size: manifest.size,
            platform,
          });
        }
        log(`  ${arch}: ${IMAGES.length} images pushed`);
      }),
    );
    for (const [i, img] of IMAGES.entries()) {
      const fi = /** @type {FixtureImage} */ (images[i]);
      // Index entries in a fixed arch order, whichever worker finished first.
      const archOrder = (/** @type {string} */ a) => ARCHES.indexOf(/** @type {'amd64'} */ (a));
      const manifests = /** @type {Array<{ platform: { architecture: string } }>} */ (childDescs[i]).sort(
        (a, b) => archOrder(a.platform.architecture) - archOrder(b.platform.architecture),
      );
      fi.children.sort((a, b) => archOrder(a.arch) - archOrder(b.arch));
      const index = jsonBlob({ schemaVersion: 2, mediaType: fi.mediaType, manifests }, fi.mediaType);
      await pushManifest(img.repo, img.tag, index);
      fi.digest = index.digest;
    }
    const list = [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    return {
      version: FIXTURE_VERSION,
      mib,
      uniqueBytes: list.reduce((n, b) => n + b.size, 0),
      layerBytes,
      images,
      blobs: list,
      repoBlobs,
    };
  } finally {
    await client.close();
    await reg.stop();
  }
}

/**
 * Every blob file present with its size and sha256, and every tag link pointing at the recorded digest.
 * @param {string} root @param {FixtureSpec} spec @returns {Promise<string | undefined>} why not, or undefined when it verifies
 */
async function verifyStorage(root, spec) {
  for (const b of spec.blobs) {
    const path = storedBlobPath(root, b.digest);
    const st = await stat(path).catch(() => undefined);
    if (!st || st.size !== b.size) return `blob ${b.digest} missing or wrong size`;
    if ((await hashFile(path)) !== b.digest) return `blob ${b.digest} does not hash to its digest`;
  }
  for (const img of spec.images) {
    const link = join(
      root,
      'docker',
      'registry',
      'v2',
      'repositories',
      img.repo,
      '_manifests',
      'tags',
      img.tag,
      'current',
      'link',
    );
    const got = await readFile(link, 'utf8').catch(() => '');
    if (got.trim() !== img.digest) return `tag ${img.repo}:${img.tag} does not point at ${img.digest}`;
  }
  return undefined;
}

/**
 * The registry answers for every tag, child manifest and blob as recorded (HEAD requests, loopback).
 * @param {string} distDir @param {string} host @param {FixtureSpec} spec @returns {Promise<void>}
 */
export async function verifyServed(distDir, host, spec) {
  const { RegistryClient } = await import(join(distDir, 'registry', 'index.js'));
  const client = new RegistryClient(host, { plainHTTP: true });
  try {
    for (const img of spec.images) {
      const d = await client.headManifest(img.repo, img.tag);
      if (d?.digest !== img.digest)
        throw new Error(
          `fixture registry: ${img.repo}:${img.tag} is ${d?.digest ?? 'missing'}, expected ${img.digest}`,
        );
    }
    for (const [repo, digests] of Object.entries(spec.repoBlobs)) {
      for (const digest of new Set(digests)) {
        if (!(await client.headBlob(repo, digest))) throw new Error(`fixture registry: ${repo}@${digest} is missing`);
      }
    }
  } finally {
    await client.close();
  }
}

/**
 * The cached fixture for `mib`, verified; built (and cached) when missing or damaged.
 * @param {{ distDir: string, mib: number, rebuild?: boolean, log: (s: string) => void }} opts
 * @returns {Promise<Fixture>}
 */
export async function ensureFixture(opts) {
  const dir = fixtureDir(opts.mib);
  const root = join(dir, 'registry');
  const specPath = join(dir, 'fixture.json');
  let note;
  if (!opts.rebuild && existsSync(specPath)) {
    const t0 = performance.now();
    /** @type {FixtureSpec | undefined} */
    const spec = await readFile(specPath, 'utf8').then(
      (s) => JSON.parse(s),
      () => undefined,
    );
    const why =
      spec?.version !== FIXTURE_VERSION || spec.mib !== opts.mib
        ? 'fixture.json is from another version'
        : await verifyStorage(root, spec);
    const verifySeconds = (performance.now() - t0) / 1000;
    if (!why && spec) return { dir, root, spec, built: false, buildSeconds: 0, verifySeconds };
    note = `cached fixture at ${dir} rejected (${why}); rebuilding`;
    opts.log(note);
  }
  const t0 = performance.now();
  const staging = await mkdtemp(`${dir}.build-`);
  const dropStaging = onCleanup(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }));
  opts.log(`building fixture (${opts.mib} MiB) in ${staging}`);
  const spec = await build(opts.distDir, join(staging, 'registry'), opts.mib, opts.log);
  await writeFile(join(staging, 'fixture.json'), `${JSON.stringify(spec, null, 1)}\n`);
  const buildSeconds = (performance.now() - t0) / 1000;
  // Publish atomically; a concurrent run that got there first wins (its copy is verified next time).
  await rm(dir, { recursive: true, force: true });
  let published = dir;
  try {
    await rename(staging, dir);
  } catch {
    published = staging;
  }
  // Renamed: nothing left to remove. Not renamed: the staging copy is served and removed at cleanup.
  if (published === dir) await dropStaging();
  const t1 = performance.now();
  const t1Root = join(published, 'registry');
  const why = await verifyStorage(t1Root, spec);
  if (why) throw new Error(`fixture just built does not verify (${why}): does ${opts.distDir} match this bench?`);
  return {
    dir: published,
    root: t1Root,
    spec,
    built: true,
    buildSeconds,
    verifySeconds: (performance.now() - t1) / 1000,
    ...(note ? { note } : {}),
  };
}
