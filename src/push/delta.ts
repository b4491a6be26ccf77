import { BaseMissingError } from '../artifact-format/index.js';
import type { ArtifactStore } from '../artifact-store/index.js';
import type { ContentTarget } from '../content/index.js';
import { parseManifestJson } from '../oci/index.js';
import { parseDigest, parseReference, type Digest, type Reference } from '../reference/index.js';
import { mapLimitAll } from '../util/concurrency.js';
import type { PushPlan } from './plan.js';

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
  const checked = await mapLimitAll(
    [...needs],
    opts.concurrency ?? 8,
    async ([key, n]) => ((await target.headBlob(n.ref, n.digest, so)) ? undefined : key),
    { signal: opts.signal },
  );
  const missing = checked.filter((k): k is string => k !== undefined).sort();
  if (missing.length > 0)
    throw new BaseMissingError(
      `pushing a delta of ${d.base.artifact ?? d.base.inventorySha256} to ${target.description}: ${missing.length} of the ${needs.size} blob(s) it leaves out are not in the registry where its images need them; nothing was pushed`,
      missing.map((k) => `${k}: not in the registry`),
      `push the base first (kko artifact images push -a ${d.base.artifact ?? 'OLD_ART'}), or pass --base OLD_ART to take them from it`,
    );
}
