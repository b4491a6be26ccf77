import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { BlobOpener, ContentTarget, ManifestContent, PutBlobOptions, StoreOptions } from '../content/index.js';
import { KkoError } from '../errors.js';
import type { Descriptor } from '../oci/index.js';
import { sha256Digest, type Digest, type Reference } from '../reference/index.js';
import type { BlobCache } from './blob-cache.js';

// The export cache as a copy target: content-addressed, so the Reference is ignored and nothing is tagged. A blob is
// present only when its bytes hash to its digest (hashed once per process); puts go through BlobCache.ensure
// (resumed, verified, renamed into place), so concurrent copies of one digest share a download.
export class CacheTarget implements ContentTarget {
  readonly description: string;
  readonly #cache: BlobCache;

  constructor(cache: BlobCache) {
    this.#cache = cache;
    this.description = `cache ${cache.root}`;
  }

  async headBlob(_ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    if (!(await this.#cache.hasVerified({ digest }))) return undefined;
    const size = await stat(this.#cache.blobPath(digest)).then(
      (s) => s.size,
      () => undefined,
    );
    return size === undefined ? undefined : { mediaType: 'application/octet-stream', digest, size };
  }

  headManifest(ref: Reference): Promise<Descriptor | undefined> {
    return ref.digest === undefined ? Promise.resolve(undefined) : this.headBlob(ref, ref.digest as Digest);
  }

  // Every chunk the cache appends, from every stream it opens (resumes and Range parts), goes to opts.onBytes.
  readonly countsBytes = true;

  async putBlob(_ref: Reference, desc: Descriptor, body: BlobOpener, opts: PutBlobOptions = {}): Promise<void> {
    await this.#cache.ensure({ digest: desc.digest, size: desc.size }, body, {
      signal: opts.signal,
      ranged: true,
      ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
    });
  }

  // Kept by digest only (a cache has no tags).
  async putManifest(ref: Reference, manifest: ManifestContent, opts: StoreOptions = {}): Promise<Digest> {
    const digest = sha256Digest(manifest.bytes);
    if (digest !== manifest.digest || (ref.digest !== undefined && ref.digest !== digest)) {
      throw new KkoError(
        'DIGEST_MISMATCH',
        `putting a manifest into ${this.description}: the bytes hash to ${digest}, expected ${ref.digest ?? manifest.digest}`,
      );
    }
    await this.putBlob(
      ref,
      { mediaType: manifest.mediaType, digest, size: manifest.bytes.length },
      async () => Readable.from([manifest.bytes]),
      opts,
    );
    return digest;
  }
}
