import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { holdOwnerFile, isStale } from '../cache/index.js';

// An import's staging dir, D/.kko-import-<pid>-<random>/: `files/` mirrors the artifact, `owner` names the process
// (pid, host, start token; the cache lock's format and liveness rules), touched while the import runs.
export const STAGING_PREFIX = '.kko-import-';
const OWNER = 'owner';
// A staging dir without an owner file (killed between mkdir and the marker) is left this long before removal.
const UNMARKED_GRACE_MS = 60_000;

export type Staging = {
  readonly dir: string;
  readonly files: string;
  // Async removal for a finally; removeSync for a signal handler or process exit that cannot wait.
  remove(): Promise<void>;
  removeSync(): void;
};

// Create this run's staging dir under `root` and mark it as ours.
export async function createStaging(root: string): Promise<Staging> {
  const dir = join(root, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  let release: (() => Promise<void>) | undefined;
  let removed = false;
  const staging: Staging = {
    dir,
    files: join(dir, 'files'),
    remove: async () => {
      if (removed) return;
      removed = true;
      await release?.().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
    removeSync: () => {
      removed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    release = await holdOwnerFile(join(dir, OWNER));
    await mkdir(staging.files);
  } catch (err) {
    await staging.remove();
    throw err;
  }
  return staging;
}

async function isAbandoned(dir: string): Promise<boolean> {
  const marker = join(dir, OWNER);
  const info = await stat(marker).catch(() => undefined);
  if (info) return isStale(marker);
  const dirInfo = await stat(dir).catch(() => undefined);
  return dirInfo !== undefined && Date.now() - dirInfo.mtimeMs > UNMARKED_GRACE_MS;
}

// Staging dirs left by an import that was killed (kill -9, power loss): removed when their owner is provably gone.
// A live import's dir (another process, this host or another) is left alone. Returns the dirs removed.
export async function removeStaleStaging(root: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(STAGING_PREFIX))) {
    const dir = join(root, name);
    if (!(await isAbandoned(dir))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
