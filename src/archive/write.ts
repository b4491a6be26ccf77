import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { isKkoError, KkoError } from '../errors.js';
import { sourceDateEpoch, writeTar, type TarEntry } from './tar.js';

export type Compression = 'gzip' | 'none';

// Stream the tar (gzip or plain) to a temp name beside the output and rename only when complete.
export async function writeArchive(entries: TarEntry[], output: string, compress: Compression, env: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(dirname(output), { recursive: true });
  const tmp = `${output}.kko-partial`;
  const file = createWriteStream(tmp);
  const gzip = compress === 'gzip' ? createGzip({ level: 6 }) : undefined;
  const sink: Writable = gzip ?? file;
  const done = gzip ? pipeline(gzip, file) : new Promise<void>((resolve, reject) => file.on('close', resolve).on('error', reject));
  try {
    await writeTar(entries, sink, { mtime: sourceDateEpoch(env) });
    sink.end();
    await done;
    await rename(tmp, output);
  } catch (err) {
    sink.destroy();
    await rm(tmp, { force: true });
    throw isKkoError(err) ? err : new KkoError('IO_ERROR', `writing artifact ${output}: ${String(err)}`, { cause: err });
  }
}
