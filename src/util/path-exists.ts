import { access } from 'node:fs/promises';

// True unless the path is certainly absent (ENOENT): a file that exists but cannot be read counts as there, so the
// caller goes on to the read that reports why (or refuses to overwrite it).
export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
}
