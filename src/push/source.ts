import { ArtifactStore, type ArtifactStoreOptions } from '../artifact-store/index.js';
import type { ContentSource } from '../content/index.js';
import { KkoError } from '../errors.js';
import { OciLayout } from '../layout/index.js';
import type { KkManifest } from '../manifest/index.js';
import type { Descriptor } from '../oci/index.js';
import { layoutRefName } from '../artifact-format/index.js';
import { parseDigest } from '../reference/index.js';
import type { LayoutEntry } from './plan.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

// Where a push reads images from: the store, the layout entries it holds, and the kk release its inventory names.
export type PushSource = {
  readonly store: ContentSource;
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

// An imported images directory (an OCI layout kk or kko wrote: kubekey/images).
export async function openLayoutSource(dir: string): Promise<PushSource> {
  const store = new OciLayout(dir);
  const entries = entriesOf(`OCI layout ${dir}`, await store.entries());
  return { store, entries, close: async () => undefined };
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
