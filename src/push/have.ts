import { createHash } from 'node:crypto';
import { HAVE_API_VERSION, HAVE_KIND, haveRepository, type HaveList } from '../artifact-format/index.js';
import type { ContentSource } from '../content/index.js';
import { parseManifestJson } from '../oci/index.js';
import { formatReference, parseDigest, type Reference } from '../reference/index.js';
import { byteOrder } from '../util/byte-order.js';
import { mapLimitAll } from '../util/concurrency.js';
import type { PushPlan } from './plan.js';

// #12 item 3: `kko artifact inventory --registry HOST -m MANIFEST`: the have-list of what a registry holds for the
// images of the manifest(s), under the names push gives them (the plan). Each per-arch name is read (HEAD, then GET
// the manifest) and each of its config and layer blobs HEADed in that repository; only blobs that answer are listed,
// per repository (`repositories`, keyed by the image's repository as the manifest names it), so a delta made from the
// list leaves out a blob only for images whose repository holds it (push of a delta HEADs each omitted blob in each
// repository that needs it first). A registry has no kko/inventory.json: the list names its
// base by the sha256 of its refs (name → digest, as JSON), which is what a delta exported from it records.
export type RegistryHave = { have: HaveList; absent: string[] }; // absent: per-arch names not in the registry

type Found = { name: string; source: string; digest?: string; blobs?: string[] };

// The blobs held, grouped by the image's repository (sorted by name, digests sorted: a deterministic file).
function perRepository(found: readonly Found[]): NonNullable<HaveList['repositories']> {
  const repos = new Map<string, { target: string; blobs: Set<string> }>();
  for (const f of found) {
    const name = haveRepository(f.source);
    const r = repos.get(name) ?? { target: haveRepository(f.name), blobs: new Set<string>() };
    for (const b of f.blobs ?? []) r.blobs.add(b);
    repos.set(name, r);
  }
  return [...repos]
    .sort(([a], [b]) => byteOrder(a, b))
    .map(([name, r]) => ({ name, target: r.target, blobs: [...r.blobs].sort(byteOrder) }));
}

export async function registryHave(
  target: ContentSource,
  plan: PushPlan,
  registry: string,
  opts: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<RegistryHave> {
  const so = opts.signal ? { signal: opts.signal } : {};
  const children = new Map(plan.images.flatMap((i) => i.children.map((c) => [c.target, i.source] as const)));
  const found: Found[] = await mapLimitAll(
    [...children.keys()],
    opts.concurrency ?? 8,
    async (ref: Reference) => {
      const name = formatReference(ref);
      const source = children.get(ref) as string;
      if (!(await target.headManifest(ref, so))) return { name, source };
      const m = await target.getManifest(ref, so);
      const parsed = parseManifestJson(m.bytes, m.mediaType);
      if (parsed.kind !== 'image') return { name, source, digest: m.digest as string, blobs: [] };
      const repo = { ...ref, tag: undefined, digest: undefined } as Reference;
      const blobs: string[] = [];
      for (const b of [parsed.manifest.config, ...parsed.manifest.layers])
        if (await target.headBlob(repo, parseDigest(b.digest), so)) blobs.push(b.digest);
      return { name, source, digest: m.digest as string, blobs };
    },
    { signal: opts.signal },
  );
  const refs = Object.fromEntries(
    found.flatMap((f) => (f.digest ? [[f.name, f.digest] as const] : [])).sort(([a], [b]) => byteOrder(a, b)),
  );
  return {
    have: {
      apiVersion: HAVE_API_VERSION,
      kind: HAVE_KIND,
      base: {
        artifact: `registry ${registry}`,
        inventorySha256: createHash('sha256').update(JSON.stringify(refs)).digest('hex'),
      },
      refs,
      blobs: [...new Set(found.flatMap((f) => f.blobs ?? []))].sort(byteOrder),
      repositories: perRepository(found),
      files: [],
    },
    absent: found.filter((f) => !f.digest).map((f) => f.name),
  };
}
