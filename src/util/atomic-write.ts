import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir } from './durable.js';
import { fsError } from './fs-errors.js';

// Write via a temp file in the same folder and rename, so no partial file is ever visible under the name. The temp
// name is unique per call: two writers of one target never share it (the last rename wins, whole). The bytes are
// fsynced before the rename and the folder after (a node config or a manifest lock must not come back empty after
// a power loss; util/durable.ts).
// `mode` is that of the new file (a private key's 0600): it has it from its creation, never a wider one.
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  { mode = 0o644 }: { mode?: number } = {},
): Promise<void> {
  const tmp = `${target}.kko-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dirname(target), { recursive: true });
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError('writing', target, err);
  }
  await syncDir(dirname(target));
}
