import { randomBytes } from 'node:crypto';
import { link, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

// Who holds a lock: pid and host for liveness checks, and a token unique to this process, because pids are
// reused (every container's first process is pid 1, and a killed run's pid may come back as ours).
type Owner = { pid: number; host: string; token: string };

const SELF: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
const REFRESH_MS = 15_000;
// A lock not refreshed for this long belongs to a dead process, whatever its pid says (another host, pid reuse).
const STALE_MS = 60_000;

export type LockOptions = { pollMs?: number; timeoutMs?: number; isDone?: () => Promise<boolean>; staleMs?: number };

// A lock file so concurrent kko runs on one cache never write the same blob. The holder touches it while it
// works; a lock whose owner is provably gone, or that nobody touched for a minute, is taken over.
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<(() => Promise<void>) | undefined> {
  const pollMs = opts.pollMs ?? 100;
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  for (;;) {
    try {
      return await holdOwnerFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (opts.isDone && (await opts.isDone())) return undefined;
    if (await isStale(path, opts.staleMs ?? STALE_MS)) {
      await removeFile(path);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path}`);
    await sleep(pollMs);
  }
}

// Create `path` exclusively with this process as its owner and keep touching it until released (a lock file, or
// the marker of an import's staging dir). Throws EEXIST when it exists.
export async function holdOwnerFile(path: string): Promise<() => Promise<void>> {
  // Written whole under a temp name, then linked into place (EEXIST if taken): nobody ever sees an empty owner file,
  // even when this process is killed between creating and writing it.
  const tmp = `${path}.${SELF.token}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(SELF), { flag: 'wx' });
  try {
    await link(tmp, path);
  } finally {
    await removeFile(tmp);
  }
  const timer = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => undefined), REFRESH_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await removeFile(path);
  };
}

// Remove a file that may be gone already. unlink, not rm: rm({ force }) lstats first and runs its rimraf path, twice
// per blob of an export (#10: the per-blob bookkeeping of the loopback export).
async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

// True when the owner of an owner file (a lock, a staging marker) is provably gone (dead pid on this host, our pid
// with another token) or nobody touched it for `staleMs`; false while it lives, or when the file is gone already.
export async function isStale(path: string, staleMs = STALE_MS): Promise<boolean> {
  const [text, info] = await Promise.all([readFile(path, 'utf8').catch(() => ''), stat(path).catch(() => undefined)]);
  if (!info) return false; // gone already: the next open() will tell
  if (Date.now() - info.mtimeMs > staleMs) return true;
  const owner = parseOwner(text);
  if (!owner || owner.host !== SELF.host) return false; // cannot check another host's pids: wait for the mtime rule
  if (owner.pid === SELF.pid) return owner.token !== SELF.token; // our pid, another (dead) process's lock
  return !isAlive(owner.pid);
}

// The JSON owner, or an older kko's bare pid (taken as this host's).
function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o === 'number') return { pid: o, host: SELF.host, token: '' };
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string') return o as Owner;
  } catch {
    // not ours
  }
  return undefined;
}

// Whether a pid of this host is running (EPERM: it is, as another user).
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Take a lock only if nobody live holds it (a stale one is taken over): for removing what a dead process left.
export async function tryLock(path: string): Promise<(() => Promise<void>) | undefined> {
  return acquireLock(path, { timeoutMs: 0 }).catch(() => undefined);
}
