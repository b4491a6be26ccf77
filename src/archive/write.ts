import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { acquireLock, tryLock } from '../cache/lock.js';
import { syncDir, WriteBehind } from '../util/durable.js';
import { abortReason, isKkoError, KkoError } from '../errors.js';
import { prepareSink, type Compression, type ZstdLoader } from './compress.js';
import { FileOut } from './file-out.js';
import { parsePartName, partsListName } from './parts.js';
import { commitParts, SplitSink } from './split-sink.js';
import { writeTarAt } from './tar-at.js';
import {
  sourceDateEpoch,
  writeTar,
  type ArchiveSink,
  type PositionalOutput,
  type PositionalSink,
  type TarEntry,
} from './tar.js';

export type { Compression } from './compress.js';

// stdout: the stream that output '-' writes to (the CLI passes process.stdout; it is left open).
// level: gzip 1..9 (default 6) or zstd level (default 3). loadZstd: replaces the zstd library (tests).
// signal: abort the write (Ctrl-C); the temp file is removed and the signal's reason thrown.
// splitSize: write `<output>.part-000`, `-001`, … of at most this many bytes (and `<output>.parts.sha256`) instead
// of one file; their concatenation is byte for byte the archive a write without it gives.
export type WriteArchiveOptions = {
  stdout?: Writable;
  level?: number;
  loadZstd?: ZstdLoader;
  signal?: AbortSignal;
  splitSize?: number;
  // Runs once every byte is written, before anything is renamed to the output name; a throw removes the temp files
  // (export #10: the archive is written while layers arrive, and kept only if the finished export matches it).
  beforeCommit?: () => Promise<void>;
};
// The files written: the output, or its parts in order (with the sha256 list beside them).
export type WrittenArchive = { readonly files: readonly string[]; readonly partsList?: string };

