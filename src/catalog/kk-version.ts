import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { Catalog } from './catalog.js';

const run = promisify(execFile);

export type KkVersionOptions = {
  flag?: string; // --kk-version
  recorded?: string; // spec.kko.kkVersion of the manifest
  cwd: string; // where ./kk is looked for
  env: NodeJS.ProcessEnv; // PATH, and the environment kk runs with
};

// The kk release kko targets, and the notice to show when it was guessed rather than given.
export type KkVersionChoice = { version: string; notice?: string };

// Ask an executable kk for its version ("GitVersion:\"v3.1.5\""); undefined when it says nothing useful.
async function kkVersionOf(bin: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await run(bin, ['version'], { timeout: 5000, env });
    return /GitVersion:"(v\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? /\b(v3\.\d+\.\d+)\b/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

// The installed kk: ./kk in the working directory first (where kk's installer, get.kubekey.sh, puts it and
// where `./kk create cluster` runs it from), then the first kk on PATH.
async function installedKk(cwd: string, env: NodeJS.ProcessEnv): Promise<{ version?: string; where: string } | undefined> {
  const candidates = [{ bin: join(cwd, 'kk'), where: 'in the working directory' }, ...(env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => ({ bin: join(dir, 'kk'), where: 'on PATH' }))];
  for (const c of candidates) {
    try {
      await access(c.bin, constants.X_OK);
    } catch {
      continue;
    }
    const version = await kkVersionOf(c.bin, env);
    return { where: c.where, ...(version ? { version } : {}) };
  }
  return undefined;
}

// The flag, else the version recorded in the manifest, else the installed kk's, else the newest profile (with a
// notice saying why). A version the catalog has no profile for throws (catalog.profile).
export async function resolveKkVersion(catalog: Catalog, o: KkVersionOptions): Promise<KkVersionChoice> {
  if (o.flag) return { version: catalog.profile(o.flag).version };
  if (o.recorded) return { version: catalog.profile(o.recorded).version };
  const kk = await installedKk(o.cwd, o.env);
  const found = kk?.version;
  if (found && catalog.kkVersions.includes(found)) return { version: found, notice: `targeting kk ${found} (the kk found ${kk.where}); pass --kk-version to choose` };
  const newest = catalog.newestProfile().version;
  const why = found ? `the kk ${kk.where} is ${found}, which kko has no profile for` : 'no --kk-version and no kk in the working directory or on PATH';
  return { version: newest, notice: `targeting kk ${newest} (${why}); pass --kk-version to match the kk that will install` };
}
