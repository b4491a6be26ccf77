import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { isKkoError, KkoError } from '../errors.js';
import { prepareSink, type Compression, type ZstdLoader } from './compress.js';
import { sourceDateEpoch, writeTar, type ArchiveSink, type TarEntry } from './tar.js';

export type { Compression } from './compress.js';

// stdout: the stream that output '-' writes to (the CLI passes process.stdout; it is left open).
// level: gzip 1..9 (default 6) or zstd level (default 3). loadZstd: replaces the zstd library (tests).
export type WriteArchiveOptions = { stdout?: Writable; level?: number; loadZstd?: ZstdLoader };

function wrap(err: unknown, output: string): KkoError {
  return isKkoError(err) ? err : new KkoError('IO_ERROR', `writing artifact ${output}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

type MakeSink = (out: Writable) => ArchiveSink;

// Write the archive into `out` and finish the compressed stream (the stream itself stays open).
async function writeInto(entries: TarEntry[], out: Writable, makeSink: MakeSink, mtime: number): Promise<void> {
  const sink = makeSink(out);
  await writeTar(entries, sink, { mtime });
  await sink.end();
}

// Write to `<output>.kko-partial-<pid>-<random>` (two runs with one -o never share it), rename when complete;
// on any failure remove the temp file.
async function writeFileAtomically(entries: TarEntry[], output: string, makeSink: MakeSink, mtime: number): Promise<void> {
  await mkdir(dirname(output), { recursive: true });
  const tmp = `${output}.kko-partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = createWriteStream(tmp);
  try {
    await writeInto(entries, file, makeSink, mtime);
    file.end();
    await finished(file);
    await rename(tmp, output);
  } catch (err) {
    file.destroy();
    if (!file.closed) await once(file, 'close').catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

// Stream the tar (gzip, zstd or plain) to a temp name beside the output and rename only when complete;
// output '-' streams to opts.stdout instead (nothing to rename, nothing to clean up).
export async function writeArchive(entries: TarEntry[], output: string, compress: Compression, env: NodeJS.ProcessEnv, opts: WriteArchiveOptions = {}): Promise<void> {
  const sinkOpts = { ...(opts.level === undefined ? {} : { level: opts.level }), ...(opts.loadZstd ? { loadZstd: opts.loadZstd } : {}) };
  const makeSink = await prepareSink(compress, sinkOpts); // an unloadable codec fails before any file exists
  const mtime = sourceDateEpoch(env);
  if (output === '-' && !opts.stdout) throw new KkoError('INTERNAL', 'writing artifact to "-": no output stream given');
  try {
    if (output === '-' && opts.stdout) await writeInto(entries, opts.stdout, makeSink, mtime);
    else await writeFileAtomically(entries, output, makeSink, mtime);
  } catch (err) {
    throw wrap(err, output === '-' ? 'to standard output' : output);
  }
}
