import { parseImageSignatures } from '../artifact-format/index.js';
import type { ArtifactStore } from '../artifact-store/index.js';
import type { ContentTarget } from '../content/index.js';
import { copyImage } from '../copy/index.js';
import { INVENTORY_NAME } from '../artifact-format/index.js';
import { formatReference, parseReference, type Digest } from '../reference/index.js';
import type { PushPlan } from './plan.js';

export type PushedSignature = { readonly name: string; readonly digest: Digest; readonly signed: string };

// #12 item 2: the cosign signature manifests the artifact carries (inventory imageSignatures), each pushed with its
// config and payload layers under `<name>:sha256-<signed digest>.sig` beside the image it signs, so cosign and skopeo
// find them in the target as they do upstream. Run after the images (the tags of the signed content come first).
export async function pushSignatures(
  store: ArtifactStore,
  target: ContentTarget,
  plan: PushPlan,
  opts: { signal?: AbortSignal } = {},
): Promise<PushedSignature[]> {
  const inv = store.archive.docs.get(INVENTORY_NAME);
  const rows = inv ? parseImageSignatures(inv) : [];
  const out: PushedSignature[] = [];
  for (const row of rows) {
    if (!row.manifest) continue; // let through unsigned
    const image = plan.images.find((i) => i.source === row.ref);
    if (!image) continue; // not pushed (no arch of it in the plan)
    const src = { ...parseReference(row.ref), tag: undefined, digest: row.manifest.digest };
    const dst = { registry: image.target.registry, repository: image.target.repository, tag: row.tag };
    const r = await copyImage(store, src, target, dst, opts.signal ? { signal: opts.signal } : {});
    out.push({ name: formatReference(dst), digest: r.digest, signed: row.digest });
  }
  return out;
}
