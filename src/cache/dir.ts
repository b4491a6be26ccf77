import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

// Where the blob cache lives when no directory is given: $KKO_CACHE_DIR, else $XDG_CACHE_HOME/kko, else
// ~/.cache/kko. Relative values are taken from `cwd`.
export function defaultCacheDir(env: NodeJS.ProcessEnv, cwd: string): string {
  if (env.KKO_CACHE_DIR) return resolve(cwd, env.KKO_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? resolve(cwd, env.XDG_CACHE_HOME) : join(env.HOME ?? homedir(), '.cache');
  return join(base, 'kko');
}
