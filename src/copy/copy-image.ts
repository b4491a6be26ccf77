import { Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  through,
  type ContentSource,
  type ContentTarget,
  type CopyEvent,
  type CopyOptions,
  type ManifestContent,
} from '../content/index.js';
import { isKkoError, KkoError } from '../errors.js';
import {
  formatPlatform,
  parseManifestJson,
  platformMatches,
  referencedBlobs,
  type Descriptor,
  type ImageIndex,
} from '../oci/index.js';
import { formatReference, parseDigest, sha256Digest, type Digest, type Reference } from '../reference/index.js';
import { mapLimitAll } from '../util/concurrency.js';

export type CopyResult = {
  // The manifest put under dstRef: the source's top manifest, or (a platform filter) its one child or a narrower index.
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly blobs: { readonly copied: number; readonly present: number; readonly mounted: number };
  readonly bytesSent: number; // blob bytes read from the source for the target, re-sends included
  readonly manifests: number; // manifests put (children by digest, then the top one)
};

type Ends = { src: ContentSource; srcRef: Reference; dst: ContentTarget; dstRef: Reference; opts: CopyOptions };
export type BlobCounts = { copied: number; present: number; mounted: number; bytesSent: number };

const DEFAULT_CONCURRENCY = 4;

// Copy one image (a manifest or an index with its children) from src to dst, verifying every digest on the way:
//  1. read the top manifest (by-digest reads are checked by the store; a digest in srcRef is checked here too);
//  2. for an index, keep the children opts.platforms asks for and read each by digest;
//  3. copy every config and layer once, at most opts.concurrency at a time: skip what dst has (HEAD), mount what
//     another repository of the same registry has, else stream it (the source hashes as it reads, dst checks
//     digest and size before it keeps the bytes);
//  4. put the child manifests by digest, then the top manifest under dstRef (its tag, else its digest).
// Nothing is put under dstRef unless every blob before it was copied, present or mounted.
export async function copyImage(
  src: ContentSource,
  srcRef: Reference,
  dst: ContentTarget,
  dstRef: Reference,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const ends: Ends = { src, srcRef, dst, dstRef, opts };
  const so = opts.signal ? { signal: opts.signal } : {};
  const top = await src.getManifest(srcRef, so);
  if (srcRef.digest !== undefined && top.digest !== srcRef.digest) {
    throw new KkoError(
      'DIGEST_MISMATCH',
      `copying ${formatReference(srcRef)} from ${src.description}: the manifest is ${top.digest}`,
    );
  }
  const { children, put } = await selectChildren(ends, top);
  const images = children.length > 0 ? children : [top];
  if (opts.skipTagged && dstRef.tag !== undefined && (await taggedAlready(ends, put))) {
    // dstRef's tag holds exactly the manifest that would be put: nothing to send, no blob HEADs.
    const blobs = uniqueBlobs(images);
    for (const d of blobs) opts.onEvent?.({ kind: 'blob-present', digest: parseDigest(d.digest), size: d.size });
    opts.onEvent?.({ kind: 'manifest-present', digest: put.digest, ref: dstRef });
    return {
      digest: put.digest,
      mediaType: put.mediaType,
      size: put.bytes.length,
      blobs: { copied: 0, present: blobs.length, mounted: 0 },
      bytesSent: 0,
      manifests: 0,
    };
  }
  const counts = await copyBlobs(src, srcRef, dst, dstRef, uniqueBlobs(images), opts);
  let manifests = 0;
  for (const child of children) {
    await putManifest(ends, { ...untagged(dstRef), digest: child.digest }, child);
    manifests++;
  }
  // A lone selected child was put by digest above; under a tag it goes again.
  if (!children.includes(put) || dstRef.tag !== undefined) {
    await putManifest(ends, dstRef, put);
    manifests++;
  }
  const { copied, present, mounted, bytesSent } = counts;
  return {
    digest: put.digest,
    mediaType: put.mediaType,
    size: put.bytes.length,
    blobs: { copied, present, mounted },
    bytesSent,
    manifests,
  };
}

// CopyOptions.skipTagged: dst says dstRef's tag resolves to exactly this digest. Any failure of that HEAD (a registry
// without HEAD on manifests, an error page) only means "not proven": the full copy runs and reports its own errors.
async function taggedAlready(ends: Ends, put: ManifestContent): Promise<boolean> {
  try {
    const have = await ends.dst.headManifest(ends.dstRef, ends.opts.signal ? { signal: ends.opts.signal } : {});
    return have?.digest === put.digest;
  } catch (err) {
    ends.opts.signal?.throwIfAborted();
    if (isKkoError(err) && err.code === 'INTERRUPTED') throw err;
    return false;
  }
}

function untagged(ref: Reference): Reference {
  return { registry: ref.registry, repository: ref.repository };
}

async function putManifest(ends: Ends, ref: Reference, m: ManifestContent): Promise<void> {
  await ends.dst.putManifest(ref, m, ends.opts.signal ? { signal: ends.opts.signal } : {});
  ends.opts.onEvent?.({ kind: 'manifest-put', digest: m.digest, ref });
}

