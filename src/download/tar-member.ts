import { Readable } from 'node:stream';
import { readArchive } from '../archive/reader.js';
import { KkoError } from '../errors.js';

// One regular-file member streamed out of a (gzip'd) tar, e.g. linux-amd64/helm out of helm-<v>-linux-<arch>.tar.gz,
// through the same hostile-input-safe reader as artifacts. Nothing is written to disk.

// The bytes of member `name` of a (compressed) tar stream, from byte `skip` of the member on.
export function gzipTarMember(input: Readable, name: string, skip = 0): Readable {
  return Readable.from(asArchiveErrors(skipBytes(member(input, name), skip)));
}

async function* member(input: Readable, wanted: string): AsyncGenerator<Buffer> {
  const want = wanted.replace(/^\.\//, '');
  for await (const e of readArchive(input)) {
    if (e.type === 'file' && e.name.replace(/^\.\//, '') === want) {
      yield* e.body as AsyncIterable<Buffer>;
      return;
    }
  }
  throw new KkoError('DOWNLOAD_FAILED', `the archive has no member ${wanted}`);
}

// A download that is not the archive it claims (an HTML error page, a truncated or hostile tarball) is a failed
// download from that source: the caller moves on to the next one.
async function* asArchiveErrors(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    if (err instanceof KkoError && err.code === 'DOWNLOAD_FAILED') throw err;
    throw new KkoError(
      'DOWNLOAD_FAILED',
      `reading the downloaded archive: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

async function* skipBytes(source: AsyncIterable<Buffer>, skip: number): AsyncGenerator<Buffer> {
  let left = skip;
  for await (const chunk of source) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
