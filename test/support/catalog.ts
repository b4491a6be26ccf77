import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { binaryAtPath, loadCatalog, type Catalog } from '../../src/catalog/index.js';

// A copy of the shipped catalog in `dir` whose checksums.json gives each fixture binary (by its kk artifact path)
// the sha256 of the fixture bytes: what a test needs for the catalog to vouch for binaries it made up.
export async function catalogWithBinaries(
  dir: string,
  files: ReadonlyArray<{ path: string; data: Buffer }>,
): Promise<Catalog> {
  await cp(new URL('../../catalog/', import.meta.url).pathname, dir, { recursive: true });
  const real = await loadCatalog({ builtinDir: dir });
  const sums = JSON.parse(await readFile(join(dir, 'checksums.json'), 'utf8')) as Record<
    string,
    Record<string, Record<string, string>>
  >;
  for (const f of files) {
    const item = binaryAtPath(real, f.path);
    if (!item) throw new Error(`${f.path} is not a kk binary path`);
    ((sums[item.component] ??= {})[item.arch] ??= {})[item.version] = createHash('sha256').update(f.data).digest('hex');
  }
  await writeFile(join(dir, 'checksums.json'), JSON.stringify(sums));
  return loadCatalog({ builtinDir: dir });
}
