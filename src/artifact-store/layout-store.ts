import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { imageSignaturesOf, parseInventory, type Delta, type Inventory } from '../artifact-format/index.js';
import { inventoryImages, type InventoryImage } from '../artifact-read/docs.js';
import type { BlobReadOptions, ContentSource, ManifestContent } from '../content/store.js';
import { KkoError } from '../errors.js';
import { OciLayout } from '../layout/index.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import { parseDigest, type Digest, type Reference } from '../reference/index.js';
import { errnoOf, fsError } from '../util/fs-errors.js';
import { ImageNames, NamedManifests } from './names.js';

// An imported artifact directory (`kko artifact import ART --dir DIR`, or kk's kubekey/images) read in place as the
// same read-only image store as an artifact file: the OCI layout's index.json names the images (<ref>-<arch>), and
// kko/inventory.json beside the layout, when there, adds the upstream indexes and the kk release. Nothing is copied.
// Manifests are read and hashed on open, and every config and layer they name must be there at its size; a whole
// blob read is hashed as it streams (OciLayout), a Range read is not (the import verified every byte).

const MAX_DEPTH = 4;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
    throw fsError('reading', path, err);
  }
}

// DIR (an import: DIR/images/index.json, DIR/kko/inventory.json) or DIR/images itself (the layout; the inventory is
// ../kko/inventory.json when the layout is an artifact's images/ directory).
export async function locateImportedLayout(dir: string): Promise<{ layout: string; inventory?: string }> {
  if (await exists(join(dir, 'images', 'index.json'))) {
    const inv = join(dir, 'kko', 'inventory.json');
    return { layout: join(dir, 'images'), ...((await exists(inv)) ? { inventory: inv } : {}) };
  }
  if (await exists(join(dir, 'index.json'))) {
    const inv = join(dirname(dir), 'kko', 'inventory.json');
    const beside = basename(dir) === 'images' && (await exists(inv));
    return { layout: dir, ...(beside ? { inventory: inv } : {}) };
  }
  throw new KkoError(
    'INVALID_INPUT',
    `reading ${dir}: neither an imported artifact (no images/index.json) nor an OCI image layout (no index.json)`,
    { hint: 'import the artifact first (kko artifact import ART --dir DIR) and pass DIR, or pass the artifact file' },
  );
}

// Every manifest and index reachable from the entries, the inventory's upstream digests (those present) and the
// manifests it carries beside the layout (signatures, referrers: required), read through the layout (hashed against
// its digest); configs and layers checked present at their declared size.
async function readManifests(
  oci: OciLayout,
  entries: readonly Descriptor[],
  rows: readonly InventoryImage[],
  carried: readonly string[],
  present: ReadonlySet<string>,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const blobs = new Map<string, number>();
  const visit = async (digest: string, depth: number, required: boolean): Promise<void> => {
    const hex = digest.slice(7);
    if (out.has(hex)) return;
    if (!present.has(hex)) {
      if (!required) return;
      throw missing(oci, digest);
    }
    const m = await oci.getManifest({ registry: '', repository: '', digest: parseDigest(digest) });
    out.set(hex, m.bytes);
    const parsed = parseManifestJson(m.bytes, m.mediaType);
    if (parsed.kind === 'image') {
      for (const b of [parsed.manifest.config, ...parsed.manifest.layers]) blobs.set(b.digest, b.size);
      return;
    }
    if (depth >= MAX_DEPTH) return;
    // an upstream index lists platforms the export left out: those children are optional
    for (const c of parsed.manifest.manifests) await visit(c.digest, depth + 1, required);
  };
  for (const d of entries) await visit(d.digest, 0, true);
  for (const r of rows) for (const d of r.upstream ?? []) await visit(d, 0, false);
  for (const d of carried) await visit(d, 0, true);
  const root = await realpath(oci.dir).catch((err: unknown) => Promise.reject(fsError('reading', oci.dir, err)));
  for (const hex of out.keys()) await assertInside(oci, root, `sha256:${hex}`);
  for (const [digest, size] of blobs) {
    const have = await oci.headBlob({ registry: '', repository: '' }, digest as Digest);
    if (!have) throw missing(oci, digest);
    await assertInside(oci, root, digest);
    if (have.size !== size)
      throw new KkoError(
        'ARTIFACT_CORRUPT',
        `reading ${oci.description}: blob ${digest} has ${have.size} bytes, its manifest says ${size}`,
        { hint: 'import the artifact again (kko artifact import ART --dir DIR)' },
      );
  }
  return out;
}

// #12 item 3: a delta's files unpacked as they are (tar -x) lack what it leaves out. `kko artifact import` puts a delta
// only where its base is (or takes the base from --base), so such a directory is not an import: say what it is.
function assertNotBareDelta(delta: Delta | undefined, present: ReadonlySet<string>, dir: string): void {
  const absent = delta?.omitted.blobs.filter((b) => !present.has(b.digest.slice(7))) ?? [];
  if (!delta || absent.length === 0) return;
  throw new KkoError(
    'INVALID_INPUT',
    `reading ${dir}: a delta of ${delta.base.artifact ?? delta.base.inventorySha256} without its base: ${absent.length} of the ${delta.omitted.blobs.length} blob(s) it leaves out are not here (e.g. ${(absent[0] as { digest: string }).digest})`,
    {
      hint: `import the base and then the delta into one directory (kko artifact import ${delta.base.artifact ?? 'OLD_ART'} --dir DIR; kko artifact import DELTA --dir DIR), or import the delta with --base ${delta.base.artifact ?? 'OLD_ART'}`,
    },
  );
}

