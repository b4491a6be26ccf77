import { stat } from 'node:fs/promises';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { defaultCacheDir } from '../cache/index.js';
import { loadCatalog, resolveKkVersion as resolveKkVersionIn, type Catalog } from '../catalog/index.js';
import { KkoError } from '../errors.js';
import { fsError } from '../util/fs-errors.js';
import type { CommandContext } from './context.js';

export function absPath(ctx: CommandContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.io.cwd, p);
}

// The catalog plus user add-on dirs: --catalog-dir flags first, then KKO_CATALOG_DIR (path-list).
export async function catalogFor(ctx: CommandContext, dirs: string[] | undefined): Promise<Catalog> {
  const fromEnv = (ctx.io.env.KKO_CATALOG_DIR ?? '').split(delimiter).filter(Boolean);
  const extraDirs = [...(dirs ?? []), ...fromEnv].map((d) => absPath(ctx, d));
  return loadCatalog({ extraDirs });
}

// The library's kk-version choice (flag, recorded, installed kk, newest), with its notice on stderr.
export async function resolveKkVersion(
  ctx: CommandContext,
  catalog: Catalog,
  flag: string | undefined,
  recorded?: string,
): Promise<string> {
  const choice = await resolveKkVersionIn(catalog, {
    ...(flag ? { flag } : {}),
    ...(recorded ? { recorded } : {}),
    cwd: ctx.io.cwd,
    env: ctx.io.env,
  });
  if (choice.notice) ctx.io.stderr(`notice: ${choice.notice}\n`);
  return choice.version;
}

// --cache, else the library's default (KKO_CACHE_DIR, XDG_CACHE_HOME/kko, ~/.cache/kko).
export function cacheDirFor(ctx: CommandContext, flag: string | undefined): string {
  return flag ? absPath(ctx, flag) : defaultCacheDir(ctx.io.env, ctx.io.cwd);
}

// An integer flag: plain decimal digits only, within [min, max]. Number() would take "1e2" as 100, "0x10" as 16,
// " 8 " as 8 and "" as 0; none of those is what a user types for a count, so all are refused.
export function parseIntFlag(flag: string, value: string, min: number, max: number): number {
  const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new KkoError('INVALID_INPUT', `${flag}: "${value}" is not a whole number from ${min} to ${max}`, {
      hint: `pass ${flag} as plain digits, e.g. ${flag} ${max < 8 ? max : 8}`,
    });
  }
  return n;
}

// A flag whose value is one of a fixed list (--arch amd64, --cni cilium).
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new KkoError('INVALID_INPUT', `${flag}: unknown value "${value}"`, { hint: `one of: ${allowed.join(', ')}` });
  }
  return value as T;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tib: 2 ** 40,
};

// A byte size flag: plain digits with an optional binary unit (K/M/G/T = KiB/MiB/GiB/TiB, 1024-based; case does not
// matter), at least `min` bytes. Like parseIntFlag, no "1e9", no "1.5G", no spaces; "GB" is refused as ambiguous.
export function parseSizeFlag(flag: string, value: string, min: number): number {
  const m = /^([0-9]{1,15})([a-z]*)$/i.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!(Number.isSafeInteger(n) && n >= min)) {
    throw new KkoError('INVALID_INPUT', `${flag}: "${value}" is not a size of at least ${min} bytes`, {
      hint: `pass digits with an optional binary unit K, M, G or T (KiB…TiB, 1024-based), e.g. ${flag} 4095M`,
    });
  }
  return n;
}

// Refuse to clobber unless forced; never prompts.
export async function assertWritable(target: string, force: boolean): Promise<void> {
  try {
    const info = await stat(target);
    if (info.isDirectory()) throw new KkoError('INVALID_INPUT', `writing ${target}: is a directory`);
    if (!force)
      throw new KkoError('FILE_EXISTS', `writing ${target}: file exists`, { hint: 'pass --force to overwrite' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError('writing', target, err);
  }
}

// Refuse an output that is one of the command's inputs (`-o manifest.yaml --force` would destroy it). Compared by
// device and inode, so symlinks, hard links and other spellings of the path are caught too.
export async function assertNotAnInput(
  target: string,
  inputs: ReadonlyArray<{ what: string; path: string }>,
): Promise<void> {
  const out = await stat(target).catch(() => undefined);
  if (!out) return; // nothing there yet: it cannot be an input
  for (const input of inputs) {
    const st = await stat(input.path).catch(() => undefined);
    if (st && st.dev === out.dev && st.ino === out.ino) {
      throw new KkoError(
        'INVALID_INPUT',
        `writing ${target}: it is ${input.what} ${input.path}; refusing to overwrite an input`,
        { hint: 'choose another output file' },
      );
    }
  }
}

// Write via a temp file in the same folder and rename (one implementation, in util).
export { writeFileAtomic } from '../util/atomic-write.js';
