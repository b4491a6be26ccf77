import type { Readable } from 'node:stream';
import { BaseMissingError, missingCount } from '../artifact-format/index.js';
import type { ArtifactStore } from '../artifact-store/index.js';
import type { BlobReadOptions, ContentSource, ContentTarget, ManifestContent } from '../content/index.js';
import { KkoError } from '../errors.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import { parseDigest, parseReference, type Digest, type Reference } from '../reference/index.js';
import { mapLimit } from '../util/concurrency.js';
import type { PushPlan } from './plan.js';

// #12 item 3: a delta artifact read together with its base: manifests and the blobs the delta holds come from the
// delta, the blobs it leaves out from the base's layout (whatever repository asks: one layout serves them all).
export class DeltaSource implements ContentSource {
  readonly description: string;
  readonly #delta: ArtifactStore;
  readonly #base: ArtifactStore;
  constructor(delta: ArtifactStore, base: ArtifactStore) {
    this.#delta = delta;
    this.#base = base;
    this.description = `${delta.description} with its base ${base.description}`;
  }
  headManifest(ref: Reference): Promise<Descriptor | undefined> {
    return this.#delta.headManifest(ref);
  }
  getManifest(ref: Reference): Promise<ManifestContent> {
    return this.#delta.getManifest(ref);
  }
  async headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    return (await this.#delta.headBlob(ref, digest)) ?? this.#base.layoutBlob(digest);
  }
  async getBlob(ref: Reference, desc: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
    return (await this.#delta.headBlob(ref, parseDigest(desc.digest)))
      ? this.#delta.getBlob(ref, desc, opts)
      : this.#base.getLayoutBlob(desc, opts);
  }
  listTags(ref: Reference): Promise<string[]> {
    return this.#delta.listTags(ref);
  }
}

// With --base: it must be the delta's base (by the sha256 of its inventory) and hold every blob the delta leaves out.
export function assertBaseOf(delta: ArtifactStore, base: ArtifactStore): void {
  const d = delta.delta;
  if (!d) return;
  if (base.inventorySha256 !== d.base.inventorySha256)
    throw new KkoError(
      'INVALID_INPUT',
      `--base: ${base.description} is not the delta's base (its kko/inventory.json has sha256 ${base.inventorySha256 ?? 'none'}, the delta names ${d.base.inventorySha256}${d.base.artifact ? `, ${d.base.artifact}` : ''})`,
      { hint: 'pass the artifact the delta was exported against (export --base / --have)' },
    );
  const missing = d.omitted.blobs
    .filter((b) => base.layoutBlob(parseDigest(b.digest))?.size !== b.size)
    .map((b) => `${b.digest} (${b.size} bytes): not in ${base.description}`);
  if (missing.length > 0)
    throw new BaseMissingError(
      `--base lacks ${missingCount(missing.length, d.omitted.blobs.length)}; nothing was pushed`,
      missing,
      'pass the artifact the delta was exported against',
    );
}

// Without --base: every blob the delta leaves out must already be in the target, in each repository an image of the
// plan needs it (HEAD), before anything is pushed. Lists every repository@digest that is not.
export async function assertBaseInTarget(
  delta: ArtifactStore,
  target: ContentTarget,
  plan: PushPlan,
  opts: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const d = delta.delta;
  if (!d) return;
  const omitted = new Map(d.omitted.blobs.map((b) => [b.digest, b.size]));
  const needs = new Map<string, { ref: Reference; digest: Digest }>(); // "repo@digest" → what to HEAD
  for (const img of plan.images)
    for (const c of img.children) {
      const m = await delta.getManifest(parseReference(c.entry.refName));
      const parsed = parseManifestJson(m.bytes, m.mediaType);
      if (parsed.kind !== 'image') continue;
      for (const b of [parsed.manifest.config, ...parsed.manifest.layers])
        if (omitted.has(b.digest)) {
          const ref = { ...c.target, tag: undefined, digest: undefined } as Reference;
          needs.set(`${ref.registry}/${ref.repository}@${b.digest}`, { ref, digest: parseDigest(b.digest) });
        }
    }
  const so = opts.signal ? { signal: opts.signal } : {};
  const checked = await mapLimit(
    [...needs],
    opts.concurrency ?? 8,
    async ([key, n]) => ((await target.headBlob(n.ref, n.digest, so)) ? undefined : key),
    { stopOnError: true, signal: opts.signal },
  );
  const failed = checked.find((r): r is PromiseRejectedResult => r?.status === 'rejected');
  if (failed) throw failed.reason;
  const missing = checked
    .map((r) => (r as PromiseFulfilledResult<string | undefined>).value)
    .filter((k): k is string => k !== undefined)
    .sort();
  if (missing.length > 0)
    throw new BaseMissingError(
      `pushing a delta of ${d.base.artifact ?? d.base.inventorySha256} to ${target.description}: ${missing.length} of the ${needs.size} blob(s) it leaves out are not in the registry where its images need them; nothing was pushed`,
      missing.map((k) => `${k}: not in the registry`),
      `push the base first (kko artifact images push -a ${d.base.artifact ?? 'OLD_ART'}), or pass --base OLD_ART to take them from it`,
    );
}
