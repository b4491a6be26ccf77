import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CacheTarget, type BlobCache } from '../cache/index.js';
import type { CopyEvent } from '../content/index.js';
import { copyBlobs } from '../copy/index.js';
import type { HeldBlobs } from '../artifact-format/index.js';
import { isKkoError, KkoError } from '../errors.js';
import { sourcesExhausted } from '../util/sources.js';
import { cutText, someOf } from '../util/safe-text.js';
import type { ImageSource } from '../mirror/index.js';
import {
  MediaType,
  formatPlatform,
  parseConfigPlatform,
  parseManifestJson,
  parsePlatform,
  platformMatches,
  selectManifests,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from '../oci/index.js';
import { formatReference, parseDigest, sha256Digest, type Digest } from '../reference/index.js';
import { RegistryStore, type ManifestResponse, type RegistryClient, type Semaphore } from '../registry/index.js';
import type { ClientPool } from './clients.js';
import { toOciManifest } from './convert.js';
import type { PlannedImage } from './plan.js';

// What one image × arch became: its manifest in the layout, the blobs it needs, and where it came from.
export type FetchedImage = {
  planned: PlannedImage;
  source: { ref: string; via: ImageSource['via']; registry: string };
  manifest: { digest: Digest; size: number; mediaType: string };
  upstream: { manifestDigest: Digest; mediaType: string; indexDigest?: Digest; indexMediaType?: string };
  platform: Platform;
  blobs: Descriptor[]; // config first, then layers
  extraBlobs: Digest[]; // upstream manifest and index kept for digest-preserving pushes
  size: number; // manifest + config + layers
  fetchedBytes: number;
};

export type FetchDeps = {
  pool: ClientPool;
  cache: BlobCache;
  blobSlots: Semaphore;
  onBytes?: (n: number) => void;
  // Manifests fetched by tag in this run, shared by the arches of one image (one index request, not one per arch).
  manifests?: Map<string, Promise<ManifestResponse>>;
  signal?: AbortSignal; // Ctrl-C: every request and download stops at once
  // #12 item 3: a delta export's have-list blobs. A layer listed here stays out of the archive, so it is not fetched
  // (its digest and size come from the manifest). Configs are fetched all the same: the platform check reads them,
  // and a have-list carries no bytes.
  held?: HeldBlobs;
  // #10, the export's own resolution: start the layers as soon as the image manifest is read, while the config is
  // fetched and its platform checked (one round trip sooner on a slow link, and the blob slots see them sooner).
  // What they fetch is digest-checked into the cache like any blob; if the check fails they are waited for before
  // the next source is tried. `allowed` says whether to start them (not after the export failed), `before` is given
  // them and the config before they start (what the cache held before this run fetched any: the "cached" totals),
  // `started` gets each resolution's pending layers, so the caller can wait for those it never fetches.
  layersEarly?: {
    allowed: () => boolean;
    before: (layers: readonly Descriptor[]) => Promise<void>;
    started: (layers: Promise<unknown>) => void;
  };
};

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

type Attempt = { source: ImageSource; error: unknown };

// An image × arch resolved at one source: manifests read, config fetched and its platform checked.
export type ResolvedImage = {
  planned: PlannedImage;
  source: ImageSource;
  client: RegistryClient;
  image: ManifestResponse;
  index?: ManifestResponse;
  manifest: ImageManifest;
  mediaType: string;
  platform: Platform;
  fetchedBytes: number;
  // With layersEarly: the layers, already under way, and the byte count they add to (config bytes included).
  layers?: { settled: Promise<Array<PromiseSettledResult<string>>>; tracker: { fetched: number } };
};

// Resolve through the ordered sources (no layer bytes yet); collects why each source failed.
export async function resolveImage(p: PlannedImage, deps: FetchDeps, skip = 0): Promise<ResolvedImage> {
  const attempts: Attempt[] = [];
  for (const source of p.sources.slice(skip)) {
    try {
      return await resolveAt(p, source, deps);
    } catch (error) {
      deps.signal?.throwIfAborted(); // interrupted: not this source's fault, and no other source is tried
      attempts.push({ source, error });
    }
  }
  throw exhausted(p, attempts);
}

// Fetch one image × arch: resolve, then layers; a failing, corrupt or wrong-arch source moves on to the next.
// Given a resolution, start at its source: the ones before it already failed to resolve.
export async function fetchImage(p: PlannedImage, deps: FetchDeps, resolved?: ResolvedImage): Promise<FetchedImage> {
  const attempts: Attempt[] = [];
  const from = resolved ? Math.max(0, p.sources.indexOf(resolved.source)) : 0;
  for (const source of p.sources.slice(from)) {
    try {
      const r = resolved && resolved.source === source ? resolved : await resolveAt(p, source, deps);
      return await fetchLayers(r, deps);
    } catch (error) {
      deps.signal?.throwIfAborted(); // interrupted: not this source's fault, and no other source is tried
      attempts.push({ source, error });
    }
  }
  throw exhausted(p, attempts);
}

function exhausted(p: PlannedImage, attempts: Attempt[]): KkoError {
  const failures = attempts.map((a) => ({ source: formatReference(a.source.ref), via: a.source.via, error: a.error }));
  return sourcesExhausted(
    `image ${p.ref} (${p.arch})`,
    failures,
    'check the mirror chain with `kko mirror resolve <ref>`; `kko precheck` tests every image before an export',
  );
}

async function resolveAt(p: PlannedImage, source: ImageSource, deps: FetchDeps): Promise<ResolvedImage> {
  const client = deps.pool.clientFor(source);
  const repo = source.ref.repository;
  const want = parsePlatform(p.arch);
  const top = await sharedManifest(client, source, deps);
  const parsed = parseManifestJson(top.bytes, top.mediaType);
  let image = top;
  let index: ManifestResponse | undefined;
  if (parsed.kind === 'index') {
    const [child] = selectManifests(parsed.manifest, want);
    if (!child) {
      // The index is the registry's: each platform cut and escaped, and a long list named by its first entries.
      const have = someOf(parsed.manifest.manifests, 10, (d) =>
        d.platform ? cutText(formatPlatform(d.platform)) : '?',
      );
      throw new KkoError('PLATFORM_NOT_FOUND', `no ${formatPlatform(want)} entry in the index (it has ${have})`);
    }
    index = top;
    image = await client.getManifest(repo, child.digest, deps.signal);
  }
  const manifest = parseManifestJson(image.bytes, image.mediaType);
  if (manifest.kind !== 'image') throw new KkoError('INVALID_IMAGE_MANIFEST', 'an index entry points at another index');
  const tracker = { fetched: 0 };
  // Stopped when the config check fails: this source's layers are of no use then (the wrong platform, say), and the
  // next source is not to wait for them to download in full. Not when the config's bytes did not match its digest:
  // what this source sends is suspect then, so its layers finish and are checked (a mismatch is discarded) instead
  // of being left as partials the next source would resume.
  const stop = deps.layersEarly?.allowed() ? new AbortController() : undefined;
  if (stop) await deps.layersEarly?.before([manifest.manifest.config, ...manifest.manifest.layers]);
  const early = stop
    ? startLayers(client, repo, manifest.manifest, p, { ...deps, signal: withStop(deps.signal, stop.signal) }, tracker)
    : undefined;
  if (early) deps.layersEarly?.started(early);
  const platform = await checkConfigPlatform(
    client,
    repo,
    manifest.manifest,
    want,
    index !== undefined,
    deps,
    tracker,
  ).catch(async (err: unknown) => {
    if (!(isKkoError(err) && err.code === 'DIGEST_MISMATCH')) stop?.abort(err);
    await early; // no download of this source may still run when the next source is tried
    throw err;
  });
  return {
    planned: p,
    source,
    client,
    image,
    ...(index ? { index } : {}),
    manifest: manifest.manifest,
    mediaType: manifest.mediaType,
    platform,
    fetchedBytes: tracker.fetched,
    ...(early ? { layers: { settled: early, tracker } } : {}),
  };
}

const withStop = (signal: AbortSignal | undefined, stop: AbortSignal): AbortSignal =>
  signal ? AbortSignal.any([signal, stop]) : stop;

// Every layer of the manifest into the cache (the ones a delta's have-list holds excepted), settled each on its own.
function startLayers(
  client: RegistryClient,
  repo: string,
  m: ImageManifest,
  p: PlannedImage,
  deps: FetchDeps,
  tracker: { fetched: number },
): Promise<Array<PromiseSettledResult<string>>> {
  return Promise.allSettled(
    m.layers.filter((l) => !deps.held?.has(p.ref, l.digest)).map((l) => ensureBlob(client, repo, l, deps, tracker)),
  );
}

function sharedManifest(client: RegistryClient, source: ImageSource, deps: FetchDeps): Promise<ManifestResponse> {
  const ref = source.ref.digest ?? source.ref.tag ?? 'latest';
  const key = JSON.stringify([source.registry, source.plainHTTP, source.ref.repository, ref]);
  let p = deps.manifests?.get(key);
  if (!p) {
    p = client.getManifest(source.ref.repository, ref, deps.signal);
    deps.manifests?.set(key, p);
  }
  return p;
}

async function fetchLayers(r: ResolvedImage, deps: FetchDeps): Promise<FetchedImage> {
  const tracker = r.layers?.tracker ?? { fetched: r.fetchedBytes };
  // allSettled: no download of this source may still be running when the next source is tried.
  const settled = await (r.layers?.settled ??
    startLayers(r.client, r.source.ref.repository, r.manifest, r.planned, deps, tracker));
  const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
  const image = fetchedImage(r, tracker.fetched);
  for (const bytes of documents(r).values()) await putBytes(deps.cache, bytes);
  return image;
}

// The manifests an image keeps in the layout, by digest: its OCI manifest (rewritten from Docker types), the upstream
// manifest and the index (for digest-preserving pushes); known once it is resolved.
export function documents(r: ResolvedImage): Map<string, Buffer> {
  const oci = toOciManifest(r.image.bytes, r.mediaType);
  const docs = new Map<string, Buffer>([[oci.digest, oci.bytes]]);
  docs.set(r.image.digest, r.image.bytes);
  if (r.index) docs.set(r.index.digest, r.index.bytes);
  return docs;
}

// What a resolved image becomes in the artifact once its layers are in the cache: everything the inventory and the
// layout record is known at resolution (#10: the archive can start before the layers are in).
export function fetchedImage(r: ResolvedImage, fetchedBytes: number): FetchedImage {
  const m = r.manifest;
  const oci = toOciManifest(r.image.bytes, r.mediaType);
  const extra = [r.image.digest, ...(r.index ? [r.index.digest] : [])];
  const size = oci.bytes.length + m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
  return {
    planned: r.planned,
    source: { ref: formatReference(r.source.ref), via: r.source.via, registry: r.source.registry },
    manifest: { digest: oci.digest, size: oci.bytes.length, mediaType: MediaType.OCI_MANIFEST },
    upstream: {
      manifestDigest: r.image.digest,
      mediaType: r.mediaType,
      ...(r.index ? { indexDigest: r.index.digest, indexMediaType: r.index.mediaType } : {}),
    },
    platform: r.platform,
    blobs: [m.config, ...m.layers],
    extraBlobs: extra.filter((d) => d !== oci.digest),
    size,
    fetchedBytes,
  };
}

// The config says what the image really is: a single-arch image (or a lying index entry) for the
// wrong platform is refused instead of being stored under the wrong "-<arch>" name (kk #2595).
async function checkConfigPlatform(
  client: RegistryClient,
  repo: string,
  m: ImageManifest,
  want: Platform,
  fromIndex: boolean,
  deps: FetchDeps,
  tracker: { fetched: number },
): Promise<Platform> {
  if (m.config.size > MAX_CONFIG_BYTES)
    throw new KkoError('SIZE_LIMIT_EXCEEDED', `image config is ${m.config.size} bytes`);
  const path = await ensureBlob(client, repo, m.config, deps, tracker, 'config');
  const have = parseConfigPlatform(await readFile(path));
  if (!platformMatches(want, have)) {
    const what = fromIndex
      ? 'its index entry claims it, but the image config says'
      : 'it is a single-platform image for';
    throw new KkoError('WRONG_PLATFORM', `wanted ${formatPlatform(want)}; ${what} ${formatPlatform(have)}`, {
      hint: 'use a multi-arch source for this image, or drop the arch from spec.arches',
    });
  }
  return have;
}

// One blob into the cache through the copy core (src/copy): HEAD-skip what the cache holds verified, else stream it
// from this source with Range resumes (a large one in parts, see the cache). The cache hashes every byte, so the
// registry read is not hashed twice. The blob slots go by blobPriority. A config takes no blob slot:
// resolution waits for it, it is small (on the transport's small slots, see RegistryStore.getBlob) and the
// look-ahead bounds how many are fetched at once; waiting for a layer to free a slot cost seconds on a slow link.
export async function ensureBlob(
  client: RegistryClient,
  repo: string,
  d: Descriptor,
  deps: FetchDeps,
  tracker: { fetched: number },
  kind: 'config' | 'layer' = 'layer',
): Promise<string> {
  const digest = parseDigest(d.digest);
  const ref = { registry: client.registry, repository: repo };
  const onEvent = (e: CopyEvent): void => {
    if (e.kind !== 'blob-bytes') return;
    tracker.fetched += e.bytes;
    deps.onBytes?.(e.bytes);
  };
  // A slot also bounds how many cached layers are re-hashed at once (disk reads, buffers).
  const release = kind === 'config' ? () => undefined : await deps.blobSlots.acquire(blobPriority(d));
  try {
    await copyBlobs(RegistryStore.of([client]), ref, new CacheTarget(deps.cache), ref, [d], {
      verifySource: false,
      onEvent,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    return deps.cache.blobPath(digest);
  } finally {
    release();
  }
}

// Below this size a layer is part of the tail: fetched in the archive's order, not by size (blobPriority).
export const TAIL_BLOB_BYTES = 2 * 1024 * 1024;

// Who gets a free blob slot first across the whole export (higher first). A layer of at least TAIL_BLOB_BYTES: the
// largest (longest-processing-time order, so no big layer starts last and runs alone). The smaller ones after them,
// in the archive's order (images/blobs/sha256/<hex> sorts by digest), so the archive written while layers arrive
// (run.ts) is not held up at a small blob that LPT would fetch last while the blobs after it wait in the cache: when
// the last download ends, only the blobs after it are left to write.
export function blobPriority(d: Descriptor): number {
  if (d.size >= TAIL_BLOB_BYTES) return d.size;
  const hex = d.digest.slice(d.digest.indexOf(':') + 1, d.digest.indexOf(':') + 13);
  return -1 - (Number.parseInt(hex, 16) || 0); // 48 bits: exact in a double; lower digests first
}

// Small generated or fetched documents (manifests, indexes) go into the cache like any blob.
export async function putBytes(cache: BlobCache, bytes: Buffer): Promise<void> {
  await cache.ensure({ digest: sha256Digest(bytes), size: bytes.length }, async () => Readable.from([bytes]));
}
