import { parseImageSignatures, parseReferrers, type ReferrerRow } from '../artifact-format/index.js';
import type { ImageStore } from '../artifact-store/index.js';
import type { ContentSource, ContentStore, ContentTarget, CopyEvent } from '../content/index.js';
import { copyImage } from '../copy/index.js';
import { isKkoError } from '../errors.js';
import { MediaType, parseManifestJson, type Descriptor } from '../oci/index.js';
import {
  formatReference,
  parseDigest,
  parseReference,
  referrersTag,
  sha256Digest,
  type Digest,
  type Reference,
} from '../reference/index.js';
import { byteOrder } from '../util/byte-order.js';
import { safeText } from '../util/safe-text.js';
import type { PushPlan } from './plan.js';

// #12 item 2: the manifests an artifact carries beside the layout, pushed beside the image they are for:
//  - signature: a cosign signature manifest (inventory imageSignatures, export --verify-images), under its tag
//    `<name>:sha256-<signed hex>.sig`, so cosign and skopeo find it in the target as they do upstream;
//  - referrer: a referrer (inventory referrers, export --with-referrers): cosign-tagged ones (.sig / .att / .sbom)
//    under their tag, the others by digest;
//  - referrers-index: the referrers tag schema index (`<name>:sha256-<subject hex>`) listing the by-digest ones.
export type CarriedKind = 'signature' | 'referrer' | 'referrers-index';

// What a push did with one: put it, found it already there (the re-push shortcut: the tag, or the digest, resolves
// to exactly it), or left it (a referrers-index tag that holds something other than an index: `warning` says what).
export type CarriedResult = {
  readonly kind: CarriedKind;
  readonly image: string; // the name nodes pull (the image's index name in the target)
  readonly name: string; // where it is in the target
  readonly digest: Digest;
  readonly subject: string; // the digest it is for (signed, or the referrers' subject)
  readonly how: 'pushed' | 'present' | 'skipped';
  readonly kept?: number; // referrers-index: entries already there, kept
  // The target does not hold `subject` in the image's repository after the push (the index push synthesized, a
  // Docker manifest converted to OCI at export): it is there, but points at nothing (`warning` says how to fix).
  readonly dangling?: true;
  readonly warning?: string;
};

// One carried manifest of an image of the plan, where it goes in the target.
type Carried = {
  readonly kind: 'signature' | 'referrer';
  readonly image: string;
  readonly src: Reference; // in the artifact, by digest
  readonly dst: Reference; // in the target: by tag, else by digest
  readonly repo: Reference;
  readonly subject: string;
  readonly row?: ReferrerRow; // a referrer by digest: listed in the tag schema index
};

export type CarriedOptions = {
  readonly signal?: AbortSignal;
  // Default true: one whose tag (or digest) already resolves to exactly it is not copied again. false (--recheck):
  // HEAD its blobs and put it again, and put the referrers index again, as push does for images.
  readonly skipTagged?: boolean;
};

const so = (opts: CarriedOptions): { signal?: AbortSignal } => (opts.signal ? { signal: opts.signal } : {});

// Every carried manifest of an image the plan pushes (a row whose image is not in the plan is left out), signatures
// first, in inventory order. A referrer that is also a carried signature (the same manifest) is listed once.
export function carriedManifests(store: ImageStore, plan: PushPlan): Carried[] {
  const inv = store.inventory();
  if (!inv) return [];
  const signatures = parseImageSignatures(inv).flatMap((r) =>
    r.manifest
      ? [{ kind: 'signature' as const, ref: r.ref, manifest: r.manifest.digest, tag: r.tag, subject: r.digest }]
      : [],
  );
  const seen = new Set(signatures.map((s) => `${s.ref}@${s.manifest}`));
  const referrers = parseReferrers(inv)
    .filter((r) => !seen.has(`${r.ref}@${r.digest}`))
    .map((r) => ({
      kind: 'referrer' as const,
      ref: r.ref,
      manifest: r.digest,
      tag: r.tag,
      subject: r.subject,
      row: r,
    }));
  return [...signatures, ...referrers].flatMap((c) => {
    const image = plan.images.find((i) => i.source === c.ref);
    if (!image) return [];
    const src = { ...parseReference(c.ref), tag: undefined, digest: parseDigest(c.manifest) };
    const repo = { registry: image.target.registry, repository: image.target.repository };
    return [
      {
        kind: c.kind,
        image: formatReference(image.target),
        src,
        dst: c.tag ? { ...repo, tag: c.tag } : { ...repo, digest: src.digest },
        repo,
        subject: c.subject,
        ...(c.kind === 'referrer' && !c.tag ? { row: c.row } : {}),
      },
    ];
  });
}

