import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { parsePartName } from '../archive/parts.js';
import { blobPath } from '../artifact-format/index.js';
import { openArtifact } from '../artifact-read/open.js';
import { resolveArtifactSource } from '../artifact-read/source.js';
import { storedEntries, writerOrder } from '../artifact-read/writer-layout.js';
import { ArtifactStore, type ArtifactStoreOptions } from '../artifact-store/index.js';
import { DEFAULT_LEVEL, levelProblem } from '../archive/compress.js';
import type { BlobCache } from '../cache/index.js';
import type { BlobReadOptions, ContentSource, ContentTarget, CopyEvent, ManifestContent } from '../content/index.js';
import { copyBlobs, type BlobCounts } from '../copy/index.js';
import { KkoError } from '../errors.js';
import { parseManifestJson, refNameOf, type Descriptor } from '../oci/index.js';
import { formatReference, parseReference, type Digest, type Reference } from '../reference/index.js';
import {
  artifactManifest,
  EMPTY_CONFIG,
  EMPTY_CONFIG_BYTES,
  publishedIndex,
  type ArchiveRecipe,
  type FileLayer,
} from './format.js';

export type PublishOptions = ArtifactStoreOptions & {
  readonly artifact: string; // the file, its first part, or a quoted ART.part-*
  readonly target: ContentTarget;
  readonly ref: Reference; // HOST/repo:tag (parseOciRef)
  readonly cache: BlobCache; // where files deflated in the archive are unpacked once before they are sent
  readonly concurrency?: number;
  readonly onEvent?: (e: CopyEvent) => void;
  // The gzip / zstd level the artifact was written with (default: the writer's, which export uses); recorded so pull
  // writes the same bytes. Refused (INVALID_INPUT) out of range for the compression (levelProblem), or for a .tar.
  readonly level?: number;
};

export type PublishReport = {
  readonly ref: string;
  readonly byteIdentical: boolean; // false: pull gives an equivalent artifact (notReproducible says why)
  readonly notByteIdentical?: string;
  readonly digest: Digest; // of the index under the tag
  readonly artifactManifest: Digest;
  readonly images: number;
  readonly files: number;
  readonly blobs: BlobCounts;
};

// Why kko's writer cannot give these bytes again (entry order, several mtimes), or undefined when it can.
function notReproducible(store: ArtifactStore): string | undefined {
  const names = [...store.archive.files.keys()];
  const order = writerOrder(names);
  const at = order.findIndex((n, i) => n !== names[i]);
  if (at >= 0) return `its entries are not in kko's order (${names[at]} where ${order[at]} goes)`;
  const mtimes = store.archive.mtimes?.size ?? 0;
  return mtimes > 1 ? `its entries have ${mtimes} different mtimes` : undefined;
}

// What the writer needs to give these bytes again, read from the artifact. An artifact kko's writer did not lay out
// (kk's, or re-packed by tar) is published all the same, marked not byte-identical: pull then writes an equivalent
// kko artifact (the same entries with the same bytes, in kko's order, one mtime: the newest).
async function recipeOf(store: ArtifactStore, artifact: string, level: number | undefined): Promise<ArchiveRecipe> {
  const facts = store.archive;
  const why = notReproducible(store);
  const src = await resolveArtifactSource(artifact);
  const first = src.files[0];
  const split = first && parsePartName(basename(first.path)) ? first.size : undefined;
  const compression = facts.compression;
  const bad = level === undefined ? undefined : levelProblem(compression, level);
  if (bad)
    throw new KkoError('INVALID_INPUT', `publishing ${artifact}: level ${level}: ${bad}`, {
      hint: 'pass the level the artifact was written with (--level; gzip 1..9, zstd 1..22), or none for its default',
    });
  return {
    compression,
    ...(compression === 'none' ? {} : { level: level ?? DEFAULT_LEVEL[compression] }),
    ...(why ? { byteIdentical: false } : {}),
    mtime: Math.max(0, ...(facts.mtimes ?? [])),
    ...(split !== undefined ? { splitSize: split } : {}),
    sha256: facts.sha256 as string,
  };
}