// An image: no children, itself under the tag. An index: the children the platform filter keeps (all without one),
// each read by digest and checked against its descriptor; under the tag the index itself when every child is kept,
// the one child when one is, else a new index of the kept entries (a new digest: the source has no such index).
async function selectChildren(
  ends: Ends,
  top: ManifestContent,
): Promise<{ children: ManifestContent[]; put: ManifestContent }> {
  const parsed = parseManifestJson(top.bytes, top.mediaType);
  if (parsed.kind === 'image') return { children: [], put: top };
  const want = ends.opts.platforms;
  const all = parsed.manifest.manifests;
  const kept =
    want === undefined
      ? all
      : all.filter(
          (d) =>
            d.platform !== undefined &&
            want.some((w) => platformMatches(w, d.platform as NonNullable<Descriptor['platform']>)),
        );
  if (kept.length === 0) {
    const have = all.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
    throw new KkoError(
      'PLATFORM_NOT_FOUND',
      `copying ${formatReference(ends.srcRef)}: no ${(want ?? []).map(formatPlatform).join(' or ')} entry in the index (it has ${have})`,
    );
  }
  const children: ManifestContent[] = [];
  for (const d of kept) children.push(await readChild(ends, d));
  if (kept.length === all.length) return { children, put: top };
  if (children.length === 1) return { children, put: children[0] as ManifestContent };
  return { children, put: narrowIndex(parsed.manifest, parsed.mediaType, kept) };
}

async function readChild(ends: Ends, d: Descriptor): Promise<ManifestContent> {
  const ref = { ...untagged(ends.srcRef), digest: d.digest };
  const child = await ends.src.getManifest(ref, ends.opts.signal ? { signal: ends.opts.signal } : {});
  if (child.digest !== d.digest || child.bytes.length !== d.size) {
    throw new KkoError(
      'DIGEST_MISMATCH',
      `copying ${formatReference(ref)} from ${ends.src.description}: got ${child.digest} (${child.bytes.length} bytes), the index says ${d.digest} (${d.size} bytes)`,
    );
  }
  if (parseManifestJson(child.bytes, child.mediaType).kind !== 'image') {
    throw new KkoError(
      'INVALID_IMAGE_MANIFEST',
      `copying ${formatReference(ref)}: an index entry points at another index (not supported)`,
    );
  }
  return child;
}

function narrowIndex(index: ImageIndex, mediaType: string, kept: readonly Descriptor[]): ManifestContent {
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: kept,
    ...(index.annotations ? { annotations: index.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType, digest: sha256Digest(bytes) };
}

// Config and layers of every image, each digest once, in first-seen order.
function uniqueBlobs(images: readonly ManifestContent[]): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const m of images) {
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    if (parsed.kind !== 'image') continue;
    for (const d of referencedBlobs(parsed.manifest)) if (!seen.has(d.digest)) seen.set(d.digest, d);
  }
  return [...seen.values()];
}

// The blob step of copyImage on its own (export copies an image's layers into its cache with it): every blob of
// `blobs` from src to dst, at most opts.concurrency at once; the first failure stops new ones, waits for those in
// flight and is thrown. Returns what happened to them.
export async function copyBlobs(
  src: ContentSource,
  srcRef: Reference,
  dst: ContentTarget,
  dstRef: Reference,
  blobs: readonly Descriptor[],
  opts: CopyOptions = {},
): Promise<BlobCounts> {
  const ends: Ends = { src, srcRef, dst, dstRef, opts };
  const counts: BlobCounts = { copied: 0, present: 0, mounted: 0, bytesSent: 0 };
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  await mapLimitAll(blobs, limit, (d) => copyBlob(ends, d, counts), { signal: opts.signal });
  return counts;
}

async function copyBlob(ends: Ends, d: Descriptor, counts: BlobCounts): Promise<void> {
  const { src, srcRef, dst, dstRef, opts } = ends;
  const so = opts.signal ? { signal: opts.signal } : {};
  const digest = parseDigest(d.digest);
  const emit = (e: CopyEvent): void => opts.onEvent?.(e);
  const have = await dst.headBlob(dstRef, digest, so);
  if (have && (have.size === d.size || have.size < 0)) {
    counts.present++;
    return emit({ kind: 'blob-present', digest, size: d.size });
  }
  const sameRegistry = srcRef.registry === dstRef.registry && srcRef.repository !== dstRef.repository;
  const from = sameRegistry ? untagged(srcRef) : opts.mountFrom?.(digest);
  if (from && dst.mountBlob && (await dst.mountBlob(dstRef, digest, from, so))) {
    counts.mounted++;
    return emit({ kind: 'blob-mounted', digest, size: d.size });
  }
  let sourceError: unknown;
  const onBytes = (n: number): void => {
    counts.bytesSent += n;
    emit({ kind: 'blob-bytes', digest, bytes: n });
  };
  // A target that counts what it reads gets the source's stream itself; any other one gets it through a counter.
  const counted = dst.countsBytes === true;
  const open = async (offset: number, length?: number): Promise<Readable> => {
    const s = await src.getBlob(srcRef, d, {
      ...so,
      offset,
      ...(length !== undefined ? { length } : {}),
      ...(opts.verifySource === false ? { verify: false } : {}),
    });
    s.once('error', (err) => (sourceError = err));
    return counted ? s : through(s, new CountStream(onBytes));
  };
  try {
    await dst.putBlob(dstRef, d, open, counted ? { ...so, onBytes } : so);
  } catch (err) {
    // The source's own verdict (a corrupt stored copy) says more than the target's reaction to the broken stream.
    if (
      isKkoError(sourceError) &&
      (sourceError.code === 'DIGEST_MISMATCH' || sourceError.code === 'SIZE_LIMIT_EXCEEDED')
    )
      throw sourceError;
    throw err;
  }
  counts.copied++;
  emit({ kind: 'blob-copied', digest, size: d.size });
}

// Counts the bytes flowing to the target.
class CountStream extends Transform {
  constructor(readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onBytes(chunk.length);
    done(null, chunk);
  }
}
