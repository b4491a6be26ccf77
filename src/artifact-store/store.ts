import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { parseInventory, type Delta } from '../artifact-format/index.js';
import {
  blobHex,
  INDEX_NAME,
  INVENTORY_NAME,
  inventoryImages,
  parseLayoutIndex,
  type InventoryImage,
} from '../artifact-read/docs.js';
import { scanArtifact, type ScanOptions } from '../artifact-read/scan.js';
import { openArtifact } from '../artifact-read/open.js';
import { resolveArtifactSource } from '../artifact-read/source.js';
import { ArtifactProblemsError, summarizeProblems, type ScanResult } from '../artifact-read/types.js';
import { trustOfScan, verifyScan, type VerifyOptions, type VerifyReport } from '../artifact-read/verify.js';
import { loadCatalog } from '../catalog/index.js';
import type { BlobReadOptions, ContentSource, ManifestContent, StoreOptions } from '../content/store.js';
import { through, VerifyStream } from '../content/verify.js';
import { KkoError } from '../errors.js';
import { type Descriptor, type ImageIndex } from '../oci/index.js';
import { type Digest, type Reference } from '../reference/index.js';
import { BlobTable, fromIndex, indexRecords, type Blob } from './blob-table.js';
import { INDEX_FORMAT, loadIndex, storeIndex, type IndexedFile } from './index-cache.js';
import { ImageNames, NamedManifests } from './names.js';
import { SourceFiles } from './source-files.js';
import { readSpans, type Spans } from './spans.js';

// A kko or kk artifact (.tar, .tar.gz, .tar.zst, or the parts of a split one) served in place as a read-only image
// store. Opening it is one pass through the artifact reader that verifies it as `kko artifact verify` does (an
// artifact that fails is refused) and records where each blob's bytes sit in the file; blobs are then read with
// positioned reads and no decoding (spans.ts). Small blobs (manifests, configs) stay in memory from the pass.
// verify: 'on-read' (push, check) hashes only the metadata in the pass and each blob as it is read; with indexCache,
// an unchanged artifact opened before is not passed over at all (index-cache.ts).

export type ArtifactStoreOptions = VerifyOptions & {
  readonly signal?: AbortSignal;
  // Blobs of up to this many bytes are kept in memory from the pass (default 1 MiB), within `memoryBudget` in all
  // (default 64 MiB); manifests are always kept.
  readonly smallBlob?: number;
  readonly memoryBudget?: number;
  // full (default): every byte hashed before open returns. on-read: the metadata (inventory, SHA256SUMS, index.json,
  // manifests, small blobs) is hashed and checked as in full, each other blob when it is read (a whole read fails
  // with DIGEST_MISMATCH at its end; a range of a blob not yet verified is read whole through the hash).
  readonly verify?: 'full' | 'on-read';
  // The kko cache dir: the index of what an open learnt is kept there (both modes write it; on-read reads it).
  readonly indexCache?: string;
  // Hash the archive's bytes with sha256 too (`archive.sha256`; publish records it).
  readonly archiveSha256?: boolean;
  // Small blobs to keep besides the manifests (#12: image signature payloads, signatureBlobKeeper).
  readonly keep?: ScanOptions['keep'];
  // Accept blobs that cannot be read in place (a .tar.gz or .tar.zst another tool compressed them in): they are read
  // only in archive order, by a second pass over the file (push's sequential pass, src/push/stream.ts), and getBlob
  // refuses them. Without it (serve) such an artifact is refused on open.
  readonly sequential?: boolean;
};

// What the pass saw of the archive itself: the writer's facts publish records so pull can write it again, the
// documents and kept blobs push --verify-images checks (#12).
export type ArchiveFacts = ScanResult;

// How the store was opened and what it read: `index` hit (no pass), miss (a pass, index written when cached), off.
export type ArtifactStoreStats = {
  readonly verify: 'full' | 'on-read';
  readonly index: 'hit' | 'miss' | 'off';
  blobBytesRead: number; // blob bytes read from the artifact file since open
};

