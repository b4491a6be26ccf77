import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, tryLock } from './lock.js';

// A resumable partial nobody touched for this long is dropped: a week-old half download is more likely
// abandoned (the image left the manifest) than about to be resumed.
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000;
// A per-process temp file (<name>-<pid>-<hex>.download) whose process is gone and that has not grown for this long.
const DOWNLOAD_IDLE_MS = 60_000;

// <hex>.partial, and <hex>.partial-<start>: a later Range part of it (src/cache/ranged.ts), under the same lock.
const PARTIAL = /^([a-f0-9]{64})\.partial(?:-\d+)?$/;
const DOWNLOAD = /-(\d+)-[a-f0-9]{8}\.download$/;

const mtimeOf = (path: string): Promise<number | undefined> =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );

// Remove what killed runs left in the cache's tmp/ that no later run can use, and keep the resume state:
// - <hex>.partial and its parts <hex>.partial-<start>: kept (the next run continues them with Range requests) unless
//   the blob is complete already or the file is older than PARTIAL_MAX_AGE_MS; a live download's lock is never
//   taken, a dead owner's lock is dropped.
// - <name>-<pid>-<hex>.download (archives, unverified ISOs; never resumed across runs): removed once the pid is dead
//   on this host and the file idle, or when older than PARTIAL_MAX_AGE_MS (another host's).
// Returns the paths removed.
export async function sweepCacheTmp(root: string, now = Date.now()): Promise<string[]> {
  const dir = join(root, 'tmp');
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const partial = PARTIAL.exec(name);
    if (partial) {
      if (
        await sweepPartial(
          path,
          join(dir, `${partial[1] as string}.partial.lock`),
          join(root, 'blobs', 'sha256', partial[1] as string),
          now,
        )
      )
        removed.push(path);
      continue;
    }
    const download = DOWNLOAD.exec(name);
    const mtime = download ? await mtimeOf(path) : undefined;
    if (
      download &&
      mtime !== undefined &&
      (now - mtime > PARTIAL_MAX_AGE_MS || (now - mtime > DOWNLOAD_IDLE_MS && !isAlive(Number(download[1]))))
    ) {
      await rm(path, { force: true });
      removed.push(path);
    }
  }
  return removed;
}

async function sweepPartial(path: string, lock: string, blob: string, now: number): Promise<boolean> {
  const release = await tryLock(lock); // undefined: a live process is downloading it
  if (!release) return false;
  try {
    const mtime = await mtimeOf(path);
    const complete = await stat(blob).then(
      () => true,
      () => false,
    );
    if (mtime === undefined || (!complete && now - mtime <= PARTIAL_MAX_AGE_MS)) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await release();
  }
}