// One carried manifest with its config and layers (copyImage from the store). With the shortcut, a tag that resolves
// to it (copyImage skipTagged) or, for one pushed by digest, the digest being there, is enough.
async function pushOne(
  store: ImageStore,
  target: ContentTarget,
  c: Carried,
  opts: CarriedOptions,
): Promise<CarriedResult> {
  const result = (digest: Digest, how: 'pushed' | 'present'): CarriedResult => ({
    kind: c.kind,
    image: c.image,
    name: formatReference(c.dst),
    digest,
    subject: c.subject,
    how,
  });
  const skip = opts.skipTagged ?? true;
  if (skip && c.dst.digest !== undefined) {
    const have = await target.headManifest(c.dst, so(opts)).catch((err: unknown) => {
      opts.signal?.throwIfAborted();
      if (isKkoError(err) && err.code === 'INTERRUPTED') throw err;
      return undefined;
    });
    if (have && have.digest === c.dst.digest) return result(have.digest as Digest, 'present');
  }
  let present = false;
  const onEvent = (e: CopyEvent): void => void (e.kind === 'manifest-present' && (present = true));
  const r = await copyImage(store, c.src, target, c.dst, { ...so(opts), skipTagged: skip, onEvent });
  return result(r.digest, present ? 'present' : 'pushed');
}

// Push every carried manifest of the plan's images (run after the images), then the referrers tag schema index of
// each subject whose referrers went by digest, merged with what is there. kko writes that index for every registry:
// one with the referrers API answers from the subject field anyway, and one without it (CNCF distribution 2.8) is read
// through the index (distribution-spec "Pushing Manifests with Subject": a client that gets no OCI-Subject header
// maintains the tag itself).
export async function pushCarried(
  store: ImageStore,
  target: ContentStore,
  plan: PushPlan,
  opts: CarriedOptions = {},
): Promise<CarriedResult[]> {
  const out: CarriedResult[] = [];
  const groups = new Map<string, { image: string; repo: Reference; subject: string; rows: ReferrerRow[] }>();
  const held = subjectsHeld(target, opts);
  for (const c of carriedManifests(store, plan)) {
    out.push(await held(c.repo, await pushOne(store, target, c, opts)));
    if (!c.row) continue;
    const key = `${formatReference(c.repo)}@${c.subject}`;
    const g = groups.get(key) ?? { image: c.image, repo: c.repo, subject: c.subject, rows: [] };
    g.rows.push(c.row);
    groups.set(key, g);
  }
  for (const key of [...groups.keys()].sort(byteOrder)) {
    const g = groups.get(key) as { image: string; repo: Reference; subject: string; rows: ReferrerRow[] };
    out.push(await held(g.repo, await putReferrersIndex(target, g, opts)));
  }
  return out;
}

