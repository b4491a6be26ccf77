import { Readable } from 'node:stream';
import type { ArtifactStore, InOrderBlob } from '../artifact-store/index.js';
import type {
  BlobReadOptions,
  ContentSource,
  ContentTarget,
  CopyEvent,
  ManifestContent,
  StoreOptions,
} from '../content/index.js';
import { copyBlobs } from '../copy/index.js';
import { abortReason, KkoError } from '../errors.js';
import { parseManifestJson, referencedBlobs, type Descriptor } from '../oci/index.js';
import { formatReference, parseReference, type Digest, type Reference } from '../reference/index.js';
import { mapLimit } from '../util/concurrency.js';
import type { PushPlan } from './plan.js';

// Push of an artifact whose blobs sit compressed in the archive (a .tar.gz or .tar.zst another tool wrote: kk's own
// `kk artifact export`, GNU `tar czf`): they cannot be read in place, only in archive order. The open (pass 1,
// ArtifactStore with `sequential`) inflated the archive once for its metadata; this pass inflates it once more and
// sends every such blob the target lacks, as it streams by, to the first image that needs it (copyBlobs: HEAD, the
// body hashed as it streams, the registry checks the digest too). The per-image copies after it find those blobs
// present or mount them (MountingTarget); manifests and tags go last as for any push.

// Where one blob goes: the first image of the plan that needs it.
type Want = { readonly target: Reference; readonly name: string; readonly source: Reference };

// Push's events for one blob step, named by the image it is sent for (the same mapping pushImage uses).
export type BlobEventSink = (name: string, e: CopyEvent) => void;

// The store as a ContentSource for the push: getBlob of the blob the pass is at gives its body, in order (Cursor);
// a blob the pass failed to send fails with that error afterwards (DIGEST_MISMATCH naming it, for a corrupt one).
export class StreamedSource implements ContentSource {
  readonly description: string;
  readonly #store: ArtifactStore;
  readonly failed = new Map<Digest, unknown>();
  current: Cursor | undefined;

  constructor(store: ArtifactStore) {
    this.#store = store;
    this.description = store.description;
  }

  headManifest(ref: Reference): Promise<Descriptor | undefined> {
    return this.#store.headManifest(ref);
  }
  getManifest(ref: Reference): Promise<ManifestContent> {
    return this.#store.getManifest(ref);
  }
  headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    return this.#store.headBlob(ref, digest);
  }
  listTags(ref: Reference): Promise<string[]> {
    return this.#store.listTags(ref);
  }

  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const c = this.current;
    if (c?.desc.digest === desc.digest) {
      const offset = opts.offset ?? 0;
      if (offset !== c.at || c.broken)
        throw new KkoError(
          'IO_ERROR',
          `sending blob ${desc.digest}: the upload needs its bytes again from byte ${offset} (a send broke off), but ${this.description} holds it compressed and it streams by once per pass (at byte ${c.at})`,
          { hint: 're-run the push: it sends only what the registry still lacks' },
        );
      return Readable.from(c.take(opts.length ?? desc.size - offset), { objectMode: false });
    }
    const failed = this.failed.get(desc.digest as Digest);
    if (failed !== undefined) throw failed;
    return this.#store.getBlob(ref, desc, opts);
  }
}

// The body of the blob the pass is at, handed out in consecutive pieces (a chunked upload opens one per PATCH at the
// offset the last one ended): each piece takes exactly its length from the one stream and leaves the rest.
export class Cursor {
  readonly desc: Descriptor;
  at = 0;
  #stream: Readable | undefined;
  #it: AsyncIterator<Buffer> | undefined;
  #left: Buffer | undefined;
  readonly #blob: InOrderBlob;

  constructor(blob: InOrderBlob) {
    this.#blob = blob;
    this.desc = blob.desc;
  }

  // A piece that broke off before its last byte was handed out (a failed send) may have taken a chunk nobody got:
  // no further piece is handed out (the bytes are not there to give again).
  get broken(): boolean {
    return this.#broken;
  }
  #broken = false;

