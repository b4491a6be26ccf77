import { refNameOf, type InventoryImage } from '../artifact-read/docs.js';
import { layoutRefName } from '../artifact-format/index.js';
import { MediaType, parseManifestJson, type Descriptor, type ImageIndex } from '../oci/index.js';
import type { ManifestContent } from '../content/store.js';
import { KkoError } from '../errors.js';
import { formatReference, parseReference, sha256Digest, type Digest, type Reference } from '../reference/index.js';

// The names an artifact answers to. kk (v3.1.2+) and kko name every image × arch in images/index.json
// "<full ref>-<arch>" (artifact-format layoutRefName): docker.io/calico/cni:v3.27.3-amd64. The store answers
//   <registry>/<repo>:<tag>-<arch>  with that per-arch manifest, and
//   <registry>/<repo>:<tag>         with a multi-arch index over them: the upstream index when the artifact kept it
//                                   and holds every manifest it lists, else one synthesized deterministically.
// A ref name without an arch suffix is answered as it is (tag only).

export type Arch = { readonly suffix: string; readonly descriptor: Descriptor };
export type TaggedImage = {
  readonly repo: string;
  readonly tag: string;
  readonly arches: readonly Arch[];
  readonly upstreamIndex?: Digest;
};
export type ManifestBytes = { readonly bytes: Buffer; readonly mediaType: string; readonly digest: Digest };
export type Resolved =
  | { readonly kind: 'index'; readonly image: TaggedImage }
  | { readonly kind: 'manifest'; readonly descriptor: Descriptor };

// "registry/repository", the key of a repository.
export function repoKey(registry: string, repository: string): string {
  return `${registry}/${repository}`;
}

// The arch suffixes a layout entry's ref name may end with ("-arm64-v8", then "-arm64").
function suffixes(d: Descriptor, inventoryArch: string | undefined): string[] {
  const p = d.platform;
  const out = inventoryArch ? [layoutRefName('', inventoryArch)] : [];
  if (p?.variant) out.push(layoutRefName('', `${p.architecture}/${p.variant}`));
  if (p) out.push(layoutRefName('', p.architecture));
  return out;
}

function parseName(name: string): { repo: string; tag: string } | undefined {
  try {
    const r = parseReference(name);
    return r.tag && !r.digest ? { repo: repoKey(r.registry, r.repository), tag: r.tag } : undefined;
  } catch {
    return undefined;
  }
}

// Byte order, as everywhere in kko's outputs.
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class ImageNames {
  readonly #images = new Map<string, TaggedImage>(); // "repo:tag"
  readonly #arches = new Map<string, Descriptor>(); // "repo:tag-arch" and untagged-arch names
  readonly #tags = new Map<string, Set<string>>();

  // `manifests`: the manifest and index bytes the pass kept (hex → bytes), to check an upstream index is complete.
  constructor(
    index: ImageIndex,
    inventory: readonly InventoryImage[],
    manifests: ReadonlyMap<string, Buffer>,
    hasBlob: (d: string) => boolean,
  ) {
    const rows = new Map(inventory.map((r) => [r.refName, r]));
    const groups = new Map<string, { repo: string; tag: string; arches: Arch[]; upstream: Set<string | undefined> }>();
    for (const d of index.manifests) {
      const refName = refNameOf(d);
      if (!refName) continue;
      const row = rows.get(refName);
      const suffix = suffixes(d, row?.arch).find((s) => refName.endsWith(s) && refName.length > s.length);
      const base = suffix ? parseName(refName.slice(0, -suffix.length)) : undefined;
      const whole = parseName(refName);
      if (whole) this.#addArch(whole.repo, whole.tag, d);
      if (!base || !suffix) continue;
      const key = `${base.repo}:${base.tag}`;
      const g = groups.get(key) ?? { ...base, arches: [], upstream: new Set() };
      g.arches.push({ suffix: suffix.slice(1), descriptor: d });
      g.upstream.add(upstreamIndexOf(row, manifests));
      groups.set(key, g);
    }
    for (const [key, g] of groups) {
      const arches = g.arches.sort((a, b) => byText(a.suffix, b.suffix));
      const [up] = g.upstream.size === 1 ? [...g.upstream] : [undefined];
      const complete = up !== undefined && indexComplete(manifests.get(up.slice(7)), manifests, hasBlob);
      this.#images.set(key, { repo: g.repo, tag: g.tag, arches, ...(complete ? { upstreamIndex: up as Digest } : {}) });
      this.#tag(g.repo, g.tag);
    }
  }

  #addArch(repo: string, tag: string, d: Descriptor): void {
    this.#arches.set(`${repo}:${tag}`, d);
    this.#tag(repo, tag);
  }

  #tag(repo: string, tag: string): void {
    const set = this.#tags.get(repo) ?? new Set<string>();
    set.add(tag);
    this.#tags.set(repo, set);
  }

  // Every repository ("registry/repository"), sorted.
  repositories(): string[] {
    return [...this.#tags.keys()].sort(byText);
  }

  // The tags of a repository, sorted; undefined for a repository the artifact does not have.
  tags(repo: string): string[] | undefined {
    const set = this.#tags.get(repo);
    return set ? [...set].sort(byText) : undefined;
  }

  // What repo:tag names: a multi-arch image (answered with an index) or one manifest. The image wins a clash.
  resolve(repo: string, tag: string): Resolved | undefined {
    const image = this.#images.get(`${repo}:${tag}`);
    if (image) return { kind: 'index', image };
    const d = this.#arches.get(`${repo}:${tag}`);
    return d ? { kind: 'manifest', descriptor: d } : undefined;
  }
}