// A result marked dangling (with a warning) when the target does not hold its subject in `repo` (HEAD by digest, once
// per repository and subject). The upstream digests are kept only by push --preserve-digests: without it push writes
// an index of its own, and a Docker-typed per-arch manifest is in the artifact (and so in the target) as OCI.
function subjectsHeld(
  target: ContentStore,
  opts: CarriedOptions,
): (repo: Reference, r: CarriedResult) => Promise<CarriedResult> {
  const seen = new Map<string, Promise<boolean>>();
  return async (repo, r) => {
    if (r.warning) return r;
    const key = `${formatReference(repo)}@${r.subject}`;
    let got = seen.get(key);
    if (!got) {
      got = target.headManifest({ ...repo, digest: parseDigest(r.subject) }, so(opts)).then(
        (d) => d?.digest === r.subject,
        (err: unknown) => {
          if (isKkoError(err) && err.code === 'MANIFEST_UNKNOWN') return false;
          throw err;
        },
      );
      seen.set(key, got);
    }
    if (await got) return r;
    return {
      ...r,
      dangling: true,
      warning: `${r.name} (${r.kind}) is for ${r.subject}, which ${formatReference(repo)} does not hold: the push made other manifests for ${r.image} (an index of its own, or OCI ones for a Docker-typed image), so cosign and referrers clients do not find it from the image; push with --preserve-digests to keep the upstream digests it is for`,
    };
  };
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

// The referrers tag schema tag of `subject` in `repo`.
export const referrersIndexRef = (repo: Reference, subject: string): Reference => ({
  ...repo,
  tag: referrersTag(subject),
});

// What the tag holds now: nothing; an index (its entries); or something else (what, for the warning).
export async function referrersIndexAt(
  target: ContentSource,
  ref: Reference,
  opts: CarriedOptions,
): Promise<{ entries: Descriptor[]; digest?: Digest; other?: string }> {
  let m;
  try {
    m = await target.getManifest(ref, so(opts));
  } catch (err) {
    if (isKkoError(err) && err.code === 'MANIFEST_UNKNOWN') return { entries: [] };
    throw err;
  }
  try {
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    if (parsed.kind === 'index') return { entries: [...parsed.manifest.manifests], digest: m.digest };
    return { entries: [], digest: m.digest, other: `an image manifest (${safeText(parsed.mediaType)}) ${m.digest}` };
  } catch (err) {
    if (!isKkoError(err) || err.code !== 'INVALID_IMAGE_MANIFEST') throw err;
    return { entries: [], digest: m.digest, other: `a document that is not an OCI manifest (${m.digest})` };
  }
}

// Merge the rows into the tag schema index of the subject: entries there are kept in their order, new ones appended in
// digest order (the same artifact gives the same index in an empty registry; a re-push changes nothing). A tag that
// holds something other than an index is not overwritten (it is not kko's to replace): skipped with a warning.
async function putReferrersIndex(
  target: ContentStore,
  g: { image: string; repo: Reference; subject: string; rows: readonly ReferrerRow[] },
  opts: CarriedOptions,
): Promise<CarriedResult> {
  const ref = referrersIndexRef(g.repo, g.subject);
  const name = formatReference(ref);
  const { entries, digest: now, other } = await referrersIndexAt(target, ref, opts);
  const base = { kind: 'referrers-index' as const, image: g.image, name, subject: g.subject };
  if (other)
    return {
      ...base,
      digest: now as Digest,
      how: 'skipped',
      warning: `${name} holds ${other}, not a referrers index: left as it is; the ${g.rows.length} referrer(s) pushed by digest are not listed there (registries without the referrers API will not find them)`,
    };
  const fresh = g.rows
    .filter((r) => !entries.some((e) => e.digest === r.digest))
    .sort((a, b) => byteOrder(a.digest, b.digest))
    .map(referrerDescriptor);
  const kept = entries.length > 0 ? { kept: entries.length } : {};
  if (fresh.length === 0 && now && (opts.skipTagged ?? true)) return { ...base, digest: now, how: 'present', ...kept };
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [...entries, ...fresh] }),
  );
  const digest = sha256Digest(bytes);
  await target.putManifest(ref, { bytes, mediaType: MediaType.OCI_INDEX, digest }, so(opts));
  return { ...base, digest, how: 'pushed', ...kept };
}

// The counts of a list of results by kind and outcome (the push's done event, the check's totals).
export function carriedTotals<T extends { kind: CarriedKind }>(
  results: readonly T[],
  outcome: (r: T) => string,
): Record<string, Record<string, number>> {
  const totals: Record<string, Record<string, number>> = {};
  for (const r of results) {
    const k = (totals[r.kind] ??= {});
    const o = outcome(r);
    k[o] = (k[o] ?? 0) + 1;
  }
  return totals;
}
