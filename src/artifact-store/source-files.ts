import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { KkoError } from '../errors.js';
import type { ArtifactSource } from '../artifact-read/source.js';
import { fsError } from '../util/fs-errors.js';

// The artifact's file(s) held open for positioned reads: offsets are into the bytes of all parts joined, as the pass
// saw them. Each file's identity (inode, size, mtime) is recorded when opened; check() refuses to go on when a
// file was changed in place since, because then what the pass hashed is no longer what a read returns.
type Held = {
  readonly path: string;
  readonly fh: FileHandle;
  readonly start: number;
  readonly size: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly identity: FileIdentity;
};

// What names one file's exact bytes as long as nobody writes it (the index cache's key): a write changes its mtime
// and ctime, and ctime cannot be set by a user (utimes sets mtime and atime, and sets ctime to now); a replaced file
// has another inode. Nanoseconds and device as decimal strings.
export type FileIdentity = {
  readonly path: string; // realpath
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
};

async function identityOf(path: string, fh: FileHandle): Promise<FileIdentity> {
  const s = await fh.stat({ bigint: true });
  return {
    path: await realpath(path),
    dev: String(s.dev),
    ino: String(s.ino),
    size: Number(s.size),
    mtimeNs: String(s.mtimeNs),
    ctimeNs: String(s.ctimeNs),
  };
}

const sameIdentity = (a: FileIdentity, b: FileIdentity): boolean =>
  a.path === b.path &&
  a.dev === b.dev &&
  a.ino === b.ino &&
  a.size === b.size &&
  a.mtimeNs === b.mtimeNs &&
  a.ctimeNs === b.ctimeNs;

export class SourceFiles {
  readonly size: number;
  readonly #files: readonly Held[];

  private constructor(files: readonly Held[], size: number) {
    this.#files = files;
    this.size = size;
  }

  static async open(src: ArtifactSource): Promise<SourceFiles> {
    const held: Held[] = [];
    let start = 0;
    try {
      for (const f of src.files) {
        const fh = await open(f.path, 'r').catch((err: unknown) =>
          Promise.reject(fsError('opening artifact', f.path, err)),
        );
        const info = await fh.stat();
        const identity = await identityOf(f.path, fh).catch((err: unknown) =>
          fh.close().then(() => Promise.reject(fsError('opening artifact', f.path, err))),
        );
        held.push({ path: f.path, fh, start, size: info.size, ino: info.ino, mtimeMs: info.mtimeMs, identity });
        start += info.size;
      }
    } catch (err) {
      await Promise.all(held.map((h) => h.fh.close().catch(() => undefined)));
      throw err;
    }
    return new SourceFiles(held, start);
  }

  // Throws ARTIFACT_CORRUPT when a file changed since it was opened, or (paths: true) when its path now names
  // another file than the one held (the pass reads by path, so it must have read the file held).
  async check(opts: { paths?: boolean } = {}): Promise<void> {
    for (const h of this.#files) {
      const now = opts.paths ? await stat(h.path).catch(() => undefined) : await h.fh.stat();
      if (now && now.ino === h.ino && now.size === h.size && now.mtimeMs === h.mtimeMs) continue;
      throw new KkoError(
        'ARTIFACT_CORRUPT',
        `reading artifact ${h.path}: it changed since it was verified (size or mtime differ)`,
        { hint: 'restart the command so the artifact is verified again' },
      );
    }
  }

  // Every file's identity when it was opened, in part order.
  identity(): FileIdentity[] {
    return this.#files.map((h) => h.identity);
  }

  // True when every file still has the identity it had when opened (nothing wrote it since, ctime included).
  async unchanged(): Promise<boolean> {
    for (const h of this.#files) {
      const now = await identityOf(h.path, h.fh).catch(() => undefined);
      if (!now || !sameIdentity(now, h.identity)) return false;
    }
    return true;
  }

  // Exactly `length` bytes at `offset` (across part boundaries).
  async readAt(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const h = this.#files.find((f) => at >= f.start && at < f.start + f.size);
      if (!h) throw new KkoError('IO_ERROR', `reading artifact: offset ${at} is past its end (${this.size} bytes)`);
      const want = Math.min(length - done, h.start + h.size - at);
      const { bytesRead } = await h.fh
        .read(out, done, want, at - h.start)
        .catch((err: unknown) => Promise.reject(fsError('reading artifact', h.path, err)));
      if (bytesRead === 0)
        throw new KkoError(
          'ARTIFACT_CORRUPT',
          `reading artifact ${h.path}: it ends early (changed since it was verified?)`,
        );
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.#files.map((h) => h.fh.close().catch(() => undefined)));
  }
}
