import { execFile } from 'node:child_process';
import { access, constants, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { KkoError } from '../errors.js';
import type { CommandContext } from './context.js';

const run = promisify(execFile);

export function absPath(ctx: CommandContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.io.cwd, p);
}

// The catalog plus user add-on dirs: --catalog-dir flags first, then KKO_CATALOG_DIR (path-list).
export async function catalogFor(ctx: CommandContext, dirs: string[] | undefined): Promise<Catalog> {
  const fromEnv = (ctx.io.env.KKO_CATALOG_DIR ?? '').split(delimiter).filter(Boolean);
  const extraDirs = [...(dirs ?? []), ...fromEnv].map((d) => absPath(ctx, d));
  return loadCatalog({ extraDirs });
}

// Ask a `kk` on PATH for its version ("GitVersion:\"v3.1.5\""); undefined when there is none or it says nothing useful.
async function kkOnPath(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const bin = join(dir, 'kk');
    try {
      await access(bin, constants.X_OK);
    } catch {
      continue;
    }
    try {
      const { stdout } = await run(bin, ['version'], { timeout: 5000, env });
      return /GitVersion:"(v\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? /\b(v3\.\d+\.\d+)\b/.exec(stdout)?.[1];
    } catch {
      return undefined;
    }
  }
  return undefined;
}

// --kk-version, else the version recorded in the manifest, else a kk on PATH, else the newest profile — with a notice.
export async function resolveKkVersion(ctx: CommandContext, catalog: Catalog, flag: string | undefined, recorded?: string): Promise<string> {
  if (flag) return catalog.profile(flag).version;
  if (recorded) return catalog.profile(recorded).version;
  const found = await kkOnPath(ctx.io.env);
  if (found && catalog.kkVersions.includes(found)) {
    ctx.io.stderr(`notice: targeting kk ${found} (the kk found on PATH); pass --kk-version to choose\n`);
    return found;
  }
  const newest = catalog.newestProfile().version;
  const why = found ? `the kk on PATH is ${found}, which kko has no profile for` : 'no --kk-version and no kk on PATH';
  ctx.io.stderr(`notice: targeting kk ${newest} (${why}); pass --kk-version to match the kk that will install\n`);
  return newest;
}

// Refuse to clobber unless forced; never prompts.
export async function assertWritable(target: string, force: boolean): Promise<void> {
  try {
    const info = await stat(target);
    if (info.isDirectory()) throw new KkoError('INVALID_INPUT', `writing ${target}: is a directory`);
    if (!force) throw new KkoError('FILE_EXISTS', `writing ${target}: file exists`, { hint: 'pass --force to overwrite' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
}

// Refuse an output that is one of the command's inputs (`-o manifest.yaml --force` would destroy it). Compared by
// device and inode, so symlinks, hard links and other spellings of the path are caught too.
export async function assertNotAnInput(target: string, inputs: ReadonlyArray<{ what: string; path: string }>): Promise<void> {
  const out = await stat(target).catch(() => undefined);
  if (!out) return; // nothing there yet: it cannot be an input
  for (const input of inputs) {
    const st = await stat(input.path).catch(() => undefined);
    if (st && st.dev === out.dev && st.ino === out.ino) {
      throw new KkoError('INVALID_INPUT', `writing ${target}: it is ${input.what} ${input.path}; refusing to overwrite an input`, { hint: 'choose another output file' });
    }
  }
}

// Write via a temp file in the same folder and rename, so no partial file is ever visible under the name.
export async function writeFileAtomic(target: string, text: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.kko-tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new KkoError('IO_ERROR', `writing ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
