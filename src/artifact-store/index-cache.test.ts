import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INDEX_FORMAT, loadIndex, MAX_INDEX_BYTES, storeIndex, type ArtifactIndex } from './index-cache.js';
import type { FileIdentity } from './source-files.js';

// A crafted index file in the cache dir (its checksum line recomputed, as anyone can) must be a miss, never a
// record that makes an open read past the artifact, read more than a document's worth into memory, or trust
// spans that do not add up to the file they stand for.
const KEY: FileIdentity[] = [
  { path: '/x/a.tar.part-000', dev: '1', ino: '2', size: 6000, mtimeNs: '3', ctimeNs: '4' },
  { path: '/x/a.tar.part-001', dev: '1', ino: '5', size: 4000, mtimeNs: '3', ctimeNs: '4' },
];
const GOOD: ArtifactIndex = {
  format: INDEX_FORMAT,
  key: KEY,
  compression: 'none',
  archiveBytes: 10_000,
  files: [
    { name: 'kko/inventory.json', size: 100, spans: [0, 512, 100], load: true },
    { name: `images/blobs/sha256/${'a'.repeat(64)}`, size: 3000, spans: [0, 1024, 1000, 1000, 2560, 2000] },
  ],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-index-cache-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function roundTrip(doc: unknown): Promise<ArtifactIndex | undefined> {
  await storeIndex(dir, doc as ArtifactIndex); // written the way kko writes one: a valid checksum line
  return loadIndex(dir, (doc as ArtifactIndex).key);
}
// a 1 TB artifact (the key is all loadIndex compares; no file is read)
const TB: FileIdentity[] = [{ ...(KEY[0] as FileIdentity), size: 1e12 }];

describe('loadIndex against crafted index files', () => {
  it('the index kko writes loads back', async () => {
    expect(await roundTrip(GOOD)).toEqual(GOOD);
  });

  it.each([
    ['archiveBytes larger than the files the key names', { ...GOOD, archiveBytes: 1e15 }],
    [
      'a loaded document claiming a terabyte',
      {
        ...GOOD,
        key: TB,
        archiveBytes: 1e12,
        files: [{ name: 'kko/inventory.json', size: 1e12, spans: [0, 0, 1e12], load: true }],
      },
    ],
    [
      'spans shorter than the file',
      { ...GOOD, files: [{ name: `images/blobs/sha256/${'b'.repeat(64)}`, size: 5000, spans: [0, 0, 10] }] },
    ],
    [
      'spans with a gap in the blob',
      { ...GOOD, files: [{ name: `images/blobs/sha256/${'b'.repeat(64)}`, size: 20, spans: [0, 0, 10, 15, 100, 10] }] },
    ],
    [
      'a span past the end of the archive',
      { ...GOOD, files: [{ name: `images/blobs/sha256/${'b'.repeat(64)}`, size: 20, spans: [0, 9990, 20] }] },
    ],
    ['load that is not true', { ...GOOD, files: [{ name: 'kko/inventory.json', size: 10, load: 'yes' }] }],
  ])('%s: a miss', async (_why, doc) => {
    expect(await roundTrip(doc)).toBeUndefined();
  });

  it('an index file past MAX_INDEX_BYTES is not read (a miss), even with a valid checksum line', async () => {
    const own = join(dir, 'big');
    const big = { ...GOOD, pad: 'x'.repeat(MAX_INDEX_BYTES + 1) };
    await storeIndex(own, big as ArtifactIndex);
    const files = await readdir(join(own, 'artifact-index'));
    expect(files).toHaveLength(1);
    expect(await loadIndex(own, KEY)).toBeUndefined();
    // the same content under the limit loads: the size is what refuses it
    const body = Buffer.from(JSON.stringify(GOOD));
    const head = `${INDEX_FORMAT} ${createHash('sha256').update(body).digest('hex')}\n`;
    await writeFile(join(own, 'artifact-index', files[0] as string), Buffer.concat([Buffer.from(head), body]));
    expect(await loadIndex(own, KEY)).toEqual(GOOD);
  });
});
