import { open } from 'node:fs/promises';

// Before a finished file is renamed to its final name, its bytes must be on disk: else a crash (power loss) after the
// rename can leave a truncated file under the name that says it is complete. One fsync per file, then one of the
// directory once its entries are renamed (so the names themselves survive).

// fsync the file at `path` (written and closed by someone else; an fsync through any descriptor flushes the file).
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// fsync a directory, best effort: some systems cannot open or sync one (Windows, some network filesystems), and the
// files in it are synced already.
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // not supported here: the file data is durable, only the rename may be lost in a crash
  } finally {
    await fh.close();
  }
}
