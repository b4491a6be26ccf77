import { createReadStream } from 'node:fs';
import { readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobCache } from '../cache/index.js';
import type { BlobOpener, BlobReadOptions, ContentStore, ManifestContent, StoreOptions } from '../content/index.js';
import { through, VerifyStream } from '../content/verify.js';
import { KkoError } from '../errors.js';
import {
  formatLayoutIndex,
  OCI_LAYOUT,
  parseLayoutIndex,
  parseManifestJson,
  REF_NAME_ANNOTATION,
  refNameOf,
  type Descriptor,
} from '../oci/index.js';
import { formatReference, parseDigest, sha256Digest, type Digest, type Reference } from '../reference/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { errnoOf, fsError } from '../util/fs-errors.js';

// How a Reference names its manifest in index.json (the org.opencontainers.image.ref.name annotation):
//   'full' (default, kk's form): the whole name without digest, "docker.io/calico/cni:v3.27.3-amd64";
//   'tag'  (skopeo's oci:DIR:tag form): the tag alone, "v3.27.3-amd64".
// Reads accept both, whatever the setting: the full name first, then the bare tag. A bare tag names no repository,
// so it answers for any (an oci:DIR:tag layout is one image's tags). A Reference without tag or digest means "latest".
export type RefNameForm = 'full' | 'tag';

export type OciLayoutOptions = {
  readonly refNames?: RefNameForm;
  // Manifests and index.json larger than this are refused; default 4 MiB (as RegistryClient).
  readonly maxManifestBytes?: number;
};

const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;

// The ref names a Reference may be stored under, in the order they are tried.
export function refNameCandidates(ref: Reference): string[] {
  const tag = ref.tag ?? 'latest';
  return [formatReference({ registry: ref.registry, repository: ref.repository, tag }), tag];
}

// An OCI image-layout directory (image-spec image-layout.md): oci-layout, index.json, blobs/sha256/<hex>. Blobs are
// written through a BlobCache rooted at the directory (temp name, digest and size checked, then renamed; resumed
// after a broken source), index.json is rewritten whole and atomically in one deterministic order. Writers of one
// OciLayout object are serialised; two processes writing one layout's index.json at once are not (last wins).
export class OciLayout implements ContentStore {
  readonly dir: string;
  readonly description: string;
  readonly #refNames: RefNameForm;
  readonly #maxManifest: number;
  readonly #blobs: BlobCache;
  #indexWrite: Promise<unknown> = Promise.resolve();
  #putsInFlight = 0;

  constructor(dir: string, opts: OciLayoutOptions = {}) {
    this.dir = dir;
    this.description = `OCI layout ${dir}`;
    this.#refNames = opts.refNames ?? 'full';
    this.#maxManifest = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.#blobs = new BlobCache(dir);
  }

  // Where a blob lives (it may not exist).
  blobPath(digest: Digest): string {
    return this.#blobs.blobPath(digest);
  }

  // The ref name a put under `ref` writes.
  refNameFor(ref: Reference): string {
    const [full, tag] = refNameCandidates(ref);
    return (this.#refNames === 'full' ? full : tag) as string;
  }

  // The entries of index.json; none when the layout has no index.json yet.
  async entries(): Promise<Descriptor[]> {
    const path = join(this.dir, 'index.json');
    const bytes = await readFile(path).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw fsError('reading', path, err);
    });
    if (bytes === undefined) return [];
    if (bytes.length > this.#maxManifest)
      throw new KkoError(
        'SIZE_LIMIT_EXCEEDED',
        `reading ${path}: ${bytes.length} bytes, more than ${this.#maxManifest}`,
      );
    return [...parseLayoutIndex(bytes, path).manifests];
  }

