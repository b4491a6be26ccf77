import type { Readable } from 'node:stream';
import { assertDeltaBase, BaseMissingError, missingCount } from '../artifact-format/index.js';
import type { BlobReadOptions, ManifestContent } from '../content/store.js';
import type { Descriptor } from '../oci/index.js';
import { parseDigest, type Digest, type Reference } from '../reference/index.js';
import { repoKey } from './names.js';
import type { ImageStore } from './open.js';
import type { ArtifactStore } from './store.js';

// #12 item 3: a delta artifact read together with its base, as one image store (push -a DELTA --base, serve DELTA
// --base): names, manifests and the blobs the delta holds come from the delta; a blob it leaves out (delta.omitted)
// comes from the base's layout, for a repository the delta serves.
export class DeltaSource implements ImageStore {
  readonly description: string;
  readonly kkVersion: string | undefined;
  readonly #delta: ArtifactStore;
  readonly #base: ArtifactStore;
  readonly #omitted: ReadonlySet<string>;
  readonly #repos: ReadonlySet<string>;
  constructor(delta: ArtifactStore, base: ArtifactStore) {
    this.#delta = delta;
    this.#base = base;
    this.#omitted = new Set(delta.delta?.omitted.blobs.map((b) => b.digest));
    this.#repos = new Set(delta.repositories());
    this.description = `${delta.description} with its base ${base.description}`;
    this.kkVersion = delta.kkVersion;
  }
  entries(): Descriptor[] {
    return this.#delta.entries();
  }
  repositories(): string[] {
    return this.#delta.repositories();
  }
  upstreamIndex(ref: Reference): Digest | undefined {
    return this.#delta.upstreamIndex(ref);
  }
  inventory(): Buffer | undefined {
    return this.#delta.inventory();
  }
  async close(): Promise<void> {
    await Promise.all([this.#delta.close(), this.#base.close()]);
  }
  headManifest(ref: Reference): Promise<Descriptor | undefined> {
    return this.#delta.headManifest(ref);
  }
  getManifest(ref: Reference): Promise<ManifestContent> {
    return this.#delta.getManifest(ref);
  }
  async headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    return (
      (await this.#delta.headBlob(ref, digest)) ??
      (this.#fromBase(ref, digest) ? this.#base.layoutBlob(digest) : undefined)
    );
  }
  async getBlob(ref: Reference, desc: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
    const digest = parseDigest(desc.digest);
    if (!(await this.#delta.headBlob(ref, digest)) && this.#fromBase(ref, digest))
      return this.#base.getLayoutBlob(desc, opts);
    return this.#delta.getBlob(ref, desc, opts);
  }
  listTags(ref: Reference): Promise<string[]> {
    return this.#delta.listTags(ref);
  }
  #fromBase(ref: Reference, digest: Digest): boolean {
    return this.#omitted.has(digest) && this.#repos.has(repoKey(ref.registry, ref.repository));
  }
}

// With --base: it must be the delta's base (by the sha256 of its inventory) and hold every blob the delta leaves out.
// `what`: what would not happen (e.g. "nothing was pushed").
export function assertBaseOf(delta: ArtifactStore, base: ArtifactStore, what = 'nothing was pushed'): void {
  const d = delta.delta;
  if (!d) return;
  assertDeltaBase(d, base.inventorySha256, base.description);
  const missing = d.omitted.blobs
    .filter((b) => base.layoutBlob(parseDigest(b.digest))?.size !== b.size)
    .map((b) => `${b.digest} (${b.size} bytes): not in ${base.description}`);
  if (missing.length > 0)
    throw new BaseMissingError(
      `--base lacks ${missingCount(missing.length, d.omitted.blobs.length)}; ${what}`,
      missing,
      'pass the artifact the delta was exported against',
    );
}
