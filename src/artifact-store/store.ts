import { Readable } from 'node:stream';
import {
  blobHex,
  INDEX_NAME,
  INVENTORY_NAME,
  parseInventoryImages,
  parseLayoutIndex,
  type InventoryImage,
} from '../artifact-read/docs.js';
import type { FileLocation } from '../artifact-read/scan.js';
import { scanArtifact, type ScanOptions } from '../artifact-read/scan.js';
import { resolveArtifactSource } from '../artifact-read/source.js';
import { ArtifactProblemsError, summarizeProblems, type FileRecord, type ScanResult } from '../artifact-read/types.js';
import { trustOfScan, verifyScan, type VerifyOptions, type VerifyReport } from '../artifact-read/verify.js';
import { loadCatalog } from '../catalog/index.js';
import type { BlobReadOptions, ContentSource, ManifestContent } from '../content/store.js';
import { through, VerifyStream } from '../content/verify.js';
import { KkoError } from '../errors.js';
import { parseManifestJson, type Descriptor, type ImageIndex } from '../oci/index.js';
import { formatReference, type Digest, type Reference } from '../reference/index.js';
import { ImageNames, repoKey, synthesizeIndex, type ManifestBytes } from './names.js';
import { SourceFiles } from './source-files.js';
import { locateStored, RawBlocks, readSpans, tarSpans, type Spans } from './spans.js';

// A kko or kk artifact (.tar, .tar.gz, .tar.zst, or the parts of a split one) served in place as a read-only image
// store. Opening it is one pass through the artifact reader that verifies it as `kko artifact verify` does (an
// artifact that fails is refused) and records where each blob's bytes sit in the file; blobs are then read with
// positioned reads and no decoding (spans.ts). Small blobs (manifests, configs) stay in memory from the pass.

export type ArtifactStoreOptions = VerifyOptions & {
  readonly signal?: AbortSignal;
  // Blobs of up to this many bytes are kept in memory from the pass (default 1 MiB), within `memoryBudget` in all
  // (default 64 MiB); manifests are always kept.
  readonly smallBlob?: number;
  readonly memoryBudget?: number;
  // Hash the archive's bytes with sha256 too (`archive.sha256`; publish records it).
  readonly archiveSha256?: boolean;
  // Small blobs to keep besides the manifests (#12: image signature payloads, signatureBlobKeeper).
  readonly keep?: ScanOptions['keep'];
};

// What the pass saw of the archive itself: the writer's facts publish records so pull can write it again, the
// documents and kept blobs push --verify-images checks (#12).
export type ArchiveFacts = ScanResult;

type Blob = { readonly size: number; readonly bytes?: Buffer; readonly spans?: Spans };

const SMALL_BLOB = 1024 * 1024;
const MEMORY_BUDGET = 64 * 1024 * 1024;
const GZIP_PENDING = 16; // located layers waiting for their proof; the pass waits beyond that

// The blob table built during the pass; the other regular files (binaries, ISOs, kko/ documents) by name, so publish
// (#12) reads them in place too where it can (a deflated binary in a .tar.gz has no spans: `readFile` says so).
class BlobTable {
  readonly blobs = new Map<string, Blob>(); // hex → where
  readonly files = new Map<string, Blob>(); // name → where (files outside images/blobs/)
  readonly #files: SourceFiles;
  readonly #raw = new RawBlocks();
  readonly #pending: Promise<void>[] = [];
  #kept = 0;
  constructor(
    files: SourceFiles,
    readonly opts: ArtifactStoreOptions,
  ) {
    this.#files = files;
  }

