import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import { writeArchive } from '../../src/archive/write.js';
import type { Catalog } from '../../src/catalog/index.js';
import {
  artifactEntries,
  fixtureCatalog,
  IMGS,
  ISO_PATH,
  kkoWith,
  layerPath,
  firstLayer,
} from '../support/artifact-fixture.js';
import { tempDir, type CliRun } from './run-cli.js';

// #12 item 3: verify and inspect of a delta: what its inventory's delta.omitted names counts as in the base, and
// nothing else may be absent; the omitted list must agree with the descriptors and rows it stands in for.

let testCatalog: Catalog;
let work: { dir: string; cleanup: () => Promise<void> };
const kko = (argv: string[]): Promise<CliRun> => kkoWith(testCatalog, argv);
const BASE = 'ab'.repeat(32);

beforeAll(async () => {
  work = await tempDir('kko-delta-verify-');
  testCatalog = await fixtureCatalog(join(work.dir, 'catalog'));
});
afterAll(async () => work?.cleanup());

const layerSize = (): number => {
  const all = IMGS.flatMap((i) => i.image.layers);
  return all.find((l) => l.descriptor.digest === firstLayer)?.descriptor.size ?? -1;
};

// The fixture without the first layer and the ISO, its inventory naming them as omitted (or as `omitted` says).
async function delta(
  name: string,
  omitted: {
    blobs: Array<{ digest: string; size: number }>;
    files: Array<{ path: string; sha256: string; size: number }>;
  },
  drop: readonly string[] = [layerPath, ISO_PATH],
): Promise<string> {
  const entries = withChecksums(
    artifactEntries(IMGS, {
      inventory: (doc) => void (doc.delta = { base: { inventorySha256: BASE, artifact: 'old.tar.gz' }, omitted }),
    }).filter((e) => !drop.includes(e.name)),
  );
  const out = join(work.dir, name);
  await writeArchive(entries, out, 'gzip', { SOURCE_DATE_EPOCH: '0' });
  return out;
}

async function isoRow(): Promise<{ path: string; sha256: string; size: number }> {
  let row: { path: string; sha256: string; size: number } | undefined;
  artifactEntries(IMGS, {
    inventory: (doc) => void (row = (doc.isos as Array<{ path: string; sha256: string; size: number }>)[0]),
  });
  return { path: ISO_PATH, sha256: row?.sha256 ?? '', size: row?.size ?? 0 };
}

describe('verify / inspect of a delta artifact', () => {
  it('counts the omitted blob and file as in the base: ok, but said to be a delta, not complete', async () => {
    const art = await delta('ok.tar.gz', {
      blobs: [{ digest: firstLayer, size: layerSize() }],
      files: [await isoRow()],
    });
    const v = await kko(['artifact', 'verify', art]);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/an intact delta, not a complete artifact/);
    expect(v.stdout).toMatch(
      /delta of old\.tar\.gz \(inventory sha256 (ab){32}\): not complete on its own; 1 blob\(s\) and 1 file\(s\)/,
    );
    const i = await kko(['artifact', 'inspect', art, '--json']);
    expect(JSON.parse(i.stdout).delta).toMatchObject({ omittedBlobs: 1, omittedFiles: 1 });
  });

  it('a blob or file absent but not named by delta.omitted is still missing', async () => {
    const art = await delta('gap.tar.gz', { blobs: [], files: [] });
    const v = await kko(['artifact', 'verify', art]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`missing: ${layerPath} (referenced by manifest`);
    expect(v.stdout).toContain(`missing: ${ISO_PATH} (listed in kko/inventory.json)`);
  });

  it('an omitted entry whose size or sha256 disagrees with the manifest or the inventory row is corrupt', async () => {
    const iso = await isoRow();
    const art = await delta('lies.tar.gz', {
      blobs: [{ digest: firstLayer, size: layerSize() + 1 }],
      files: [{ ...iso, sha256: 'cd'.repeat(32) }],
    });
    const v = await kko(['artifact', 'verify', art]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(
      new RegExp(
        `corrupt: ${layerPath} \\(size ${layerSize()} in manifest .*delta\\.omitted says ${layerSize() + 1}\\)`,
      ),
    );
    expect(v.stdout).toContain(`corrupt: ${ISO_PATH} (delta.omitted says sha256 ${'cd'.repeat(32)}`);
  });

  it('an omitted entry that is in the delta after all is extra', async () => {
    const art = await delta('both.tar.gz', { blobs: [], files: [await isoRow()] }, [layerPath]);
    const v = await kko(['artifact', 'verify', art]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`extra: ${ISO_PATH} (kko/inventory.json says the delta leaves it out)`);
  });
});
