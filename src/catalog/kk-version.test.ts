import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from './catalog.js';
import { resolveKkVersion } from './kk-version.js';
import { loadCatalog } from './load.js';

let catalog: Catalog;
let empty: string;
beforeAll(async () => {
  catalog = await loadCatalog();
  empty = await mkdtemp(join(tmpdir(), 'kko-kk-'));
});

// A real executable ./kk that prints what `kk version` prints.
async function kkPrinting(version: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kko-kk-'));
  await writeFile(join(dir, 'kk'), `#!/bin/sh\necho 'version.BuildInfo{Version:"${version}", GitVersion:"${version}", GitCommit:"abc"}'\n`);
  await chmod(join(dir, 'kk'), 0o755);
  return dir;
}

describe('resolveKkVersion (the library rule every command uses)', () => {
  it('flag, then recorded, without a notice; an unknown one throws', async () => {
    expect(await resolveKkVersion(catalog, { flag: 'v3.1.5', recorded: 'v3.1.12', cwd: empty, env: { PATH: '' } })).toEqual({ version: 'v3.1.5' });
    expect(await resolveKkVersion(catalog, { recorded: 'v3.1.5', cwd: empty, env: { PATH: '' } })).toEqual({ version: 'v3.1.5' });
    await expect(resolveKkVersion(catalog, { flag: 'v2.0.0', cwd: empty, env: { PATH: '' } })).rejects.toMatchObject({ code: 'UNKNOWN_VERSION' });
  });

  it('./kk in the working directory, with a notice naming where it was found', async () => {
    const dir = await kkPrinting('v3.1.5');
    const r = await resolveKkVersion(catalog, { cwd: dir, env: { PATH: '' } });
    expect(r).toEqual({ version: 'v3.1.5', notice: 'targeting kk v3.1.5 (the kk found in the working directory); pass --kk-version to choose' });
  });

  it('a kk on PATH kko has no profile for, or none: the newest profile, saying why', async () => {
    const dir = await kkPrinting('v3.0.0');
    const newest = catalog.newestProfile().version;
    expect(await resolveKkVersion(catalog, { cwd: empty, env: { PATH: dir } })).toEqual({ version: newest, notice: `targeting kk ${newest} (the kk on PATH is v3.0.0, which kko has no profile for); pass --kk-version to match the kk that will install` });
    expect((await resolveKkVersion(catalog, { cwd: empty, env: { PATH: '' } })).notice).toMatch(/no --kk-version and no kk/);
  });
});