  get trace(): { rawBlock: RawBlocks['add'] } {
    return { rawBlock: this.#raw.add };
  }

  async onFile(f: FileRecord, where: FileLocation): Promise<void> {
    const hex = blobHex(f.name);
    const rawSpans = where.compression === 'zstd' ? this.#raw.take(where.offset, f.size) : undefined;
    const sha256 = f.sha256;
    if (hex ? sha256 !== hex : !sha256) return; // not hashed, or a corrupt blob (verify reports it)
    const table = hex ? this.blobs : this.files;
    const key = hex ?? f.name;
    if (
      where.bytes &&
      f.size <= (this.opts.smallBlob ?? SMALL_BLOB) &&
      this.#kept + f.size <= (this.opts.memoryBudget ?? MEMORY_BUDGET)
    ) {
      this.#kept += f.size;
      return void table.set(key, { size: f.size, bytes: where.bytes });
    }
    if (where.compression === 'none')
      return void table.set(key, { size: f.size, spans: tarSpans(where.offset, f.size) });
    if (where.compression === 'zstd')
      return void table.set(key, { size: f.size, ...(rawSpans ? { spans: rawSpans } : {}) });
    const job = locateStored(this.#files, f.size, sha256 as string, where).then(
      (spans) => void table.set(key, { size: f.size, ...(spans ? { spans } : {}) }),
    );
    this.#pending.push(job);
    if (this.#pending.length >= GZIP_PENDING) await this.settle();
  }

  async settle(): Promise<void> {
    const jobs = this.#pending.splice(0);
    await Promise.all(jobs);
  }
}

function verifyRefused(path: string, report: VerifyReport): ArtifactProblemsError {
  return new ArtifactProblemsError(
    `opening artifact ${path}: it fails verification: ${summarizeProblems(report.problems)}`,
    report.problems,
  );
}

// The blobs index.json reaches that can be read neither from memory nor in place: a .tar.gz written by another tool
// that deflated them.
function unservable(path: string, blobs: ReadonlyMap<string, Blob>): KkoError | undefined {
  const bad = [...blobs.entries()].filter(([, b]) => !b.bytes && !b.spans && b.size > 0);
  if (bad.length === 0) return undefined;
  const [hex, b] = bad[0] as [string, Blob];
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more)` : '';
  return new KkoError(
    'INVALID_INPUT',
    `opening artifact ${path}: blob sha256:${hex} (${b.size} bytes) is deflated in the archive${more}, so it cannot be read in place`,
    {
      hint: `import it to a directory and serve that (kko artifact import ${path} --dir DIR), or decompress it to a .tar (gunzip -k / zstd -d), which is read in place`,
    },
  );
}

// kko/inventory.json's kk.version (export/inventory.ts writes it when the manifests name binaries).
function inventoryKkVersion(bytes: Buffer): string | undefined {
  try {
    const v = (JSON.parse(bytes.toString('utf8')) as { kk?: { version?: unknown } }).kk?.version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // verify already reported an unreadable inventory
  }
}

export class ArtifactStore implements ContentSource {
  readonly description: string;
  readonly report: VerifyReport;
  readonly #files: SourceFiles;
  readonly #blobs: ReadonlyMap<string, Blob>;
  readonly #other: ReadonlyMap<string, Blob>;
  readonly archive: ArchiveFacts;
  readonly #manifests: ReadonlyMap<string, Buffer>;
  readonly #names: ImageNames;
  readonly #indexes = new Map<string, ManifestBytes>();
  readonly #entries: readonly Descriptor[];
  // The kk release kko/inventory.json says the artifact was made for (push names images by it); undefined for kk's.
  readonly kkVersion: string | undefined;

  private constructor(path: string, report: VerifyReport, files: SourceFiles, table: BlobTable, scan: ScanResult) {
    const blobs = table.blobs;
    this.description = `artifact ${path}`;
    this.report = report;
    this.#files = files;
    this.#blobs = blobs;
    this.#other = table.files;
    this.archive = scan;
    this.#manifests = scan.manifests;
    const layout = scan.docs.get(INDEX_NAME);
    const index: ImageIndex = layout ? parseLayoutIndex(layout) : { schemaVersion: 2, manifests: [] };
    const inv = scan.docs.get(INVENTORY_NAME);
    const rows: InventoryImage[] = inv ? parseInventoryImages(inv) : [];
    this.#names = new ImageNames(index, rows, scan.manifests, (d) => blobs.has(d.slice(7)));
    this.#entries = index.manifests;
    this.kkVersion = inv ? inventoryKkVersion(inv) : undefined;
  }

  // images/index.json's entries (ref names <full ref>-<arch> in their annotations), as OciLayout.entries() gives them.
  entries(): Descriptor[] {
    return [...this.#entries];
  }

  // Open and verify `path` (the file, the first part of a split artifact, or a quoted ART.part-* pattern). Throws
  // ArtifactProblemsError (ARTIFACT_CORRUPT) when it fails verify, INVALID_INPUT when a blob cannot be read in place.
  static async open(path: string, opts: ArtifactStoreOptions = {}): Promise<ArtifactStore> {
    const catalog = opts.catalog ?? (await loadCatalog());
    const files = await SourceFiles.open(await resolveArtifactSource(path));
    try {
      const table = new BlobTable(files, opts);
      const scan = await scanArtifact(path, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.archiveSha256 ? { archiveSha256: true } : {}),
        ...(opts.keep ? { keep: opts.keep } : {}),
        locate: { trace: table.trace, onFile: (f, w) => table.onFile(f, w) },
      });
      await table.settle();
      await files.check({ paths: true }); // the pass read (by path) the very files held open
      const report = verifyScan(
        scan,
        trustOfScan(scan, { catalog, ...(opts.verifyInventory ? { verifyInventory: opts.verifyInventory } : {}) }),
      );
      if (!report.ok) throw verifyRefused(path, report);
      const bad = unservable(path, table.blobs);
      if (bad) throw bad;
      return new ArtifactStore(path, report, files, table, scan);
    } catch (err) {
      await files.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#files.close();
  }

  // Every repository with an image ("registry/repository"), sorted.
  repositories(): string[] {
    return this.#names.repositories();
  }

  async listTags(ref: Reference): Promise<string[]> {
    const tags = this.#names.tags(repoKey(ref.registry, ref.repository));
    if (!tags)
      throw new KkoError(
        'MANIFEST_UNKNOWN',
        `listing tags of ${ref.registry}/${ref.repository}: not in ${this.description}`,
      );
    return tags;
  }

  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    const m = this.#manifest(ref);
    return m ? { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length } : undefined;
  }

  async getManifest(ref: Reference): Promise<ManifestContent> {
    const m = this.#manifest(ref);
    if (!m)
      throw new KkoError('MANIFEST_UNKNOWN', `getting manifest ${formatReference(ref)}: not in ${this.description}`);
    return m;
  }

  // A blob of any repository the artifact has (all its images share one layout); undefined for an unknown repository.
  async headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    const b = this.#blob(ref, digest);
    return b ? { mediaType: 'application/octet-stream', digest, size: b.size } : undefined;
  }

  // The blob from memory or read in place. A whole read is hashed as it streams (DIGEST_MISMATCH at its end); a read
  // from an offset (`length` bytes, default to the end) cannot be, and is trusted because the pass hashed these
  // bytes and the file has not changed since (checked here: inode, size and mtime).
  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const b = this.#blob(ref, desc.digest);
    if (!b)
      throw new KkoError(
        'BLOB_UNKNOWN',
        `getting blob ${desc.digest} of ${ref.registry}/${ref.repository}: not in ${this.description}`,
      );
    const start = opts.offset ?? 0;
    const end = opts.length === undefined ? b.size : start + opts.length;
    if (start < 0 || end > b.size || start > end)
      throw new KkoError(
        'INVALID_INPUT',
        `getting blob ${desc.digest}: range ${start}-${end} is outside its ${b.size} bytes`,
      );
    const whole = start === 0 && end === b.size && opts.verify !== false;
    if (b.bytes) return Readable.from([b.bytes.subarray(start, end)]);
    await this.#files.check();
    const body = Readable.from(readSpans(this.#files, b.spans as Spans, start, end), { objectMode: false });
    return whole
      ? through(
          body,
          new VerifyStream(
            { digest: desc.digest, size: b.size },
            `reading blob ${desc.digest} from ${this.description}`,
          ),
        )
      : body;
  }

  // Whether readFile can serve `name` (its bytes are in memory, or stored / raw blocks, or a plain tar).
  readsInPlace(name: string): boolean {
    const b = this.#other.get(name);
    return b !== undefined && (b.bytes !== undefined || b.spans !== undefined || b.size === 0);
  }

  // A file outside images/blobs/ (a binary, an ISO, a kko/ document) read in place and hashed against the sha256 the
  // pass saw; undefined when its bytes are deflated in the archive (read those from a pass of the archive instead).
  async readFile(name: string): Promise<Readable | undefined> {
    const b = this.#other.get(name);
    const sha256 = this.archive.files.get(name)?.sha256;
    if (!b || !sha256) return undefined;
    if (b.bytes) return Readable.from([b.bytes]);
    if (b.size === 0) return Readable.from([]);
    if (!b.spans) return undefined;
    await this.#files.check();
    const body = Readable.from(readSpans(this.#files, b.spans, 0, b.size), { objectMode: false });
    return through(
      body,
      new VerifyStream(
        { digest: `sha256:${sha256}` as Digest, size: b.size },
        `reading ${name} from ${this.description}`,
      ),
    );
  }

  #blob(ref: Reference, digest: string): Blob | undefined {
    if (!this.#names.tags(repoKey(ref.registry, ref.repository))) return undefined;
    return /^sha256:[a-f0-9]{64}$/.test(digest) ? this.#blobs.get(digest.slice(7)) : undefined;
  }

  #manifest(ref: Reference): ManifestBytes | undefined {
    const repo = repoKey(ref.registry, ref.repository);
    if (!this.#names.tags(repo)) return undefined;
    if (ref.digest) return this.#byDigest(ref.digest);
    const r = ref.tag === undefined ? undefined : this.#names.resolve(repo, ref.tag);
    if (!r) return undefined;
    if (r.kind === 'manifest') return this.#byDigest(r.descriptor.digest, r.descriptor.mediaType);
    if (r.image.upstreamIndex) return this.#byDigest(r.image.upstreamIndex);
    const key = `${repo}:${ref.tag}`;
    let index = this.#indexes.get(key);
    if (!index) this.#indexes.set(key, (index = synthesizeIndex(r.image)));
    return index;
  }

  // A manifest or index the pass kept (hashed against its name then), or a synthesized index by its digest.
  #byDigest(digest: string, declared?: string): ManifestBytes | undefined {
    const bytes = /^sha256:[a-f0-9]{64}$/.test(digest) ? this.#manifests.get(digest.slice(7)) : undefined;
    if (!bytes)
      return [...this.#indexes.values()].find((i) => i.digest === digest) ?? this.#synthesizedByDigest(digest);
    return { bytes, mediaType: parseManifestJson(bytes, declared).mediaType, digest: digest as Digest };
  }

  // A synthesized index asked for by digest before its tag was (containerd resolves the tag first; a client may not).
  #synthesizedByDigest(digest: string): ManifestBytes | undefined {
    for (const repo of this.#names.repositories()) {
      for (const tag of this.#names.tags(repo) ?? []) {
        const r = this.#names.resolve(repo, tag);
        if (r?.kind !== 'index' || r.image.upstreamIndex) continue;
        const index = synthesizeIndex(r.image);
        this.#indexes.set(`${repo}:${tag}`, index);
        if (index.digest === digest) return index;
      }
    }
    return undefined;
  }
}
