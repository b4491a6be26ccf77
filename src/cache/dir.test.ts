import { describe, expect, it } from 'vitest';
import { defaultCacheDir } from './dir.js';

describe('defaultCacheDir', () => {
  it.each([
    [{ KKO_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }, '/c'],
    [{ KKO_CACHE_DIR: 'rel/c', HOME: '/h' }, '/work/rel/c'],
    [{ XDG_CACHE_HOME: '/x', HOME: '/h' }, '/x/kko'],
    [{ XDG_CACHE_HOME: 'x', HOME: '/h' }, '/work/x/kko'],
    [{ HOME: '/h' }, '/h/.cache/kko'],
  ])('%j → %s', (env, want) => {
    expect(defaultCacheDir(env, '/work')).toBe(want);
  });
});
