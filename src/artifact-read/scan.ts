import { createHash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KkoError } from '../errors.js';
import type { ArchiveEntry } from '../archive/reader.js';
import { SUMS_NAME } from '../archive/checksums.js';
import { blobHex, INDEX_NAME, INVENTORY_NAME, MANIFEST_NAME, OCI_LAYOUT_NAME, SIGNATURE_NAME } from './docs.js';
import type { ArchiveCompression, DecoderTrace } from '../archive/reader.js';
import { openArtifact, type DecoderPosition } from './open.js';
import type { FileRecord, ScanResult } from './types.js';

// Where an import puts each file's bytes while they are hashed; undefined: bytes are only hashed.
export type FileSink = (entry: ArchiveEntry) => Promise<Writable>;
// Import's early checks: `admit` sees each header before its body is read, `settle` each file once hashed (with the
// bytes of a document); either throws to stop the scan at that entry.
export type ScanGate = { admit(entry: ArchiveEntry): void; settle(file: FileRecord, doc: Buffer | undefined): void };
// Random access later (artifact-store): for each regular file once hashed, where its body starts in the tar stream,
// the decoder's position when its header was read, its first bytes, and its bytes when the scan kept them.
export type FileLocation = {
  readonly compression: ArchiveCompression;
  readonly offset: number;
  readonly at: DecoderPosition;
  readonly head: Buffer;
  readonly bytes?: Buffer;
};
export type LocateHooks = { trace?: DecoderTrace; onFile(file: FileRecord, where: FileLocation): void | Promise<void> };
// `keep` (#12): small blobs whose bytes the caller needs besides the documents and manifests (image signature
// payloads); it sees the documents read so far (kko writes them first) and its picks land in ScanResult.kept.
// hash: 'kept' hashes only the files whose bytes the scan keeps (documents, manifest candidates); the others are
// recorded `deferred`, to be hashed when read (artifact-store's on-read mode).
export type ScanOptions = {
  hash?: boolean | 'kept';
  sink?: FileSink;
  manifestBudget?: number;
  gate?: ScanGate;
  signal?: AbortSignal;
  locate?: LocateHooks;
  keep?: (name: string, docs: ReadonlyMap<string, Buffer>) => boolean;
  md5?: boolean; // false: no MD5 of the archive (ScanResult.md5 is then '')
  // #12 publish / pull: also the sha256 of the archive's bytes (ScanResult.sha256).
  archiveSha256?: boolean;
};

const HEAD_BYTES = 64;

export const DOC_NAMES: ReadonlySet<string> = new Set([
  SUMS_NAME,
  INVENTORY_NAME,
  SIGNATURE_NAME,
  MANIFEST_NAME,
  INDEX_NAME,
  OCI_LAYOUT_NAME,
]);
const MANIFEST_MAX = 4 * 1024 * 1024; // what registries accept for one manifest
const MANIFEST_BUDGET = 64 * 1024 * 1024;

// A blob is buffered only when it could be a manifest: small, and starting like a JSON object.
function mayBeManifest(entry: ArchiveEntry): boolean {
  return blobHex(entry.name) !== undefined && entry.size <= MANIFEST_MAX;
}

export function isManifestDoc(bytes: Buffer): boolean {
  if (bytes[0] !== 0x7b) return false; // '{'
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    return (
      doc.schemaVersion === 2 &&
      (Array.isArray(doc.manifests) || (typeof doc.config === 'object' && Array.isArray(doc.layers)))
    );
  } catch {
    return false;
  }
}

// Stream one body through the hash (and the sink); keep the bytes of documents and manifest candidates.
type Consumed = { sha256?: string; bytes?: Buffer; head?: Buffer };

