import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { BlobReadOptions, ContentSource, ManifestContent, StoreOptions } from '../content/index.js';
import type { Descriptor } from '../oci/index.js';
import type { Digest, Reference } from '../reference/index.js';
import type { BlobCache } from './blob-cache.js';

// A source read through the blob cache, so that several copies of one image (sync's targets) fetch each blob from
// the upstream once: a blob is brought into the cache (BlobCache.ensure: one shared download per digest, resumed,
// hashed, renamed into place) and every reader streams the cache file. Manifests read by digest are kept in memory
// (they are small and bounded by the client's manifest limit); tags go upstream each time.
// Why not fan one upstream stream out to every target: the slowest target would throttle the others, and a target's
// re-upload after a transient failure would need the source again. Disk keeps memory bounded and retries local.
export class CachedSource implements ContentSource {
  readonly description: string;
  readonly #upstream: ContentSource;
  readonly #cache: BlobCache;
  readonly #manifests = new Map<string, Promise<ManifestContent>>();

  constructor(upstream: ContentSource, cache: BlobCache) {
    this.#upstream = upstream;
    this.#cache = cache;
    this.description = upstream.description;
  }

  // A manifest the caller already read (and checked) from the upstream, served from memory by digest from now on.
  remember(ref: Reference, m: ManifestContent): void {
    this.#manifests.set(manifestKey(ref, m.digest), Promise.resolve(m));
  }

  headManifest(ref: Reference, opts?: StoreOptions): Promise<Descriptor | undefined> {
    return this.#upstream.headManifest(ref, opts);
  }

  getManifest(ref: Reference, opts?: StoreOptions): Promise<ManifestContent> {
    if (ref.digest === undefined) return this.#upstream.getManifest(ref, opts);
    const key = manifestKey(ref, ref.digest);
    let p = this.#manifests.get(key);
    if (!p) {
      p = this.#upstream.getManifest(ref, opts);
      p.catch(() => this.#manifests.delete(key));
      this.#manifests.set(key, p);
    }
    return p;
  }

  headBlob(ref: Reference, digest: Digest, opts?: StoreOptions): Promise<Descriptor | undefined> {
    return this.#upstream.headBlob(ref, digest, opts);
  }

  // The cache hashes every upstream byte before it keeps them, so the upstream read is not hashed twice.
  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const signal = opts.signal;
    const fetch = (offset: number): Promise<Readable> =>
      this.#upstream.getBlob(ref, desc, { offset, verify: false, ...(signal ? { signal } : {}) });
    const { path } = await this.#cache.ensure({ digest: desc.digest, size: desc.size }, fetch, {
      signal,
      what: `blob ${desc.digest} from ${this.description}`,
    });
    const start = opts.offset ?? 0;
    const end = opts.length !== undefined ? start + opts.length - 1 : undefined;
    return createReadStream(path, { start, ...(end !== undefined ? { end } : {}), ...(signal ? { signal } : {}) });
  }

  listTags(ref: Reference, opts?: StoreOptions): Promise<string[]> {
    return this.#upstream.listTags(ref, opts);
  }
}

function manifestKey(ref: Reference, digest: string): string {
  return JSON.stringify([ref.registry, ref.repository, digest]);
}
