import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { acquireLock, tryLock } from '../cache/lock.js';
import { abortReason, isKkoError, KkoError } from '../errors.js';
import { prepareSink, type Compression, type ZstdLoader } from './compress.js';
import { sourceDateEpoch, writeTar, type ArchiveSink, type TarEntry } from './tar.js';

export type { Compression } from './compress.js';

// stdout: the stream that output '-' writes to (the CLI passes process.stdout; it is left open).
// level: gzip 1..9 (default 6) or zstd level (default 3). loadZstd: replaces the zstd library (tests).
// signal: abort the write (Ctrl-C); the temp file is removed and the signal's reason thrown.
export type WriteArchiveOptions = { stdout?: Writable; level?: number; loadZstd?: ZstdLoader; signal?: AbortSignal };

function wrap(err: unknown, output: string): KkoError {
  return isKkoError(err) ? err : new KkoError('IO_ERROR', `writing artifact ${output}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

type MakeSink = (out: Writable) => ArchiveSink;

// Write the archive into `out` and finish the compressed stream (the stream itself stays open).
async function writeInto(entries: TarEntry[], out: Writable, makeSink: MakeSink, mtime: number, signal?: AbortSignal): Promise<void> {
  const sink = makeSink(out);
  await writeTar(entries, sink, { mtime, signal });
  await sink.end();
}

// Write to `<output>.kko-partial-<pid>-<random>` (two runs with one -o never share it), rename when complete;
// on any failure remove the temp file. Its owner record is `<temp>.lock` (pid, host, token; see cache/lock.ts),
// taken before the temp file exists and dropped after it is gone, so a partial without a live owner is a leftover.
async function writeFileAtomically(entries: TarEntry[], output: string, makeSink: MakeSink, mtime: number, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(output), { recursive: true });
  const tmp = `${output}${PARTIAL_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  const release = await acquireLock(`${tmp}.lock`, { timeoutMs: 0 });
  const file = createWriteStream(tmp);
  try {
    await writeInto(entries, file, makeSink, mtime, signal);
    file.end();
    await finished(file);
    await rename(tmp, output);
  } catch (err) {
    file.destroy();
    if (!file.closed) await once(file, 'close').catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await release?.();
  }
}

const PARTIAL_INFIX = '.kko-partial-';

// Remove the `<output>.kko-partial-*` files of runs that died (kill -9, power loss) writing `output`; a live run's
// partial (its owner lock is held) stays. Returns the paths removed.
export async function removeStalePartials(output: string): Promise<string[]> {
  const prefix = `${basename(output)}${PARTIAL_INFIX}`;
  const dir = dirname(output);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(prefix) && !n.endsWith('.lock'))) {
    const path = join(dir, name);
    const release = await tryLock(`${path}.lock`);
    if (!release) continue;
    await rm(path, { force: true });
    await release();
    removed.push(path);
  }
  return removed;
}

// Stream the tar (gzip, zstd or plain) to a temp name beside the output and rename only when complete;
// output '-' streams to opts.stdout instead (nothing to rename, nothing to clean up).
export async function writeArchive(entries: TarEntry[], output: string, compress: Compression, env: NodeJS.ProcessEnv, opts: WriteArchiveOptions = {}): Promise<void> {
  const sinkOpts = { ...(opts.level === undefined ? {} : { level: opts.level }), ...(opts.loadZstd ? { loadZstd: opts.loadZstd } : {}) };
  const makeSink = await prepareSink(compress, sinkOpts); // an unloadable codec fails before any file exists
  const mtime = sourceDateEpoch(env);
  if (output === '-' && !opts.stdout) throw new KkoError('INTERNAL', 'writing artifact to "-": no output stream given');
  try {
    if (output === '-' && opts.stdout) await writeInto(entries, opts.stdout, makeSink, mtime, opts.signal);
    else await writeFileAtomically(entries, output, makeSink, mtime, opts.signal);
  } catch (err) {
    throw abortReason(wrap(err, output === '-' ? 'to standard output' : output), opts.signal);
  }
}
