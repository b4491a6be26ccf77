import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsError } from './fs-errors.js';

// Write via a temp file in the same folder and rename, so no partial file is ever visible under the name.
export async function writeFileAtomic(target: string, text: string): Promise<void> {
  const tmp = `${target}.kko-tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError('writing', target, err);
  }
}
