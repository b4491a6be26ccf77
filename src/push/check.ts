import type { ImageStore } from '../artifact-store/index.js';
import type { ContentSource } from '../content/index.js';
import {
  formatPlatform,
  parseConfigPlatform,
  parseManifestJson,
  platformMatches,
  type Platform,
} from '../oci/index.js';
import { formatReference, parseDigest, parseReference, type Reference } from '../reference/index.js';
import { mapLimitAll } from '../util/concurrency.js';
import type { PlannedImage, PushPlan } from './plan.js';
import {
  carriedManifests,
  carriedTotals,
  referrersIndexAt,
  referrersIndexRef,
  type CarriedKind,
} from './signatures.js';

// ok: every platform there (with the artifact's digests, when it gave them); missing: no such name; incomplete:
// the name lacks platforms; different: a platform holds other content than the artifact's.
export type CheckStatus = 'ok' | 'missing' | 'incomplete' | 'different';

export type CheckedImage = {
  readonly name: string; // what nodes pull
  readonly source: string;
  readonly status: CheckStatus;
  readonly platforms: readonly string[]; // what the registry has under the name
  readonly missing: readonly string[]; // wanted platforms it lacks (or holds with other content)
  readonly digest?: string; // of the manifest under the name
  // The signatures and referrers the artifact carries for it (CheckOptions.store; [] without one).
  readonly carried: readonly CarriedCheck[];
};

// present: the tag (or, for one pushed by digest, the digest) resolves to it; different: its tag holds another
// manifest; missing: not there; unlisted: there by digest, but the referrers tag schema index does not list it.
export type CarriedStatus = 'present' | 'missing' | 'different' | 'unlisted';
export type CarriedCheck = {
  readonly kind: Exclude<CarriedKind, 'referrers-index'>;
  readonly name: string;
  readonly digest: string;
  readonly subject: string;
  readonly status: CarriedStatus;
};

// ok: every image ok and every carried manifest present; carried: the counts by kind and status.
export type CheckReport = {
  readonly ok: boolean;
  readonly images: readonly CheckedImage[];
  readonly carried: Record<string, Record<string, number>>;
};

// store: the artifact, whose carried signatures and referrers are checked too.
export type CheckOptions = {
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly store?: ImageStore;
};

const MAX_CONFIG = 16 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 8;

// The platforms a name resolves to: the index's entries, or for a single manifest its config's platform.
async function platformsAt(
  target: ContentSource,
  ref: Reference,
  signal?: AbortSignal,
): Promise<{ digest: string; platforms: Array<{ platform: Platform; digest: string }> } | undefined> {
  const so = signal ? { signal } : {};
  if (!(await target.headManifest(ref, so))) return undefined;
  const top = await target.getManifest(ref, so);
  const parsed = parseManifestJson(top.bytes, top.mediaType);
  if (parsed.kind === 'index') {
    const platforms = parsed.manifest.manifests.flatMap((d) =>
      d.platform ? [{ platform: d.platform, digest: d.digest }] : [],
    );
    return { digest: top.digest, platforms };
  }
  const config = parsed.manifest.config;
  if (config.size > MAX_CONFIG) return { digest: top.digest, platforms: [] };
  const chunks: Buffer[] = [];
  for await (const c of await target.getBlob(ref, { ...config, digest: parseDigest(config.digest) }, so))
    chunks.push(c as Buffer);
  return {
    digest: top.digest,
    platforms: [{ platform: parseConfigPlatform(Buffer.concat(chunks)), digest: top.digest }],
  };
}

