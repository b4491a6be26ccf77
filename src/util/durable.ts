import { open, type FileHandle } from 'node:fs/promises';

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

// Writeback started while a big file is still being written (#10): once every `every` bytes written, an fdatasync in
// the background (one at a time), so the fsync before the rename waits for the last stretch only. Without it the
// whole file's dirty pages (gigabytes for an export) wait in the page cache for that one fsync, which then takes
// seconds after the last byte. A background sync's failure is kept and thrown by sync(): the kernel reports a
// writeback error to one fsync only, so the final one could pass.
export class WriteBehind {
  readonly #fh: FileHandle;
  readonly #every: number;
  #since = 0;
  #running: Promise<void> | undefined;
  #failure: { err: unknown } | undefined;

  constructor(fh: FileHandle, every = 64 * 1024 * 1024) {
    this.#fh = fh;
    this.#every = every;
  }

  wrote(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#every || this.#running) return;
    this.#since = 0;
    this.#running = this.#fh.datasync().then(
      () => {
        this.#running = undefined;
      },
      (err: unknown) => {
        this.#running = undefined;
        this.#failure ??= { err };
      },
    );
  }

  // The sync in flight awaited (also on the failure path: the file is closed after), then the whole file fsynced.
  async settle(): Promise<void> {
    await this.#running;
    if (this.#failure) throw this.#failure.err;
  }

  async sync(): Promise<void> {
    await this.settle();
    await this.#fh.sync();
  }
}