function verifyRefused(path: string, report: VerifyReport): ArtifactProblemsError {
  return new ArtifactProblemsError(
    `opening artifact ${path}: it fails verification: ${summarizeProblems(report.problems)}`,
    report.problems,
  );
}

// A blob that can be read neither from memory nor in place: a .tar.gz (.tar.zst) written by another tool compressed it.
const inOrderOnly = (b: Blob): boolean => !b.bytes && !b.spans && b.size > 0;

// The error for such blobs when the caller needs random access (serve).
function unservable(path: string, blobs: ReadonlyMap<string, Blob>): KkoError | undefined {
  const bad = [...blobs.entries()].filter(([, b]) => inOrderOnly(b));
  if (bad.length === 0) return undefined;
  const [hex, b] = bad[0] as [string, Blob];
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more)` : '';
  return new KkoError(
    'INVALID_INPUT',
    `opening artifact ${path}: blob sha256:${hex} (${b.size} bytes) is deflated in the archive${more}, so it cannot be read in place`,
    {
      hint: `import it to a directory and serve that (kko artifact import ${path} --dir DIR, then kko artifact serve DIR), or decompress it to a .tar (gunzip -k / zstd -d), which is read in place`,
    },
  );
}

// What an open built: the scan (or its stand-in from the index), the blob table, and the records for the index.
type Built = {
  scan: ScanResult;
  blobs: Map<string, Blob>;
  files?: Map<string, Blob>; // the other regular files by name (publish reads them in place where it can)
  records?: readonly IndexedFile[];
  indexable: boolean;
};

// One pass through the artifact (hashing everything, or only the metadata for on-read).
async function passOver(path: string, files: SourceFiles, opts: ArtifactStoreOptions): Promise<Built> {
  const onRead = opts.verify === 'on-read';
  const table = new BlobTable(files, { ...opts, index: opts.indexCache !== undefined });
  const scan = await scanArtifact(path, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(onRead ? { hash: 'kept' as const, md5: false } : { md5: false }),
    ...(opts.archiveSha256 ? { archiveSha256: true } : {}),
    ...(opts.keep ? { keep: opts.keep } : {}),
    locate: { trace: table.trace, onFile: (f, w) => table.onFile(f, w) },
  });
  await table.settle();
  await files.check({ paths: true }); // the pass read (by path) the very files held open
  return { scan, blobs: table.blobs, files: table.files, records: table.records, indexable: table.indexable };
}

function verifyOf(built: Built, opts: ArtifactStoreOptions & Required<Pick<ArtifactStoreOptions, 'catalog'>>) {
  return verifyScan(
    built.scan,
    trustOfScan(built.scan, {
      catalog: opts.catalog,
      ...(opts.verifyInventory ? { verifyInventory: opts.verifyInventory } : {}),
    }),
  );
}

// An on-read open of an artifact indexed before: its metadata read again and verified, the spans from the index.
// Anything wrong with the index (unreadable, damaged, metadata that no longer verifies) makes it a miss.
async function fromCache(
  path: string,
  files: SourceFiles,
  opts: ArtifactStoreOptions & Required<Pick<ArtifactStoreOptions, 'catalog'>>,
): Promise<{ built: Built; report: VerifyReport } | undefined> {
  // An index hit rebuilds only the metadata: a caller that wants more of the pass (kept blobs, the archive's sha256)
  // gets a pass.
  if (opts.verify !== 'on-read' || opts.indexCache === undefined || opts.keep || opts.archiveSha256) return undefined;
  const index = await loadIndex(opts.indexCache, files.identity());
  if (!index) return undefined;
  try {
    const { scan, blobs } = await fromIndex(path, files, index, opts);
    const built = { scan, blobs, records: index.files, indexable: true };
    const report = verifyOf(built, opts);
    return report.ok ? { built, report } : undefined;
  } catch {
    return undefined;
  }
}

// One blob of the second pass (ArtifactStore.inOrder): open() streams its body once, hashed as it streams.
export type InOrderBlob = { readonly desc: Descriptor; open(): Readable };

export class ArtifactStore implements ContentSource {
  readonly description: string;
  readonly #path: string;
  readonly report: VerifyReport;
  readonly stats: ArtifactStoreStats;
  readonly #files: SourceFiles;
  readonly #blobs: ReadonlyMap<string, Blob>;
  readonly #other: ReadonlyMap<string, Blob>;
  readonly archive: ArchiveFacts;
  readonly #names: NamedManifests;
  readonly #entries: readonly Descriptor[];
  readonly #index: { dir: string; records: readonly IndexedFile[]; verified: number } | undefined;
  // The kk release kko/inventory.json says the artifact was made for (push names images by it); undefined for kk's.
  readonly kkVersion: string | undefined;
  // #12 item 3: the sha256 of kko/inventory.json (what a delta names as its base), and the delta field when it is one.
  readonly inventorySha256: string | undefined;
  readonly delta: Delta | undefined;

  private constructor(
    path: string,
    report: VerifyReport,
    files: SourceFiles,
    built: Built,
    stats: ArtifactStoreStats,
    dir?: string,
  ) {
    const { scan, blobs } = built;
    this.description = `artifact ${path}`;
    this.#path = path;
    this.report = report;
    this.stats = stats;
    this.#files = files;
    this.#blobs = blobs;
    this.#other = built.files ?? new Map();
    this.archive = scan;
    const layout = scan.docs.get(INDEX_NAME);
    const index: ImageIndex = layout ? parseLayoutIndex(layout) : { schemaVersion: 2, manifests: [] };
    const inv = scan.docs.get(INVENTORY_NAME);
    const doc = inv ? parseInventory(inv) : undefined; // parsed once (verify passed: it parses)
    const rows: InventoryImage[] = doc ? inventoryImages(doc) : [];
    this.#names = new NamedManifests(
      new ImageNames(index, rows, scan.manifests, (d) => blobs.has(d.slice(7))),
      scan.manifests,
    );
    this.#entries = index.manifests;
    this.kkVersion = doc?.kk?.version; // export/inventory.ts writes it when the manifests name binaries
    this.#index =
      dir !== undefined && built.records && built.indexable
        ? { dir, records: built.records, verified: this.#verifiedCount() }
        : undefined;
    this.inventorySha256 = inv ? createHash('sha256').update(inv).digest('hex') : undefined;
    this.delta = doc?.delta;
  }

  // images/index.json's entries (ref names <full ref>-<arch> in their annotations), as OciLayout.entries() gives them.
  entries(): Descriptor[] {
    return [...this.#entries];
  }

  // Open and verify `path` (the file, the first part of a split artifact, or a quoted ART.part-* pattern). Throws
  // ArtifactProblemsError (ARTIFACT_CORRUPT) when it fails verify, INVALID_INPUT when a blob cannot be read in place.
  static async open(path: string, opts: ArtifactStoreOptions = {}): Promise<ArtifactStore> {
    const all = { ...opts, catalog: opts.catalog ?? (await loadCatalog()) };
    const files = await SourceFiles.open(await resolveArtifactSource(path));
    try {
      const hit = await fromCache(path, files, all);
      const built = hit?.built ?? (await passOver(path, files, all));
      const report = hit?.report ?? verifyOf(built, all);
      if (!report.ok) throw verifyRefused(path, report);
      const bad = all.sequential ? undefined : unservable(path, built.blobs);
      if (bad) throw bad;
      const stats = {
        verify: all.verify ?? 'full',
        index: hit ? 'hit' : all.indexCache !== undefined ? 'miss' : 'off',
        blobBytesRead: 0,
      } as const;
      const store = new ArtifactStore(path, report, files, built, { ...stats }, all.indexCache);
      if (!hit) await store.#storeIndex();
      return store;
    } catch (err) {
      await files.close();
      throw err;
    }
  }

  // Keep the index (again at close when reads verified more blobs), for the files exactly as they were opened.
  async #storeIndex(): Promise<void> {
    const ix = this.#index;
    if (!ix || !(await this.#files.unchanged())) return;
    ix.verified = this.#verifiedCount();
    await storeIndex(ix.dir, {
      format: INDEX_FORMAT,
      key: this.#files.identity(),
      compression: this.report.compression,
      archiveBytes: this.#files.size,
      files: indexRecords(ix.records, this.#blobs),
    });
  }

  #verifiedCount(): number {
    let n = 0;
    for (const b of this.#blobs.values()) if (b.verified) n++;
    return n;
  }

  async close(): Promise<void> {
    if (this.#index && this.#verifiedCount() > this.#index.verified) await this.#storeIndex().catch(() => undefined);
    await this.#files.close();
  }

  // Every repository with an image ("registry/repository"), sorted.
  repositories(): string[] {
    return this.#names.names.repositories();
  }

  // The upstream index <registry>/<repository>:<tag> answers with, when the artifact kept it whole.
  upstreamIndex(ref: Reference): Digest | undefined {
    return this.#names.upstreamIndexOf(ref);
  }

  inventory(): Buffer | undefined {
    return this.archive.docs.get(INVENTORY_NAME);
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

  // The blobs that can be read only in archive order (opened with `sequential`): digest → size.
  sequentialBlobs(): Map<Digest, number> {
    const out = new Map<Digest, number>();
    for (const [hex, b] of this.#blobs) if (inOrderOnly(b)) out.set(`sha256:${hex}` as Digest, b.size);
    return out;
  }

  // The second pass over the archive (inflating it once more) for the blobs only it can read: those `want` picks, in
  // archive order. Each must be opened (or left) before the next is asked for; a body left is skipped. A body fails
  // with DIGEST_MISMATCH at its end when the bytes are not the blob's. The files must be those opened (checked).
  async *inOrder(want: (digest: Digest) => boolean, opts: StoreOptions = {}): AsyncGenerator<InOrderBlob> {
    await this.#files.check({ paths: true }); // the pass reads by path: the very files held open
    const art = await openArtifact(this.#path, {}, { md5: false });
    try {
      for await (const entry of art.entries) {
        opts.signal?.throwIfAborted();
        const hex = entry.type === 'file' ? blobHex(entry.name) : undefined;
        const b = hex === undefined ? undefined : this.#blobs.get(hex);
        const digest = `sha256:${hex}` as Digest;
        if (!b || !inOrderOnly(b) || b.size !== entry.size || !want(digest)) continue;
        const desc = { mediaType: 'application/octet-stream', digest, size: b.size };
        let opened = false;
        const open = (): Readable => {
          if (opened)
            throw new KkoError(
              'INTERNAL',
              `reading blob ${digest} from ${this.description}: its body was read already`,
            );
          opened = true;
          const what = `reading blob ${digest} from ${this.description}`;
          const body = Readable.from(this.#count(entry.body), { objectMode: false });
          return through(body, new VerifyStream(desc, what, () => (b.verified = true)));
        };
        yield { desc, open };
      }
    } catch (err) {
      throw await art.explain(err);
    } finally {
      art.close();
    }
    await this.#files.check({ paths: true });
  }

  async *#count(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      this.stats.blobBytesRead += chunk.length;
      yield chunk;
    }
  }

  // A blob of the layout whatever repository asks (a delta's base serves the blobs a delta leaves out, #12 item 3).
  layoutBlob(digest: Digest): Descriptor | undefined {
    const b = /^sha256:[a-f0-9]{64}$/.test(digest) ? this.#blobs.get(digest.slice(7)) : undefined;
    return b ? { mediaType: 'application/octet-stream', digest, size: b.size } : undefined;
  }

  // A blob of any repository the artifact has (all its images share one layout); undefined for an unknown repository.
  async headBlob(ref: Reference, digest: Digest): Promise<Descriptor | undefined> {
    const b = this.#blob(ref, digest);
    return b ? { mediaType: 'application/octet-stream', digest, size: b.size } : undefined;
  }

  // The blob from memory or read in place. A whole read is hashed as it streams (DIGEST_MISMATCH at its end). A read
  // from an offset (`length` bytes, default to the end) of a verified blob cannot be, and is trusted because these
  // bytes hashed to the name before and the file has not changed since (checked here: inode, size and mtime). A blob
  // not yet verified (on-read) is read whole through the hash, and only the range asked for flows on.
  async getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const b = this.#blob(ref, desc.digest);
    if (!b)
      throw new KkoError(
        'BLOB_UNKNOWN',
        `getting blob ${desc.digest} of ${ref.registry}/${ref.repository}: not in ${this.description}`,
      );
    return this.#open(b, desc, opts);
  }

  // getBlob of the layout whatever repository asks (a delta's base, #12 item 3).
  async getLayoutBlob(desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const b = /^sha256:[a-f0-9]{64}$/.test(desc.digest) ? this.#blobs.get(desc.digest.slice(7)) : undefined;
    if (!b) throw new KkoError('BLOB_UNKNOWN', `getting blob ${desc.digest}: not in ${this.description}`);
    return this.#open(b, desc, opts);
  }

  async #open(b: Blob, desc: Descriptor, opts: BlobReadOptions): Promise<Readable> {
    const start = opts.offset ?? 0;
    const end = opts.length === undefined ? b.size : start + opts.length;
    if (start < 0 || end > b.size || start > end)
      throw new KkoError(
        'INVALID_INPUT',
        `getting blob ${desc.digest}: range ${start}-${end} is outside its ${b.size} bytes`,
      );
    if (b.bytes) return Readable.from([b.bytes.subarray(start, end)]);
    if (!b.spans)
      throw new KkoError(
        'INVALID_INPUT',
        `getting blob ${desc.digest} from ${this.description}: it is compressed in the archive and can be read only in archive order`,
        { hint: 'kko artifact images push reads such blobs in a second pass; to serve it, import it to a directory' },
      );
    await this.#files.check();
    const whole = start === 0 && end === b.size;
    const [from, to] = b.verified ? [start, end] : [0, b.size];
    const body = Readable.from(this.#read(b.spans as Spans, from, to), { objectMode: false });
    if (b.verified && !(whole && opts.verify !== false)) return body;
    const what = `reading blob ${desc.digest} from ${this.description}`;
    const verified = through(
      body,
      new VerifyStream({ digest: desc.digest, size: b.size }, what, () => (b.verified = true)),
    );
    return whole ? verified : through(verified, new SliceStream(start, end));
  }

  // The bytes [from, to) of a blob's spans, counted in stats.blobBytesRead.
  async *#read(spans: Spans, from: number, to: number): AsyncGenerator<Buffer> {
    for await (const chunk of readSpans(this.#files, spans, from, to)) {
      this.stats.blobBytesRead += chunk.length;
      yield chunk;
    }
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
    if (!this.#names.has(ref.registry, ref.repository)) return undefined;
    return /^sha256:[a-f0-9]{64}$/.test(digest) ? this.#blobs.get(digest.slice(7)) : undefined;
  }
}

// Passes on only the stream bytes [start, end) (the rest still flows through the hash before it).
class SliceStream extends Transform {
  #at = 0;
  readonly #from: number;
  readonly #to: number;
  constructor(from: number, to: number) {
    super();
    this.#from = from;
    this.#to = to;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const at = this.#at;
    this.#at += chunk.length;
    const from = Math.max(this.#from - at, 0);
    const to = Math.min(this.#to - at, chunk.length);
    done(null, to > from ? chunk.subarray(from, to) : undefined);
  }
}