// `upstreamIndex`: the upstream index the source holds whole for the image (push --preserve-digests puts exactly it):
// a target index with that digest lists the upstream children, which for a Docker-typed image are not the layout's
// (converted to OCI at export), and is what the artifact holds.
async function checkImage(
  target: ContentSource,
  img: PlannedImage,
  signal?: AbortSignal,
  upstreamIndex?: string,
): Promise<CheckedImage> {
  const name = formatReference(img.target);
  const found = await platformsAt(target, img.target, signal);
  const want = img.children.map((c) => formatPlatform(c.platform));
  if (!found) return { name, source: img.source, status: 'missing', platforms: [], missing: want, carried: [] };
  const platforms = found.platforms.map((p) => formatPlatform(p.platform));
  const absent: string[] = [];
  const differ: string[] = [];
  for (const c of img.children) {
    const have = found.platforms.filter((p) => platformMatches(c.platform, p.platform));
    if (have.length === 0) absent.push(formatPlatform(c.platform));
    else if (c.entry.digest && found.digest !== upstreamIndex && !have.some((p) => p.digest === c.entry.digest))
      differ.push(formatPlatform(c.platform));
  }
  const status: CheckStatus = absent.length > 0 ? 'incomplete' : differ.length > 0 ? 'different' : 'ok';
  return {
    name,
    source: img.source,
    status,
    platforms,
    missing: [...absent, ...differ],
    digest: found.digest,
    carried: [],
  };
}

// Each carried manifest of the plan's images in the target (HEAD by tag or digest, opts.concurrency at once; a
// by-digest referrer must also be listed in its subject's referrers index, read once per subject), grouped by image
// name in the plan's order.
async function checkCarried(
  store: ImageStore,
  target: ContentSource,
  plan: PushPlan,
  opts: CheckOptions,
): Promise<Map<string, CarriedCheck[]>> {
  const so = opts.signal ? { signal: opts.signal } : {};
  const indexes = new Map<string, Promise<Set<string>>>();
  const listed = (repo: Reference, subject: string): Promise<Set<string>> => {
    const ref = referrersIndexRef(repo, subject);
    const key = formatReference(ref);
    let got = indexes.get(key);
    if (!got) {
      got = referrersIndexAt(target, ref, so).then((i) => new Set(i.entries.map((e) => e.digest as string)));
      indexes.set(key, got);
    }
    return got;
  };
  const carried = carriedManifests(store, plan);
  const statuses = await mapLimitAll(
    carried,
    opts.concurrency ?? DEFAULT_CONCURRENCY,
    async (c): Promise<CarriedStatus> => {
      const want = c.src.digest as string;
      const have = await target.headManifest(c.dst, so);
      const status: CarriedStatus = !have ? 'missing' : have.digest !== want ? 'different' : 'present';
      return status === 'present' && c.row && !(await listed(c.repo, c.subject)).has(want) ? 'unlisted' : status;
    },
    { signal: opts.signal },
  );
  const out = new Map<string, CarriedCheck[]>();
  carried.forEach((c, i) => {
    const list = out.get(c.image) ?? [];
    const status = statuses[i] as CarriedStatus;
    list.push({
      kind: c.kind,
      name: formatReference(c.dst),
      digest: c.src.digest as string,
      subject: c.subject,
      status,
    });
    out.set(c.image, list);
  });
  return out;
}

// Prove every name of the plan is in the target with the platforms it needs (GET each manifest, read the index).
export async function checkPushed(
  target: ContentSource,
  plan: PushPlan,
  opts: CheckOptions = {},
): Promise<CheckReport> {
  const upstream = (img: PlannedImage): string | undefined => opts.store?.upstreamIndex(parseReference(img.source));
  const check = (img: PlannedImage) => checkImage(target, img, opts.signal, upstream(img));
  const checked = await mapLimitAll(plan.images, opts.concurrency ?? DEFAULT_CONCURRENCY, check, {
    signal: opts.signal,
  });
  const carried = opts.store ? await checkCarried(opts.store, target, plan, opts) : new Map<string, CarriedCheck[]>();
  const images = checked.map((img) => ({ ...img, carried: carried.get(img.name) ?? [] }));
  const all = images.flatMap((i) => i.carried);
  return {
    ok: images.every((i) => i.status === 'ok') && all.every((c) => c.status === 'present'),
    images,
    carried: carriedTotals(all, (c) => c.status),
  };
}
