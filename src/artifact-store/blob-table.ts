import { createHash } from 'node:crypto';
import { blobHex } from '../artifact-read/docs.js';
import { DOC_NAMES, isManifestDoc, type FileLocation } from '../artifact-read/scan.js';
import type { FileRecord, ScanResult } from '../artifact-read/types.js';
import { MAX_INLINE, type ArtifactIndex, type IndexedFile } from './index-cache.js';
import type { SourceFiles } from './source-files.js';
import { locateStored, RawBlocks, readSpans, tarSpans, type Spans } from './spans.js';

// Where each blob of an open artifact is read from: memory (small blobs kept from the pass) or spans of the file.
// `verified`: its bytes hashed to its name (in the pass, or a whole read since); an on-read open leaves the big ones
// unverified until they are read.
export type Blob = { readonly size: number; readonly bytes?: Buffer; readonly spans?: Spans; verified: boolean };

export type TableOptions = {
  readonly smallBlob?: number;
  readonly memoryBudget?: number;
  readonly index?: boolean; // record what the index cache needs
};

const SMALL_BLOB = 1024 * 1024;
const MEMORY_BUDGET = 64 * 1024 * 1024;
const GZIP_PENDING = 16; // located layers waiting for their proof; the pass waits beyond that

// Small blobs go to memory while the budget lasts (the pass and an index hit decide alike).
class MemoryBudget {
  #kept = 0;
  constructor(readonly opts: TableOptions) {}
  take(size: number): boolean {
    if (size > (this.opts.smallBlob ?? SMALL_BLOB) || this.#kept + size > (this.opts.memoryBudget ?? MEMORY_BUDGET))
      return false;
    this.#kept += size;
    return true;
  }
}

// The blob table built during the pass, and (index) the records the index cache keeps; the other regular files
// (binaries, ISOs, kko/ documents) hashed in the pass by name, so publish (#12) reads them in place too where it can
// (a deflated binary in a .tar.gz has no spans: ArtifactStore.readFile says so).
export class BlobTable {
  readonly blobs = new Map<string, Blob>(); // hex → where
  readonly files = new Map<string, Blob>(); // name → where (files outside images/blobs/)
  readonly records: IndexedFile[] = [];
  #inline = 0;
  readonly #files: SourceFiles;
  readonly #raw = new RawBlocks();
  readonly #pending: Promise<void>[] = [];
  readonly #memory: MemoryBudget;
  constructor(
    files: SourceFiles,
    readonly opts: TableOptions,
  ) {
    this.#files = files;
    this.#memory = new MemoryBudget(opts);
  }

