import { parseImageSignatures, parseReferrers, type ReferrerRow } from '../artifact-format/index.js';
import type { ArtifactStore } from '../artifact-store/index.js';
import type { ContentStore, ContentTarget } from '../content/index.js';
import { copyImage } from '../copy/index.js';
import { INVENTORY_NAME } from '../artifact-format/index.js';
import { isKkoError } from '../errors.js';
import { MediaType, parseManifestJson, type Descriptor } from '../oci/index.js';
import {
  formatReference,
  parseDigest,
  parseReference,
  sha256Digest,
  type Digest,
  type Reference,
} from '../reference/index.js';
import { byteOrder } from '../util/byte-order.js';
import type { PushPlan } from './plan.js';

export type PushedSignature = { readonly name: string; readonly digest: Digest; readonly signed: string };

// #12 item 2: a manifest the artifact carries beside the layout (a cosign signature, a referrer), pushed beside the
// image it is for: under its tag when it has one (cosign's sha256-<hex>.sig / .att / .sbom), else by digest.
type Carried = { readonly ref: string; readonly manifest: string; readonly tag?: string; readonly subject: string };
type Pushed<T> = { readonly row: T; readonly repo: Reference; readonly out: PushedSignature };
type Opts = { signal?: AbortSignal };

// Each carried manifest with its config and layers (copyImage from the store) into the target repository of its
// image; a row whose image is not in the plan (no arch of it pushed) is skipped. Run after the images.
async function pushCarried<T extends Carried>(
  store: ArtifactStore,
  target: ContentTarget,
  plan: PushPlan,
  rows: readonly T[],
  opts: Opts,
): Promise<Array<Pushed<T>>> {
  const out: Array<Pushed<T>> = [];
  for (const row of rows) {
    const image = plan.images.find((i) => i.source === row.ref);
    if (!image) continue;
    const src = { ...parseReference(row.ref), tag: undefined, digest: parseDigest(row.manifest) };
    const repo = { registry: image.target.registry, repository: image.target.repository };
    const dst = row.tag ? { ...repo, tag: row.tag } : { ...repo, digest: src.digest };
    const r = await copyImage(store, src, target, dst, opts.signal ? { signal: opts.signal } : {});
    out.push({ row, repo, out: { name: formatReference(dst), digest: r.digest, signed: row.subject } });
  }
  return out;
}

const inventoryOf = (store: ArtifactStore): Buffer | undefined => store.archive.docs.get(INVENTORY_NAME);

// The cosign signature manifests (inventory imageSignatures) under `<name>:sha256-<signed digest>.sig`, so cosign and
// skopeo find them in the target as they do upstream.
export async function pushSignatures(
  store: ArtifactStore,
  target: ContentTarget,
  plan: PushPlan,
  opts: Opts = {},
): Promise<PushedSignature[]> {
  const inv = inventoryOf(store);
  const rows = (inv ? parseImageSignatures(inv) : []).flatMap((r) =>
    r.manifest ? [{ ref: r.ref, manifest: r.manifest.digest, tag: r.tag, subject: r.digest }] : [],
  );
  return (await pushCarried(store, target, plan, rows, opts)).map((p) => p.out);
}

// The referrers (inventory referrers, --with-referrers): cosign-tagged ones under their tag; the others by digest, and
// listed in the referrers tag schema index (tag sha256-<hex> of the subject) of the target repository, merged with what
// is there. kko writes that index for every registry: one with the referrers API answers from the subject field
// anyway, and one without it (CNCF distribution 2.8) is read through the index (distribution-spec "Pushing Manifests
// with Subject": a client that gets no OCI-Subject header maintains the tag itself).
export async function pushReferrers(
  store: ArtifactStore,
  target: ContentStore,
  plan: PushPlan,
  opts: Opts = {},
): Promise<PushedSignature[]> {
  const inv = inventoryOf(store);
  const rows = (inv ? parseReferrers(inv) : []).map((r) => ({ ...r, manifest: r.digest }));
  const pushed = await pushCarried(store, target, plan, rows, opts);
  const groups = new Map<string, { repo: Reference; subject: string; rows: ReferrerRow[] }>();
  for (const p of pushed) {
    if (p.row.tag) continue;
    const key = `${formatReference(p.repo)}@${p.row.subject}`;
    const g = groups.get(key) ?? { repo: p.repo, subject: p.row.subject, rows: [] };
    g.rows.push(p.row);
    groups.set(key, g);
  }
  const out = pushed.map((p) => p.out);
  for (const key of [...groups.keys()].sort(byteOrder)) {
    const g = groups.get(key) as { repo: Reference; subject: string; rows: ReferrerRow[] };
    out.push(await putReferrersIndex(target, g.repo, g.subject, g.rows, opts));
  }
  return out;
}

// The descriptor a referrers index lists for a referrer (distribution-spec: artifactType, else the config media
// type; the manifest's annotations).
function referrerDescriptor(r: ReferrerRow): Descriptor {
  return {
    mediaType: r.mediaType,
    digest: parseDigest(r.digest),
    size: r.size,
    ...(r.artifactType ? { artifactType: r.artifactType } : {}),
    ...(r.annotations ? { annotations: r.annotations } : {}),
  };
}

// The entries of the index at the tag now (none when the tag is absent); one that is not an index is replaced.
async function currentEntries(
  target: ContentStore,
  ref: Reference,
  opts: Opts,
): Promise<{ entries: Descriptor[]; digest?: Digest }> {
  try {
    const m = await target.getManifest(ref, opts.signal ? { signal: opts.signal } : {});
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    return parsed.kind === 'index' ? { entries: [...parsed.manifest.manifests], digest: m.digest } : { entries: [] };
  } catch (err) {
    if (isKkoError(err) && err.code === 'MANIFEST_UNKNOWN') return { entries: [] };
    throw err;
  }
}

// Merge the rows into the tag schema index of `subject` in `repo`: entries there are kept in their order, new ones
// appended in digest order (the same artifact gives the same index in an empty registry; a re-push changes nothing).
async function putReferrersIndex(
  target: ContentStore,
  repo: Reference,
  subject: string,
  rows: readonly ReferrerRow[],
  opts: Opts,
): Promise<PushedSignature> {
  const ref = { ...repo, tag: subject.replace(':', '-') };
  const { entries, digest: now } = await currentEntries(target, ref, opts);
  const fresh = rows
    .filter((r) => !entries.some((e) => e.digest === r.digest))
    .sort((a, b) => byteOrder(a.digest, b.digest))
    .map(referrerDescriptor);
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [...entries, ...fresh] }),
  );
  if (fresh.length === 0 && now) return { name: formatReference(ref), digest: now, signed: subject };
  const digest = sha256Digest(bytes);
  await target.putManifest(
    ref,
    { bytes, mediaType: MediaType.OCI_INDEX, digest },
    opts.signal ? { signal: opts.signal } : {},
  );
  return { name: formatReference(ref), digest, signed: subject };
}