  // The index.json entry for a tag reference (full name first, then the bare tag).
  async #entryFor(ref: Reference): Promise<Descriptor | undefined> {
    const entries = await this.entries();
    for (const name of refNameCandidates(ref)) {
      const hit = entries.find((d) => refNameOf(d) === name);
      if (hit) return hit;
    }
    return undefined;
  }

  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    if (ref.digest === undefined) return this.#entryFor(ref);
    const digest = parseDigest(ref.digest);
    const listed = (await this.entries()).find((d) => d.digest === digest);
    if (listed) return { mediaType: listed.mediaType, digest, size: listed.size };
    const size = await this.#size(digest);
    if (size === undefined) return undefined;
    const bytes = await this.#readManifest({ mediaType: '', digest, size }, ref);
    return { mediaType: mediaTypeOf(bytes), digest, size };
  }

  async getManifest(ref: Reference): Promise<ManifestContent> {
    const desc = await this.headManifest(ref);
    if (!desc) {
      const names =
        ref.digest ??
        refNameCandidates(ref)
          .map((n) => JSON.stringify(n))
          .join(' or ');
      throw new KkoError(
        'MANIFEST_UNKNOWN',
        `getting manifest ${formatReference(ref)} from ${this.description}: no manifest ${names}`,
        {
          hint: `list the names in ${join(this.dir, 'index.json')} (annotation ${REF_NAME_ANNOTATION})`,
        },
      );
    }
    const bytes = await this.#readManifest(desc, ref);
    return { bytes, mediaType: desc.mediaType, digest: desc.digest };
  }

  // A manifest blob, bounded and checked against its digest and size.
  async #readManifest(desc: Descriptor, ref: Reference): Promise<Buffer> {
    const what = `getting manifest ${formatReference(ref)} from ${this.description}`;
    if (desc.size > this.#maxManifest)
      throw new KkoError('SIZE_LIMIT_EXCEEDED', `${what}: ${desc.size} bytes, more than ${this.#maxManifest}`);
    const path = this.blobPath(desc.digest);
    const bytes = await readFile(path).catch((err: unknown) => {
      throw errnoOf(err) === 'ENOENT'
        ? new KkoError('BLOB_UNKNOWN', `${what}: ${path} is missing`)
        : fsError('reading', path, err);
    });
    const got = sha256Digest(bytes);
    if (got !== desc.digest || bytes.length !== desc.size) {
      throw new KkoError(
        'DIGEST_MISMATCH',
        `${what}: ${path} hashes to ${got} (${bytes.length} bytes), expected ${desc.digest} (${desc.size} bytes)`,
      );
    }
    return bytes;
  }

  async #size(digest: Digest): Promise<number | undefined> {
    const path = this.blobPath(digest);
    try {
      const st = await stat(path);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw fsError('reading', path, err);
    }
  }

  // Present when the file exists (a claim, like a registry's HEAD: getBlob and putBlob hash the bytes).
  async headBlob(_ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    const size = await this.#size(parseDigest(digest));
    return size === undefined ? undefined : { mediaType: 'application/octet-stream', digest, size };
  }

  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const offset = opts.offset ?? 0;
    const what = `reading blob ${desc.digest} of ${formatReference(ref)} from ${this.description}`;
    const size = await this.#size(parseDigest(desc.digest));
    if (size === undefined) throw new KkoError('BLOB_UNKNOWN', `${what}: ${this.blobPath(desc.digest)} is missing`);
    if (opts.length === 0) return Readable.from([]);
    const file = createReadStream(this.blobPath(desc.digest), {
      start: offset,
      ...(opts.length !== undefined ? { end: offset + opts.length - 1 } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const whole = offset === 0 && (opts.length === undefined || opts.length === size);
    if (!whole || opts.verify === false) return file;
    return through(file, new VerifyStream(desc, what));
  }

  // The tags of ref's repository: full names of that repository, and bare tags (which name no repository).
  async listTags(ref: Reference): Promise<string[]> {
    const prefix = `${ref.registry}/${ref.repository}:`;
    const tags = new Set<string>();
    for (const d of await this.entries()) {
      const name = refNameOf(d);
      if (name === undefined) continue;
      if (name.startsWith(prefix)) tags.add(name.slice(prefix.length));
      else if (!name.includes('/') && !name.includes(':')) tags.add(name);
    }
    return [...tags].sort();
  }

  async putBlob(ref: Reference, desc: Descriptor, body: BlobOpener, opts: StoreOptions = {}): Promise<void> {
    const digest = parseDigest(desc.digest);
    const what = `blob ${digest} of ${formatReference(ref)} into ${this.description}`;
    await this.#put(() => this.#blobs.ensure({ digest, size: desc.size }, body, { signal: opts.signal, what }));
  }

  async putManifest(ref: Reference, manifest: ManifestContent, opts: StoreOptions = {}): Promise<Digest> {
    const digest = sha256Digest(manifest.bytes);
    const what = `putting manifest ${formatReference(ref)} into ${this.description}`;
    if (digest !== manifest.digest || (ref.digest !== undefined && ref.digest !== digest)) {
      throw new KkoError(
        'DIGEST_MISMATCH',
        `${what}: the bytes hash to ${digest}, expected ${ref.digest ?? manifest.digest}`,
      );
    }
    const desc = { mediaType: manifest.mediaType, digest, size: manifest.bytes.length };
    await this.putBlob(ref, desc, async () => Readable.from([manifest.bytes]), opts);
    if (ref.tag !== undefined) await this.#tag(this.refNameFor(ref), desc);
    return digest;
  }

  // Point a ref name at a manifest: replace any entry of that name, keep every other entry as it is.
  #tag(name: string, desc: Descriptor): Promise<void> {
    const next = this.#indexWrite.then(async () => {
      const kept = (await this.entries()).filter((d) => refNameOf(d) !== name);
      const entry: Descriptor = {
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        annotations: { [REF_NAME_ANNOTATION]: name },
      };
      await writeFileAtomic(join(this.dir, 'index.json'), formatLayoutIndex([...kept, entry]));
    });
    this.#indexWrite = next.catch(() => undefined);
    return next;
  }

  // Every write makes sure oci-layout exists; the BlobCache's tmp/ folder is removed when this object's last put ends.
  async #put<T>(fn: () => Promise<T>): Promise<T> {
    this.#putsInFlight++;
    try {
      await this.#ensureLayoutFile();
      return await fn();
    } finally {
      if (--this.#putsInFlight === 0) await rmdir(join(this.dir, 'tmp')).catch(() => undefined);
    }
  }

  async #ensureLayoutFile(): Promise<void> {
    const path = join(this.dir, 'oci-layout');
    const have = await readFile(path).catch(() => undefined);
    if (have === undefined) {
      await writeFileAtomic(path, OCI_LAYOUT);
      return;
    }
    let version: unknown;
    try {
      version = (JSON.parse(have.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== '1.0.0')
      throw new KkoError(
        'INVALID_INPUT',
        `writing ${this.description}: ${path} does not say imageLayoutVersion 1.0.0`,
        { hint: 'write into an empty directory or an OCI image layout' },
      );
  }
}

// The media type of a manifest found by digest only: its own field, else its shape (parseManifestJson's rule).
function mediaTypeOf(bytes: Buffer): string {
  return parseManifestJson(bytes).mediaType;
}