// A blob served from the layout must be a file inside it: a symlink leading out would let a Range read (which is
// not hashed) serve any file the server can read.
async function assertInside(oci: OciLayout, root: string, digest: string): Promise<void> {
  const path = oci.blobPath(digest as Digest);
  const real = await realpath(path).catch((err: unknown) => Promise.reject(fsError('reading', path, err)));
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || rel.startsWith(sep))
    throw new KkoError(
      'INVALID_INPUT',
      `reading ${oci.description}: blob ${digest} is a link to ${real}, outside the layout ${root}`,
      { hint: 'serve a directory whose blobs are its own files (kko artifact import ART --dir DIR writes one)' },
    );
}

// The manifests the inventory carries beside the layout (#12: image signatures, referrers), by digest. The import
// verified the inventory; a row that does not parse is refused as the import would refuse it.
function carriedManifestDigests(inv: Inventory): string[] {
  const sigs = imageSignaturesOf(inv).flatMap((r) => (r.manifest ? [r.manifest.digest] : []));
  return [...new Set([...sigs, ...(inv.referrers ?? []).map((r) => r.digest)])];
}

function missing(oci: OciLayout, digest: string): KkoError {
  return new KkoError('ARTIFACT_CORRUPT', `reading ${oci.description}: blob ${digest} is missing`, {
    hint: 'import the artifact again (kko artifact import ART --dir DIR)',
  });
}

export class LayoutImageStore implements ContentSource {
  readonly description: string;
  readonly kkVersion: string | undefined;
  readonly #oci: OciLayout;
  readonly #names: NamedManifests;
  readonly #entries: readonly Descriptor[];
  readonly #inventory: Buffer | undefined;

  private constructor(
    oci: OciLayout,
    names: NamedManifests,
    entries: readonly Descriptor[],
    kk: string | undefined,
    inventory: Buffer | undefined,
  ) {
    this.description = oci.description;
    this.#inventory = inventory;
    this.#oci = oci;
    this.#names = names;
    this.#entries = entries;
    this.kkVersion = kk;
  }

  // Open DIR (an import) or DIR/images (its layout); see locateImportedLayout.
  static async open(dir: string): Promise<LayoutImageStore> {
    const where = await locateImportedLayout(dir);
    const oci = new OciLayout(where.layout);
    const entries = await oci.entries();
    const inv = where.inventory
      ? await readFile(where.inventory).catch((e: unknown) =>
          Promise.reject(fsError('reading', where.inventory as string, e)),
        )
      : undefined;
    const doc = inv ? parseInventory(inv) : undefined; // parsed once, for everything below
    const rows = doc ? inventoryImages(doc) : [];
    const blobDir = join(where.layout, 'blobs', 'sha256');
    const present = new Set(
      await readdir(blobDir).catch((err: unknown) =>
        errnoOf(err) === 'ENOENT' ? [] : Promise.reject(fsError('reading', blobDir, err)),
      ),
    );
    if (doc) assertNotBareDelta(doc.delta, present, dir);
    const manifests = await readManifests(oci, entries, rows, doc ? carriedManifestDigests(doc) : [], present);
    const names = new ImageNames({ schemaVersion: 2, manifests: entries }, rows, manifests, (d) =>
      present.has(d.slice(7)),
    );
    return new LayoutImageStore(oci, new NamedManifests(names, manifests), entries, doc?.kk?.version, inv);
  }

  async close(): Promise<void> {}

  // index.json's entries (ref names <full ref>-<arch>), as ArtifactStore.entries() gives them.
  entries(): Descriptor[] {
    return [...this.#entries];
  }

  repositories(): string[] {
    return this.#names.names.repositories();
  }

  upstreamIndex(ref: Reference): Digest | undefined {
    return this.#names.upstreamIndexOf(ref);
  }

  inventory(): Buffer | undefined {
    return this.#inventory;
  }

  async listTags(ref: Reference): Promise<string[]> {
    return this.#names.listTags(ref, this.description);
  }

  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    return this.#names.headManifest(ref);
  }

  async getManifest(ref: Reference): Promise<ManifestContent> {
    return this.#names.getManifest(ref, this.description);
  }

  async headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    if (!this.#names.has(ref.registry, ref.repository) || !/^sha256:[a-f0-9]{64}$/.test(digest)) return undefined;
    return this.#oci.headBlob(ref, digest);
  }

  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    if (!this.#names.has(ref.registry, ref.repository))
      throw new KkoError(
        'BLOB_UNKNOWN',
        `getting blob ${desc.digest} of ${ref.registry}/${ref.repository}: not in ${this.description}`,
      );
    return this.#oci.getBlob(ref, desc, opts);
  }
}