// The upstream index digest an inventory row kept (of the digests it lists, the one that is an index).
function upstreamIndexOf(row: InventoryImage | undefined, manifests: ReadonlyMap<string, Buffer>): string | undefined {
  for (const d of row?.upstream ?? []) {
    const bytes = manifests.get(d.slice(7));
    if (!bytes) continue;
    try {
      if (parseManifestJson(bytes).kind === 'index') return d;
    } catch {
      // not a manifest: not the index
    }
  }
  return undefined;
}

// Every manifest the index lists is in the artifact, with its config and layers.
function indexComplete(
  bytes: Buffer | undefined,
  manifests: ReadonlyMap<string, Buffer>,
  hasBlob: (d: string) => boolean,
): boolean {
  if (!bytes) return false;
  try {
    const parsed = parseManifestJson(bytes);
    if (parsed.kind !== 'index') return false;
    return parsed.manifest.manifests.every((c) => {
      const child = manifests.get(c.digest.slice(7));
      if (!child) return false;
      const m = parseManifestJson(child, c.mediaType);
      return m.kind === 'image' && [m.manifest.config, ...m.manifest.layers].every((b) => hasBlob(b.digest));
    });
  } catch {
    return false;
  }
}

// The OCI index synthesized over an image's per-arch manifests: children in suffix order, compact JSON, so the
// same artifact always gives the same bytes and digest.
export function synthesizeIndex(image: TaggedImage): ManifestBytes {
  const manifests = image.arches.map(({ descriptor: d }) => ({
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.platform ? { platform: d.platform } : {}),
  }));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests }));
  return { bytes, mediaType: MediaType.OCI_INDEX, digest: sha256Digest(bytes) };
}

// The manifests an image store answers with, by name or digest: a per-arch manifest, the upstream index when the
// store holds it whole, else an index synthesized over the per-arch manifests (made once per name). `manifests` are
// the manifest and index bytes the store holds (hex → bytes), each already checked against its digest.
export class NamedManifests {
  readonly #indexes = new Map<string, ManifestBytes>();
  constructor(
    readonly names: ImageNames,
    readonly manifests: ReadonlyMap<string, Buffer>,
  ) {}

  // Whether the store has ref's repository.
  has(registry: string, repository: string): boolean {
    return this.names.tags(repoKey(registry, repository)) !== undefined;
  }

  // The upstream index a multi-arch name answers with, when the store holds it whole (push --preserve-digests).
  upstreamIndex(registry: string, repository: string, tag: string): Digest | undefined {
    const r = this.names.resolve(repoKey(registry, repository), tag);
    return r?.kind === 'index' ? r.image.upstreamIndex : undefined;
  }

  // The ContentSource name lookups both image stores answer the same way (`where`: the store, for errors).
  upstreamIndexOf(ref: Reference): Digest | undefined {
    return ref.tag === undefined ? undefined : this.upstreamIndex(ref.registry, ref.repository, ref.tag);
  }

  listTags(ref: Reference, where: string): string[] {
    const tags = this.names.tags(repoKey(ref.registry, ref.repository));
    if (!tags)
      throw new KkoError('MANIFEST_UNKNOWN', `listing tags of ${ref.registry}/${ref.repository}: not in ${where}`);
    return tags;
  }

  headManifest(ref: Reference): Descriptor | undefined {
    const m = this.manifest(ref);
    return m ? { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length } : undefined;
  }

  getManifest(ref: Reference, where: string): ManifestContent {
    const m = this.manifest(ref);
    if (!m) throw new KkoError('MANIFEST_UNKNOWN', `getting manifest ${formatReference(ref)}: not in ${where}`);
    return m;
  }

  manifest(ref: { registry: string; repository: string; tag?: string; digest?: string }): ManifestBytes | undefined {
    const repo = repoKey(ref.registry, ref.repository);
    if (!this.names.tags(repo)) return undefined;
    if (ref.digest) return this.#byDigest(ref.digest);
    const r = ref.tag === undefined ? undefined : this.names.resolve(repo, ref.tag);
    if (!r) return undefined;
    if (r.kind === 'manifest') return this.#byDigest(r.descriptor.digest, r.descriptor.mediaType);
    if (r.image.upstreamIndex) return this.#byDigest(r.image.upstreamIndex);
    const key = `${repo}:${ref.tag}`;
    let index = this.#indexes.get(key);
    if (!index) this.#indexes.set(key, (index = synthesizeIndex(r.image)));
    return index;
  }

  // A manifest or index the store holds, or a synthesized index by its digest.
  #byDigest(digest: string, declared?: string): ManifestBytes | undefined {
    const bytes = /^sha256:[a-f0-9]{64}$/.test(digest) ? this.manifests.get(digest.slice(7)) : undefined;
    if (!bytes)
      return [...this.#indexes.values()].find((i) => i.digest === digest) ?? this.#synthesizedByDigest(digest);
    return { bytes, mediaType: parseManifestJson(bytes, declared).mediaType, digest: digest as Digest };
  }

  // A synthesized index asked for by digest before its tag was (containerd resolves the tag first; a client may not).
  #synthesizedByDigest(digest: string): ManifestBytes | undefined {
    for (const repo of this.names.repositories()) {
      for (const tag of this.names.tags(repo) ?? []) {
        const r = this.names.resolve(repo, tag);
        if (r?.kind !== 'index' || r.image.upstreamIndex) continue;
        const index = synthesizeIndex(r.image);
        this.#indexes.set(`${repo}:${tag}`, index);
        if (index.digest === digest) return index;
      }
    }
    return undefined;
  }
}