function wrap(err: unknown, output: string): KkoError {
  return isKkoError(err)
    ? err
    : new KkoError('IO_ERROR', `writing artifact ${output}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
}

type MakeSink = (out: Writable) => ArchiveSink;
// How the file is written: streamed in archive order through a sink, or by position (writeTarAt) over one.
type FileWrite = { stream: MakeSink } | { at: (out: PositionalOutput) => PositionalSink };

// Write the archive into `out` and finish the compressed stream (the stream itself stays open).
async function writeInto(
  entries: TarEntry[],
  out: Writable,
  makeSink: MakeSink,
  mtime: number,
  signal?: AbortSignal,
): Promise<void> {
  const sink = makeSink(out);
  await writeTar(entries, sink, { mtime, signal });
  await sink.end();
}

// Write to `<output>.kko-partial-<pid>-<random>` (two runs with one -o never share it), rename when complete;
// on any failure remove the temp file. Its owner record is `<temp>.lock` (pid, host, token; see cache/lock.ts),
// taken before the temp file exists and dropped after it is gone, so a partial without a live owner is a leftover.
// Split: the parts are `<temp>.part-NNN` under the same lock, and all of them are renamed only at the end.
// `how.at`: written by position (writeTarAt), file entries in the order they are ready.
async function writeFileAtomically(
  entries: TarEntry[],
  output: string,
  how: FileWrite,
  mtime: number,
  opts: WriteArchiveOptions,
): Promise<WrittenArchive> {
  await mkdir(dirname(output), { recursive: true });
  const tmp = `${output}${PARTIAL_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  const release = await acquireLock(`${tmp}.lock`, { timeoutMs: 0 });
  try {
    if ('at' in how) {
      try {
        await writePositional(entries, tmp, how.at, mtime, opts.signal);
        await opts.beforeCommit?.();
        await rename(tmp, output);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      await syncDir(dirname(output));
      return { files: [output] };
    }
    const split = opts.splitSize === undefined ? undefined : new SplitSink(tmp, opts.splitSize, output);
    // One file: written through FileOut with writeback started every 64 MiB (WriteBehind; the parts have their own).
    const fh = split ? undefined : await open(tmp, 'w');
    const behind = fh && new WriteBehind(fh);
    const file = split ?? new FileOut(fh as FileHandle, (n) => behind?.wrote(n));
    try {
      await writeInto(entries, file, how.stream, mtime, opts.signal);
      file.end();
      await finished(file);
      if (fh && behind) {
        await behind.sync(); // the parts are synced as each is closed
        await fh.close();
      }
      await opts.beforeCommit?.();
      const files = split ? await commitParts(split, tmp, output) : [output];
      if (!split) await rename(tmp, output);
      await syncDir(dirname(output));
      return split ? { files, partsList: partsListName(output) } : { files };
    } catch (err) {
      file.destroy();
      if (!file.closed) await once(file, 'close').catch(() => undefined);
      await split?.idle();
      await behind?.settle().catch(() => undefined);
      await fh?.close().catch(() => undefined); // closed already after a failed rename or beforeCommit: EBADF, ignored
      for (const path of split ? split.created : [tmp]) await rm(path, { force: true });
      throw err;
    }
  } finally {
    await release?.();
  }
}

// writeTarAt into `tmp` over the sink `sink` makes, closed after (the caller removes it on a failure).
async function writePositional(
  entries: TarEntry[],
  tmp: string,
  sink: (out: PositionalOutput) => PositionalSink,
  mtime: number,
  signal?: AbortSignal,
): Promise<void> {
  const fh = await open(tmp, 'w');
  const behind = new WriteBehind(fh);
  try {
    await writeTarAt(entries, fh, { mtime, signal, sink, onWritten: (n) => behind.wrote(n) });
    await behind.sync(); // on disk before it is renamed to the output name
  } catch (err) {
    await behind.settle().catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw err;
  }
  await fh.close();
}

const PARTIAL_INFIX = '.kko-partial-';

// The temp name a partial file belongs to: itself, or for a part (or the parts list) the temp name before `.part-NNN`.
function partialStem(name: string): string {
  return parsePartName(name)?.base ?? name.replace(/\.parts\.sha256$/, '');
}

// Remove the `<output>.kko-partial-*` files of runs that died (kill -9, power loss) writing `output`, split parts
// included; a live run's files (their owner lock is held) stay. Returns the paths removed.
export async function removeStalePartials(output: string): Promise<string[]> {
  const prefix = `${basename(output)}${PARTIAL_INFIX}`;
  const dir = dirname(output);
  const names = await readdir(dir).catch(() => [] as string[]);
  const byStem = new Map<string, string[]>();
  for (const name of names.filter((n) => n.startsWith(prefix) && !n.endsWith('.lock')))
    byStem.set(partialStem(name), [...(byStem.get(partialStem(name)) ?? []), name]);
  const removed: string[] = [];
  for (const [stem, group] of byStem) {
    const release = await tryLock(join(dir, `${stem}.lock`));
    if (!release) continue;
    for (const name of group.sort()) {
      await rm(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
    await release();
  }
  return removed;
}

// Stream the tar (gzip, zstd or plain) to a temp name beside the output and rename only when complete;
// output '-' streams to opts.stdout instead (nothing to rename, nothing to clean up).
export async function writeArchive(
  entries: TarEntry[],
  output: string,
  compress: Compression,
  env: NodeJS.ProcessEnv,
  opts: WriteArchiveOptions = {},
): Promise<WrittenArchive> {
  const sinkOpts = {
    ...(opts.level === undefined ? {} : { level: opts.level }),
    ...(opts.loadZstd ? { loadZstd: opts.loadZstd } : {}),
  };
  const makeSink = await prepareSink(compress, sinkOpts); // an unloadable codec fails before any file exists
  const mtime = sourceDateEpoch(env);
  if (output === '-' && !opts.stdout) throw new KkoError('INTERNAL', 'writing artifact to "-": no output stream given');
  if (output === '-' && opts.splitSize !== undefined)
    throw new KkoError('INVALID_INPUT', 'writing artifact to standard output: it cannot be split into parts', {
      hint: 'give --split-size an output file (-o ART.tar.gz), or pipe through `split`',
    });
  if (opts.splitSize !== undefined && !(Number.isSafeInteger(opts.splitSize) && opts.splitSize > 0))
    throw new KkoError(
      'INTERNAL',
      `writing artifact ${output}: split size ${opts.splitSize} is not a positive whole number`,
    );
  try {
    // One file is written by position (any compression), unless an entry is a stream (read in order); parts and
    // standard output are streamed in archive order.
    const at = opts.splitSize === undefined && entries.every((e) => !('open' in e)) ? makeSink : undefined;
    if (output !== '-')
      return await writeFileAtomically(entries, output, at ? { at } : { stream: makeSink }, mtime, opts);
    await writeInto(entries, opts.stdout as Writable, makeSink, mtime, opts.signal);
    return { files: [] };
  } catch (err) {
    throw abortReason(wrap(err, output === '-' ? 'to standard output' : output), opts.signal);
  }
}
