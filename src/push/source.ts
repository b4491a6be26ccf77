import {
  ArtifactStore,
  LayoutImageStore,
  type ArtifactStoreOptions,
  type ImageStore,
} from '../artifact-store/index.js';
import { KkoError } from '../errors.js';
import type { KkManifest } from '../manifest/index.js';
import type { Descriptor } from '../oci/index.js';
import { layoutRefName } from '../artifact-format/index.js';
import { formatReference, parseDigest, parseReference, type Digest } from '../reference/index.js';
import type { LayoutEntry, PushPlan } from './plan.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

// Where a push reads images from: the store, the layout entries it holds, and the kk release its inventory names.
export type PushSource = {
  readonly store: ImageStore;
  readonly entries: readonly LayoutEntry[];
  readonly kkVersion?: string;
  close(): Promise<void>;
};

function entryOf(d: Descriptor): LayoutEntry | undefined {
  const refName = d.annotations?.[REF_NAME];
  if (!refName) return undefined;
  return {
    refName,
    digest: parseDigest(d.digest),
    size: d.size,
    mediaType: d.mediaType,
    ...(d.platform ? { platform: d.platform } : {}),
  };
}

function entriesOf(what: string, descriptors: readonly Descriptor[]): LayoutEntry[] {
  const entries = descriptors.flatMap((d) => entryOf(d) ?? []);
  if (entries.length === 0)
    throw new KkoError('INVALID_INPUT', `reading ${what}: images/index.json lists no named image`, {
      hint: 'the artifact holds no images; export one with images in spec.images',
    });
  return entries;
}

// An artifact file (or split parts) read in place: its metadata verified on open, each blob hashed as it is read
// (verify: 'on-read'), with the index kept in opts.indexCache so a re-push reads only the metadata.
export async function openArtifactSource(
  path: string,
  opts: ArtifactStoreOptions = {},
): Promise<PushSource & { store: ArtifactStore }> {
  const store = await ArtifactStore.open(path, { verify: 'on-read', ...opts });
  try {
    const entries = entriesOf(store.description, store.entries());
    const kkVersion = store.kkVersion;
    return { store, entries, ...(kkVersion ? { kkVersion } : {}), close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}

// An imported artifact directory (DIR of `kko artifact import ART --dir DIR`, or its images/ layout, or kk's
// kubekey/images), read in place; kko/inventory.json beside the layout, when there, names the kk release.
export async function openLayoutSource(dir: string): Promise<PushSource> {
  const store = await LayoutImageStore.open(dir);
  const entries = entriesOf(store.description, store.entries());
  const kkVersion = store.kkVersion;
  return { store, entries, ...(kkVersion ? { kkVersion } : {}), close: () => store.close() };
}

// For check -m: every image × arch a manifest asks for, named as export names them (no digests to compare).
export function manifestEntries(manifests: readonly KkManifest[]): LayoutEntry[] {
  const arches = [...new Set(manifests.flatMap((m) => m.spec.arches ?? []))];
  const refs = [...new Set(manifests.flatMap((m) => m.spec.images ?? []))];
  if (refs.length === 0 || arches.length === 0)
    throw new KkoError(
      'INVALID_MANIFEST',
      'reading the manifest(s): no spec.images or no spec.arches: nothing to check',
      { hint: 'check names the images a manifest lists, for its arches' },
    );
  return refs.flatMap((ref) => arches.map((arch) => ({ refName: layoutRefName(ref, arch) })));
}

// --preserve-digests: for every image of the plan, the upstream index the source holds whole (index name → digest).
// An image without one (the export left platforms out, or the artifact predates kept indexes) is refused, named.
export function preservedIndexes(store: ImageStore, plan: PushPlan): Map<string, Digest> {
  const out = new Map<string, Digest>();
  const lacking: string[] = [];
  for (const img of plan.images) {
    const digest = store.upstreamIndex(parseReference(img.source));
    if (digest) out.set(formatReference(img.target), digest);
    else lacking.push(img.source);
  }
  if (lacking.length > 0)
    throw new KkoError(
      'INVALID_INPUT',
      `--preserve-digests: ${store.description} does not hold the complete upstream index of ${lacking.join(', ')}`,
      {
        hint: 'an index is kept whole only when the export took every platform it lists (spec.arches); push without --preserve-digests for an index over the exported arches',
      },
    );
  return out;
}
