import type { BlobOpener, ContentTarget, ManifestContent, StoreOptions } from '../content/index.js';
import type { Descriptor } from '../oci/index.js';
import type { Digest, Reference } from '../reference/index.js';

// A target that remembers which repository of a registry already holds each blob (pushed or found there in this
// run) and mounts it from there instead of uploading it again (distribution-spec "Mounting a blob from another
// repository"); a registry that declines the mount gets the upload. One push shares one MountingTarget.
export class MountingTarget implements ContentTarget {
  readonly description: string;
  readonly #dst: ContentTarget;
  readonly #holders = new Map<string, Reference>(); // "registry digest" → a repository holding it
  readonly #inflight = new Map<string, Promise<void>>(); // uploads under way: a second image waits, then mounts
  mounted = 0;

  constructor(dst: ContentTarget) {
    this.#dst = dst;
    this.description = dst.description;
  }

  #key(ref: Reference, digest: string): string {
    return `${ref.registry} ${digest}`;
  }

  async headBlob(ref: Reference, digest: Digest, opts?: StoreOptions): Promise<Descriptor | undefined> {
    const have = await this.#dst.headBlob(ref, digest, opts);
    if (have) this.#holders.set(this.#key(ref, digest), ref);
    return have;
  }

  headManifest(ref: Reference, opts?: StoreOptions): Promise<Descriptor | undefined> {
    return this.#dst.headManifest(ref, opts);
  }

  async putBlob(ref: Reference, desc: Descriptor, body: BlobOpener, opts?: StoreOptions): Promise<void> {
    const key = this.#key(ref, desc.digest);
    await this.#inflight.get(key)?.catch(() => undefined);
    const from = this.#holders.get(key);
    // Another arch of the same image just sent it into this very repository (its arches go up side by side).
    if (from && from.repository === ref.repository) return;
    if (from && this.#dst.mountBlob && (await this.#dst.mountBlob(ref, desc.digest, from, opts))) {
      this.mounted++;
      return;
    }
    const upload = this.#dst.putBlob(ref, desc, body, opts);
    this.#inflight.set(key, upload);
    try {
      await upload;
      this.#holders.set(key, ref);
    } finally {
      if (this.#inflight.get(key) === upload) this.#inflight.delete(key);
    }
  }

  putManifest(ref: Reference, manifest: ManifestContent, opts?: StoreOptions): Promise<Digest> {
    return this.#dst.putManifest(ref, manifest, opts);
  }
}