  get trace(): { rawBlock: RawBlocks['add'] } {
    return { rawBlock: this.#raw.add };
  }

  // Whether the records fit in an index (metadata a .tar.gz deflated is carried inline, within MAX_INLINE).
  get indexable(): boolean {
    return this.#inline <= MAX_INLINE;
  }

  async onFile(f: FileRecord, where: FileLocation): Promise<void> {
    const hex = blobHex(f.name);
    const rawSpans = where.compression === 'zstd' ? this.#raw.take(where.offset, f.size) : undefined;
    const inPlace = where.compression === 'none' ? tarSpans(where.offset, f.size) : rawSpans;
    const usable = hex !== undefined && (f.sha256 !== undefined ? f.sha256 === hex : Boolean(f.deferred));
    const inMemory = usable && where.bytes !== undefined && this.#memory.take(f.size);
    const record = this.#record(f, where, inPlace, inMemory);
    if (hex === undefined && f.sha256 !== undefined) return this.#file(f, f.sha256, where, inPlace);
    if (!usable) return; // not a blob, or a corrupt one (verify reports it)
    const verified = f.sha256 === hex;
    if (inMemory) return void this.blobs.set(hex, { size: f.size, bytes: where.bytes as Buffer, verified });
    if (where.compression !== 'gzip') return void this.#set(hex, record, { size: f.size, spans: inPlace, verified });
    const job = locateStored(this.#files, f.size, hex, where, { prove: verified }).then(
      (spans) => void this.#set(hex, record, { size: f.size, spans, verified }),
    );
    this.#pending.push(job);
    if (this.#pending.length >= GZIP_PENDING) await this.settle();
  }

  async #file(f: FileRecord, sha256: string, where: FileLocation, inPlace: Spans | undefined): Promise<void> {
    if (where.bytes !== undefined && this.#memory.take(f.size))
      return void this.files.set(f.name, { size: f.size, bytes: where.bytes, verified: true });
    if (where.compression !== 'gzip')
      return void this.files.set(f.name, { size: f.size, verified: true, ...(inPlace ? { spans: inPlace } : {}) });
    const job = locateStored(this.#files, f.size, sha256, where, { prove: true }).then(
      (spans) => void this.files.set(f.name, { size: f.size, verified: true, ...(spans ? { spans } : {}) }),
    );
    this.#pending.push(job);
    if (this.#pending.length >= GZIP_PENDING) await this.settle();
  }

  async settle(): Promise<void> {
    const jobs = this.#pending.splice(0);
    await Promise.all(jobs);
  }

  #set(hex: string, record: IndexedFile | undefined, b: { size: number; spans: Spans | undefined; verified: boolean }) {
    this.blobs.set(hex, { size: b.size, verified: b.verified, ...(b.spans ? { spans: b.spans } : {}) });
    if (record && b.spans) record.spans = [...b.spans];
  }

  // A document, a manifest or a blob kept in memory is loaded whole on an index hit: from its spans, else inline.
  #record(f: FileRecord, where: FileLocation, inPlace: Spans | undefined, inMemory: boolean): IndexedFile | undefined {
    if (!this.opts.index) return undefined;
    const bytes = where.bytes;
    const load = bytes !== undefined && (DOC_NAMES.has(f.name) || inMemory || isManifestDoc(bytes));
    const inline = load && !inPlace ? bytes.toString('base64') : undefined;
    this.#inline += inline?.length ?? 0;
    const r: IndexedFile = {
      name: f.name,
      size: f.size,
      ...(load && inPlace ? { spans: [...inPlace] } : {}),
      ...(inline !== undefined ? { bytes: inline } : {}),
      ...(load ? { load: true as const } : {}),
    };
    this.records.push(r);
    return r;
  }
}

// The records of an index with the blobs' verified state as it is now.
export function indexRecords(records: readonly IndexedFile[], blobs: ReadonlyMap<string, Blob>): IndexedFile[] {
  return records.map((r) => {
    const hex = blobHex(r.name);
    const { verified: _, ...rest } = r;
    return hex && blobs.get(hex)?.verified ? { ...rest, verified: true } : rest;
  });
}

async function wholeFile(files: SourceFiles, r: IndexedFile): Promise<Buffer> {
  if (r.bytes !== undefined) return Buffer.from(r.bytes, 'base64');
  const parts: Buffer[] = [];
  for await (const chunk of readSpans(files, Float64Array.from(r.spans ?? []), 0, r.size)) parts.push(chunk);
  return Buffer.concat(parts);
}

// An index hit: the scan an open would have made, from the index and the metadata read again (from the artifact by
// its spans, or inline) and hashed here, so verifyScan checks it as it checks a pass; blobs not loaded are deferred.
export async function fromIndex(
  path: string,
  files: SourceFiles,
  index: ArtifactIndex,
  opts: TableOptions,
): Promise<{ scan: ScanResult; blobs: Map<string, Blob> }> {
  const records = new Map<string, FileRecord>();
  const docs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const blobs = new Map<string, Blob>();
  const memory = new MemoryBudget(opts);
  for (const r of index.files) {
    const hex = blobHex(r.name);
    const spans = r.spans ? Float64Array.from(r.spans) : undefined;
    if (!r.load) {
      records.set(r.name, { name: r.name, size: r.size, deferred: true });
      if (hex) blobs.set(hex, { size: r.size, verified: Boolean(r.verified), ...(spans ? { spans } : {}) });
      continue;
    }
    const bytes = await wholeFile(files, r);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    records.set(r.name, { name: r.name, size: bytes.length, sha256 });
    if (DOC_NAMES.has(r.name)) docs.set(r.name, bytes);
    if (hex && isManifestDoc(bytes)) manifests.set(hex, bytes);
    if (hex !== sha256) continue; // verify reports it
    if (memory.take(bytes.length)) blobs.set(hex, { size: bytes.length, bytes, verified: true });
    else if (spans) blobs.set(hex, { size: bytes.length, spans, verified: true });
  }
  const scan: ScanResult = {
    artifact: path,
    compression: index.compression,
    archiveBytes: index.archiveBytes,
    files: records,
    docs,
    manifests,
    md5: '',
  };
  return { scan, blobs };
}
