import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsError } from './fs-errors.js';

// Write via a temp file in the same folder and rename, so no partial file is ever visible under the name. The temp
// name is unique per call: two writers of one target never share it (the last rename wins, whole).
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${target}.kko-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(tmp, data, { mode: 0o644 });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError('writing', target, err);
  }
}
