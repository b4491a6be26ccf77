import { isKkoError } from '../errors.js';
import type { ImageSource } from '../mirror/index.js';
import type { Descriptor } from '../oci/index.js';
import type { ManifestResponse } from '../registry/index.js';
import { sourcesExhausted } from '../util/sources.js';
import { mapLimitAll } from '../util/concurrency.js';
import { ensureBlob, putBytes, resolveImage, type FetchDeps, type ResolvedImage } from './fetch-image.js';
import type { PlannedImage } from './plan.js';
import type { PreflightContext } from './preflight.js';

// #12 item 2: manifests an export carries beside the layout that no images/index.json entry reaches: cosign
// signatures (--verify-images, verify-images.ts) and every referrer (--with-referrers, referrers.ts). One path for
// both: the manifest is found at a tag of the image's repository (first the source that served the image, then the
// others), its config and layers go through the export's blob cache (streamed, digest-verified), and its bytes too.

export type Tagged = { readonly source: ImageSource; readonly manifest: ManifestResponse };

// The manifest at `tag` from the first source that has it; undefined when every source answers "not found". Any
// other failure (5xx, refused, corrupt) is an operational error naming every source tried.
export async function fetchTagged(
  p: PlannedImage,
  first: ImageSource,
  tag: string,
  what: string,
  ctx: PreflightContext,
): Promise<Tagged | undefined> {
  const failures: Array<{ source: string; via: string; error: unknown }> = [];
  let notFound = 0;
  for (const source of [first, ...p.sources.filter((s) => s !== first)]) {
    try {
      const client = ctx.deps.pool.clientFor(source);
      return { source, manifest: await client.getManifest(source.ref.repository, tag, ctx.signal) };
    } catch (error) {
      ctx.signal?.throwIfAborted();
      if (isKkoError(error) && error.code === 'MANIFEST_UNKNOWN') notFound++;
      failures.push({ source: `${source.registry}/${source.ref.repository}:${tag}`, via: source.via, error });
    }
  }
  if (notFound === failures.length) return undefined;
  throw sourcesExhausted(`${what} ${tag} of ${p.ref}`, failures);
}

// A carried manifest's blobs (config and layers) into the cache from `source`; returns each one's cache path by digest.
export async function carryBlobs(
  source: ImageSource,
  blobs: readonly Descriptor[],
  ctx: PreflightContext,
): Promise<Map<string, string>> {
  const client = ctx.deps.pool.clientFor(source);
  const out = new Map<string, string>();
  for (const d of blobs)
    if (!out.has(d.digest))
      out.set(d.digest, await ensureBlob(client, source.ref.repository, d, ctx.deps, { fetched: 0 }));
  return out;
}

// The manifest's own bytes into the cache (the layout writer takes every carried blob from there).
export async function carryManifest(manifest: ManifestResponse, ctx: PreflightContext): Promise<void> {
  await putBytes(ctx.deps.cache, manifest.bytes);
}

// `f` over each image ref of the plan once, with every arch the plan exports of it (plan order),
// ctx.concurrency refs at a time; the results in that order, or the first failure (nothing new starts after it) thrown.
export async function perImageRef<R>(
  ctx: PreflightContext,
  f: (arches: readonly PlannedImage[]) => Promise<R>,
): Promise<R[]> {
  const byRef = new Map<string, PlannedImage[]>();
  for (const p of ctx.plan.images) {
    const group = byRef.get(p.ref) ?? [];
    group.push(p);
    byRef.set(p.ref, group);
  }
  return mapLimitAll([...byRef.values()], ctx.concurrency, f, { signal: ctx.signal });
}

// One resolution per image × arch for a whole export run, shared by the preflight steps (--verify-images,
// --with-referrers) and the fetch: each arch's manifest and config are read once, not once per step.
export type Resolutions = Map<PlannedImage, Promise<ResolvedImage>>;

// `p` resolved once per run: the first caller's deps resolve it (a failure too is kept, and given to every caller).
export function resolveOnce(resolutions: Resolutions, p: PlannedImage, deps: FetchDeps): Promise<ResolvedImage> {
  let r = resolutions.get(p);
  if (!r) {
    r = resolveImage(p, deps);
    r.catch(() => undefined); // a step may leave an arch that does not resolve to the export to report
    resolutions.set(p, r);
  }
  return r;
}

// Each arch of one image ref resolved as the export will (the run's one resolution); one that does not resolve is
// left to the export to report (the first error is thrown only when none does).
export async function resolveArches(arches: readonly PlannedImage[], ctx: PreflightContext): Promise<ResolvedImage[]> {
  const resolved: ResolvedImage[] = [];
  let first: unknown;
  for (const p of arches) {
    try {
      resolved.push(await resolveOnce(ctx.resolutions, p, ctx.deps));
    } catch (err) {
      ctx.signal?.throwIfAborted();
      first ??= err;
    }
  }
  if (resolved.length === 0) throw first;
  return resolved;
}
