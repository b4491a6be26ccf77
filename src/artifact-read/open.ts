import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline, Transform } from 'node:stream';
import { KkoError } from '../errors.js';
import { decompress, readTar, type ArchiveCompression, type ArchiveEntry, type ReadOptions } from '../archive/reader.js';

// An artifact file opened for one pass: its entries, and the MD5 of the file bytes (what kk keeps in artifact.md5).
export type OpenedArtifact = {
  readonly compression: ArchiveCompression;
  readonly size: number;
  readonly entries: AsyncGenerator<ArchiveEntry>;
  md5(): Promise<string>;
  close(): void;
};

async function statArtifact(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new KkoError('INVALID_INPUT', `reading artifact ${path}: not a regular file`);
    return info.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KkoError('FILE_NOT_FOUND', `reading artifact ${path}: no such file`);
    throw err instanceof KkoError ? err : new KkoError('IO_ERROR', `reading artifact ${path}: ${String(err)}`, { cause: err });
  }
}

// MD5 of the whole file, read again: only when the pass did not see every byte (e.g. bytes after the gzip stream).
async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Open an artifact (gzip or plain tar, by magic bytes) and hash the file bytes as they stream past.
export async function openArtifact(path: string, opts: ReadOptions = {}): Promise<OpenedArtifact> {
  const size = await statArtifact(path);
  const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const hash = createHash('md5');
  let seen = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      seen += chunk.length;
      cb(null, chunk);
    },
  });
  pipeline(file, tap, () => undefined); // a read error destroys the tap with it; the reader reports it
  const { compression, stream } = await decompress(tap);
  let md5: string | undefined;
  return {
    compression,
    size,
    entries: readTar(stream, opts),
    md5: async () => (md5 ??= seen === size ? hash.digest('hex') : await md5OfFile(path)),
    close: () => {
      file.destroy();
      stream.destroy();
    },
  };
}