  async *take(n: number): AsyncGenerator<Buffer> {
    this.#stream ??= this.#blob.open();
    this.#it ??= (this.#stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.#broken = true;
    for (let want = n; want > 0;) {
      let c = this.#left;
      this.#left = undefined;
      if (!c) {
        const r = await this.#it.next();
        if (r.done) return;
        c = r.value;
      }
      if (c.length > want) [c, this.#left] = [c.subarray(0, want), c.subarray(want)];
      want -= c.length;
      this.at += c.length;
      if (want === 0) this.#broken = false;
      yield c;
    }
  }

  // Whatever the upload left of the body is dropped (the archive reader skips it).
  close(): void {
    this.#stream?.destroy();
  }
}

// The blobs of every planned image that only the second pass can read, each with the first image needing it.
async function wanted(store: ArtifactStore, plan: PushPlan): Promise<Map<Digest, Want>> {
  const inOrder = store.sequentialBlobs();
  const out = new Map<Digest, Want>();
  if (inOrder.size === 0) return out;
  for (const img of plan.images)
    for (const c of img.children) {
      const source = parseReference(c.entry.refName);
      for (const d of await blobsOf(store, source))
        if (inOrder.has(d.digest as Digest) && !out.has(d.digest as Digest))
          out.set(d.digest as Digest, { target: c.target, name: formatReference(img.target), source });
    }
  return out;
}

// Config and layers of an image, or of every image an index lists.
async function blobsOf(store: ArtifactStore, ref: Reference): Promise<Descriptor[]> {
  const m = await store.getManifest(ref);
  const parsed = parseManifestJson(m.bytes, m.mediaType);
  if (parsed.kind === 'image') return referencedBlobs(parsed.manifest);
  const all: Descriptor[] = [];
  for (const child of parsed.manifest.manifests)
    all.push(...(await blobsOf(store, { registry: ref.registry, repository: ref.repository, digest: child.digest })));
  return all;
}

export type StreamPassOptions = StoreOptions & { readonly concurrency?: number; readonly onEvent?: BlobEventSink };

// The second pass: HEAD every in-order blob at the image that needs it first (all at once, `concurrency` in flight);
// when some are missing, read the archive again and send each as it streams by. What it could not send is kept in
// src.failed and fails the images that need it; an archive that cannot be read again, or an interruption, throws.
export async function streamMissingBlobs(
  store: ArtifactStore,
  src: StreamedSource,
  dst: ContentTarget,
  plan: PushPlan,
  opts: StreamPassOptions = {},
): Promise<{ sent: number; present: number }> {
  const so = opts.signal ? { signal: opts.signal } : {};
  const want = await wanted(store, plan);
  const entries = [...want.entries()];
  const heads = await mapLimit(entries, opts.concurrency ?? 8, ([digest, w]) => dst.headBlob(w.target, digest, so), {
    signal: opts.signal,
  });
  const missing = new Map<Digest, Want>();
  heads.forEach((r, i) => {
    const [digest, w] = entries[i] as [Digest, Want];
    if (r?.status !== 'fulfilled' || !r.value) missing.set(digest, w);
    else opts.onEvent?.(w.name, { kind: 'blob-present', digest, size: r.value.size });
  });
  if (missing.size === 0) return { sent: 0, present: want.size };
  let sent = 0;
  for await (const blob of store.inOrder((d) => missing.has(d), so)) {
    const w = missing.get(blob.desc.digest as Digest) as Want;
    missing.delete(blob.desc.digest as Digest);
    const cursor = new Cursor(blob);
    src.current = cursor;
    try {
      await copyBlobs(src, w.source, dst, w.target, [blob.desc], {
        ...so,
        concurrency: 1,
        onEvent: (e) => opts.onEvent?.(w.name, e),
      });
      sent++;
    } catch (err) {
      if (opts.signal?.aborted) throw abortReason(err, opts.signal);
      src.failed.set(blob.desc.digest as Digest, err);
    } finally {
      src.current = undefined;
      cursor.close();
    }
  }
  return { sent, present: want.size - sent - src.failed.size - missing.size };
}
