import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, Readable, Transform } from 'node:stream';
import { isKkoError, KkoError } from '../errors.js';
import {
  decompress,
  readTar,
  type ArchiveCompression,
  type ArchiveEntry,
  type DecoderTrace,
  type ReadOptions,
} from '../archive/reader.js';
import { resolveArtifactSource, type ArtifactSource, type SourceFile } from './source.js';

// An artifact opened for one pass: its entries, and the MD5 of the file bytes (what kk keeps in artifact.md5; for a
// split artifact, of the parts joined, i.e. of the file kk would have been given).
export type OpenedArtifact = {
  readonly compression: ArchiveCompression;
  readonly size: number;
  readonly parts: number; // 1 for a single file
  readonly entries: AsyncGenerator<ArchiveEntry>;
  // Compressed bytes the decoder consumed and decompressed bytes it produced so far (both file-wide; for a plain tar
  // both are the tar offset read so far). A pair taken when an entry is yielded brackets where its body sits.
  position(): DecoderPosition;
  md5(): Promise<string>;
  // sha256 (hex) of the file bytes (the parts joined), when opened with `sha256: true` (publish, pull: #12).
  sha256(): Promise<string | undefined>;
  // The error to report for one the pass threw: for a split artifact, that of the part being read (checked against
  // its sha256 when the list has one), so the user knows which medium to copy again.
  explain(err: unknown): Promise<unknown>;
  close(): void;
};

export type DecoderPosition = { readonly compressed: number; readonly decompressed: number };

const READ_CHUNK = 1024 * 1024;

// The decompressed stream with a count of the bytes the reader pulled from it.
async function* counted(stream: Readable, pulled: { n: number }): AsyncGenerator<Buffer> {
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pulled.n += chunk.length;
    yield chunk;
  }
}

// Where the pass is: which file, how many of its bytes went by, and their running sha256 (when one is expected).
type Position = { index: number; offset: number; hash: Hash | undefined };

function partCorrupt(f: SourceFile, got: string, list: string | undefined, cause?: unknown): KkoError {
  return new KkoError(
    'ARTIFACT_CORRUPT',
    `reading artifact: part ${f.path} does not match ${list ?? 'its list'} (sha256 want ${f.sha256} got ${got})`,
    {
      hint: 'copy that part again from its medium; `sha256sum -c --ignore-missing` on the list checks the parts of one medium',
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

// The files' bytes as one stream, each part checked against its sha256 at its end (before the bytes after it flow).
async function* joined(src: ArtifactSource, at: Position): AsyncGenerator<Buffer> {
  for (const [i, f] of src.files.entries()) {
    Object.assign(at, { index: i, offset: 0, hash: f.sha256 ? createHash('sha256') : undefined });
    for await (const chunk of createReadStream(f.path, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>) {
      at.hash?.update(chunk);
      at.offset += chunk.length;
      yield chunk;
    }
    if (at.offset !== f.size)
      throw new KkoError(
        'IO_ERROR',
        `reading artifact ${f.path}: it changed while being read (${f.size} bytes before, ${at.offset} now)`,
      );
    const got = at.hash?.digest('hex');
    at.hash = undefined;
    if (got !== undefined && got !== f.sha256) throw partCorrupt(f, got, src.partsList);
  }
}

// A hash of the whole byte stream, read again: only when the pass did not see every byte (e.g. bytes after the gzip
// stream).
async function hashOfFiles(files: readonly SourceFile[], algorithm: 'md5' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm);
  for (const f of files)
    for await (const chunk of createReadStream(f.path, { highWaterMark: READ_CHUNK })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// The part being read when `err` happened: its sha256 finished from disk (error path only) decides whether the part
// is corrupt; otherwise the error is kept and the part named.
async function explainSplit(src: ArtifactSource, at: Position, err: unknown): Promise<unknown> {
  const f = src.files[at.index];
  if (!f || (isKkoError(err) && err.code === 'ARTIFACT_CORRUPT')) return err;
  if (at.hash) {
    const hash = at.hash.copy();
    if (at.offset < f.size)
      for await (const chunk of createReadStream(f.path, { start: at.offset, highWaterMark: READ_CHUNK }))
        hash.update(chunk as Buffer);
    const got = hash.digest('hex');
    if (got !== f.sha256) return partCorrupt(f, got, src.partsList, err);
  }
  if (!isKkoError(err)) return err;
  // With a list, every part before this one matched it, so the bad bytes are in this one; without, reading runs
  // ahead of the decompressor and only "this part or one before it" is known.
  const where = src.partsList
    ? `in part ${at.index + 1} of ${src.files.length}, ${f.path}`
    : `at or before part ${at.index + 1} of ${src.files.length}, ${f.path}`;
  const hint =
    err.hint ??
    (src.partsList
      ? undefined
      : 'keep the .parts.sha256 list beside the parts: kko then checks each part and names the corrupt one');
  return new KkoError(err.code, `${err.message} (${where})`, { cause: err, ...(hint ? { hint } : {}) });
}

// What openArtifact does besides reading: `trace`, what the decoder reports for random access later (artifact-store);
// md5: false skips the MD5 (md5() then resolves to ''), for a reader that never reports it (artifact-store).
// sha256: hash the file bytes with sha256 too (what publish records and pull checks its rebuild against).
export type OpenArtifactOptions = { readonly trace?: DecoderTrace; readonly md5?: boolean; readonly sha256?: boolean };

// Open an artifact (gzip, zstd or plain tar, by magic bytes; one file or its parts) and hash the bytes as they stream past.
export async function openArtifact(
  path: string,
  opts: ReadOptions = {},
  extra: OpenArtifactOptions = {},
): Promise<OpenedArtifact> {
  const src = await resolveArtifactSource(path);
  const at: Position = { index: 0, offset: 0, hash: undefined };
  const file = Readable.from(joined(src, at), { objectMode: false, highWaterMark: READ_CHUNK });
  const hash = extra.md5 === false ? undefined : createHash('md5');
  const sha = extra.sha256 ? createHash('sha256') : undefined;
  let seen = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash?.update(chunk);
      sha?.update(chunk);
      seen += chunk.length;
      cb(null, chunk);
    },
  });
  pipeline(file, tap, () => undefined); // a read error destroys the tap with it; the reader reports it
  const { compression, stream, compressedIn } = await decompress(tap, extra.trace);
  const pulled = { n: 0 };
  let md5: string | undefined;
  let sha256: string | undefined;
  return {
    compression,
    size: src.size,
    parts: src.files.length,
    entries: readTar(counted(stream, pulled), opts),
    // Produced = pulled by the reader + still buffered in the decoder's readable side.
    position: () => {
      const decompressed = pulled.n + stream.readableLength;
      return { compressed: compression === 'none' ? decompressed : compressedIn(), decompressed };
    },
    md5: async () => {
      if (!hash) return '';
      return (md5 ??= seen === src.size ? hash.digest('hex') : await hashOfFiles(src.files, 'md5'));
    },
    sha256: async () =>
      sha ? (sha256 ??= seen === src.size ? sha.digest('hex') : await hashOfFiles(src.files, 'sha256')) : undefined,
    explain: async (err) => (src.files.length > 1 || src.partsList ? explainSplit(src, at, err) : err),
    close: () => {
      file.destroy();
      stream.destroy();
    },
  };
}