// The images of images/index.json, their manifests' bytes and the blobs they reach.
function imagesOf(store: ArtifactStore): { entries: Descriptor[]; manifests: ManifestContent[]; blobs: Descriptor[] } {
  const entries = store.entries();
  const manifests: ManifestContent[] = [];
  const blobs = new Map<string, Descriptor>();
  for (const d of entries) {
    const bytes = store.archive.manifests.get(d.digest.slice(7)) as Buffer; // verify checked every entry is there
    const parsed = parseManifestJson(bytes, d.mediaType);
    if (parsed.kind !== 'image')
      throw new KkoError('INVALID_INPUT', `publishing: images/index.json entry ${d.digest} is an index, not an image`);
    manifests.push({ bytes, mediaType: parsed.mediaType, digest: d.digest });
    for (const b of [parsed.manifest.config, ...parsed.manifest.layers])
      if (!blobs.has(b.digest)) blobs.set(b.digest, b);
  }
  return { entries, manifests, blobs: [...blobs.values()] };
}

// Every file of the artifact that no image reaches, in archive order, as a layer.
function fileLayers(store: ArtifactStore, reached: ReadonlySet<string>): FileLayer[] {
  const stored = storedEntries(store.archive.manifests);
  return [...store.archive.files.values()]
    .filter((f) => !reached.has(f.name))
    .map((f) => ({ name: f.name, digest: `sha256:${f.sha256}` as Digest, size: f.size, stored: stored(f.name) }));
}