async function consume(entry: ArchiveEntry, opts: ScanOptions): Promise<Consumed> {
  const keep: Buffer[] | undefined = DOC_NAMES.has(entry.name) || mayBeManifest(entry) ? [] : undefined;
  const hash = opts.hash === false || (opts.hash === 'kept' && !keep) ? undefined : createHash('sha256');
  let head: Buffer | undefined;
  const result = (): Consumed => ({
    ...(hash ? { sha256: hash.digest('hex') } : {}),
    ...(keep ? { bytes: Buffer.concat(keep) } : {}),
    ...(head ? { head } : {}),
  });
  if (!opts.sink) {
    // Only hashed: a plain loop, no stream objects per entry (tens of thousands of small entries made a pipeline
    // each, and their garbage took inspect past 256 MB RSS).
    for await (const chunk of entry.body as AsyncIterable<Buffer>) {
      opts.signal?.throwIfAborted();
      hash?.update(chunk);
      keep?.push(chunk);
      if (opts.locate && (head?.length ?? 0) < HEAD_BYTES)
        head = Buffer.concat([head ?? Buffer.alloc(0), chunk.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
    }
    return result();
  }
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash?.update(chunk);
      keep?.push(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(entry.body, tap, await opts.sink(entry), ...(opts.signal ? [{ signal: opts.signal }] : []));
  return result();
}

// One pass over the artifact: every regular file hashed (and written to the sink), small documents kept, the rest
// streamed through. Throws UNSAFE_ARCHIVE on hostile input, never returns a partial result.
export async function scanArtifact(path: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const art = await openArtifact(
    path,
    {},
    {
      ...(opts.locate?.trace ? { trace: opts.locate.trace } : {}),
      md5: opts.md5 !== false,
      sha256: opts.archiveSha256 === true,
    },
  );
  const files = new Map<string, FileRecord>();
  const docs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const extras = new Map<string, Buffer>();
  let kept = 0;
  const mtimes = new Set<number>();
  try {
    for await (const entry of art.entries) {
      opts.signal?.throwIfAborted();
      if (entry.type !== 'file') continue; // directories; links never get past the reader
      opts.gate?.admit(entry);
      mtimes.add(entry.mtime);
      const at = opts.locate ? art.position() : undefined;
      const { sha256, bytes, head } = await consume(entry, opts);
      const deferred = opts.hash === 'kept' && !sha256;
      const record = {
        name: entry.name,
        size: entry.size,
        ...(sha256 ? { sha256 } : {}),
        ...(deferred ? { deferred } : {}),
      };
      files.set(entry.name, record);
      if (at)
        await opts.locate?.onFile(record, {
          compression: art.compression,
          offset: entry.offset,
          at,
          head: head ?? Buffer.alloc(0),
          ...(bytes ? { bytes } : {}),
        });
      if (bytes && DOC_NAMES.has(entry.name)) docs.set(entry.name, bytes);
      opts.gate?.settle(record, DOC_NAMES.has(entry.name) ? bytes : undefined);
      const hex = blobHex(entry.name);
      const manifest = bytes && hex && isManifestDoc(bytes);
      const extra = bytes && hex && opts.keep?.(entry.name, docs); // bytes: only small blobs were kept by consume()
      if (manifest || extra) {
        kept += bytes.length;
        if (kept > (opts.manifestBudget ?? MANIFEST_BUDGET))
          throw new KkoError(
            'SIZE_LIMIT_EXCEEDED',
            `reading ${path}: more than ${MANIFEST_BUDGET} bytes of image manifests`,
          );
      }
      if (manifest) manifests.set(hex, bytes);
      if (extra) extras.set(entry.name, bytes);
    }
  } catch (err) {
    throw await art.explain(err); // a split artifact's error names the part being read
  } finally {
    art.close();
  }
  return {
    artifact: path,
    compression: art.compression,
    archiveBytes: art.size,
    files,
    docs,
    manifests,
    ...(opts.keep ? { kept: extras } : {}),
    md5: await art.md5(),
    mtimes,
    ...(opts.archiveSha256 ? { sha256: (await art.sha256()) as string } : {}),
  };
}