// The artifact's blobs and files as one source for copyBlobs: image blobs from the store, files read in place or
// (deflated in the archive) from the cache, the empty config from memory.
class PublishSource implements ContentSource {
  readonly description: string;
  constructor(
    readonly store: ArtifactStore,
    readonly storeRef: Reference,
    readonly files: ReadonlyMap<string, FileLayer>, // digest → file
    readonly cache: BlobCache,
  ) {
    this.description = store.description;
  }
  headManifest(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  getManifest(ref: Reference): Promise<ManifestContent> {
    return Promise.reject(new KkoError('INTERNAL', `publishing: no manifest ${formatReference(ref)} from files`));
  }
  async headBlob(_ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    return this.store.headBlob(this.storeRef, digest);
  }
  async getBlob(_ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const start = opts.offset ?? 0;
    if (desc.digest === EMPTY_CONFIG.digest) return Readable.from([EMPTY_CONFIG_BYTES.subarray(start)]);
    const file = this.files.get(desc.digest);
    if (!file) return this.store.getBlob(this.storeRef, desc, opts);
    if (file.name.startsWith('images/blobs/')) return this.store.getBlob(this.storeRef, desc, opts);
    if (start === 0 && this.store.readsInPlace(file.name)) return (await this.store.readFile(file.name)) as Readable;
    if (this.store.readsInPlace(file.name)) {
      // A re-sent upload from an offset: read the whole (hashed) file and skip to it.
      const whole = (await this.store.readFile(file.name)) as Readable;
      return Readable.from(skip(whole, start), { objectMode: false });
    }
    return createReadStream(this.cache.blobPath(desc.digest), { start });
  }
  listTags(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

async function* skip(body: Readable, n: number): AsyncGenerator<Buffer> {
  let left = n;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield chunk.subarray(left);
    left = 0;
  }
}

async function drain(body: Readable): Promise<void> {
  for await (const chunk of body as AsyncIterable<Buffer>) void chunk;
}

// Files the store cannot read in place (deflated in a .tar.gz / zstd-compressed in a .tar.zst): one pass through the
// archive unpacks those the cache lacks into it, each hashed against the sha256 the verify pass saw.
async function unpackDeflated(
  store: ArtifactStore,
  artifact: string,
  files: readonly FileLayer[],
  cache: BlobCache,
  signal?: AbortSignal,
): Promise<void> {
  const wanted = new Map<string, FileLayer>();
  for (const f of files)
    if (
      !f.name.startsWith('images/blobs/') &&
      !store.readsInPlace(f.name) &&
      !(await cache.has({ digest: f.digest, size: f.size }))
    )
      wanted.set(f.name, f);
  if (wanted.size === 0) return;
  const art = await openArtifact(artifact);
  try {
    for await (const entry of art.entries) {
      signal?.throwIfAborted();
      const f = entry.type === 'file' ? wanted.get(entry.name) : undefined;
      if (!f) {
        await drain(entry.body);
        continue;
      }
      let used = false;
      await cache.ensure(
        { digest: f.digest, size: f.size },
        async (offset) => {
          if (used || offset !== 0)
            throw new KkoError('IO_ERROR', `publishing: unpacking ${f.name} from ${artifact} failed; re-run to resume`);
          used = true;
          return entry.body;
        },
        { ...(signal ? { signal } : {}), what: `${f.name} of ${artifact}` },
      );
      if (!used) await drain(entry.body); // another run put it in the cache meanwhile
      wanted.delete(f.name);
      if (wanted.size === 0) break;
    }
  } finally {
    art.close();
  }
}

// `kko artifact publish ART oci://HOST/repo:tag`: the artifact as one OCI index (format.ts) in the target repository.
// Opening the artifact verifies it (as `artifact verify`); every blob and file is sent once (copyBlobs: what the
// registry has is skipped), then the image manifests and the artifact manifest by digest, and the index under the tag
// last, so a tag is never there before all it names.
export async function publishArtifact(opts: PublishOptions): Promise<PublishReport> {
  const store = await ArtifactStore.open(opts.artifact, { ...opts, archiveSha256: true });
  try {
    const recipe = await recipeOf(store, opts.artifact, opts.level);
    const why = notReproducible(store);
    const images = imagesOf(store);
    const reached = new Set([...images.manifests, ...images.blobs].map((d) => blobPath(d.digest)));
    const files = fileLayers(store, reached);
    await unpackDeflated(store, opts.artifact, files, opts.cache, opts.signal);
    const first = images.entries.map(refNameOf).find((n) => n !== undefined);
    const storeRef = first ? parseReference(first) : { registry: '', repository: '' };
    const byDigest = new Map(files.map((f) => [f.digest as string, f]));
    const src = new PublishSource(store, storeRef, byDigest, opts.cache);
    const dstRef: Reference = { registry: opts.ref.registry, repository: opts.ref.repository };
    const wanted = new Map<string, Descriptor>();
    for (const d of [
      EMPTY_CONFIG,
      ...images.blobs,
      ...files.map((f) => ({ mediaType: 'application/octet-stream', digest: f.digest, size: f.size })),
    ])
      if (!wanted.has(d.digest)) wanted.set(d.digest, d);
    const so = opts.signal ? { signal: opts.signal } : {};
    const blobs = await copyBlobs(src, storeRef, opts.target, dstRef, [...wanted.values()], {
      concurrency: opts.concurrency ?? 4,
      ...so,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
    for (const m of images.manifests) await opts.target.putManifest({ ...dstRef, digest: m.digest }, m, so);
    const am = artifactManifest(recipe, files);
    await opts.target.putManifest({ ...dstRef, digest: am.digest }, am, so);
    const index = publishedIndex(am, images.entries);
    const digest = await opts.target.putManifest(opts.ref, index, so);
    return {
      ref: formatReference(opts.ref),
      byteIdentical: why === undefined,
      ...(why ? { notByteIdentical: why } : {}),
      digest,
      artifactManifest: am.digest,
      images: images.entries.length,
      files: files.length,
      blobs,
    };
  } finally {
    await store.close();
  }
}
