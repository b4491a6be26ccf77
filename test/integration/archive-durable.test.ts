import { createHash, randomBytes } from 'node:crypto';
import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import { writeArchive } from '../../src/archive/write.js';
import { tempDir } from '../cli/run-cli.js';
import { pathOf, renamesOf, syncedBetween, traceNode } from '../support/strace.js';

const WRITE = new URL('../../dist/archive/write.js', import.meta.url).pathname;

// Review finding: the artifact (and each split part, and the parts list) is fsynced before it is renamed to its final
// name, and its directory after, so a crash cannot leave a truncated artifact under the name that says it is whole.
// The oracle is strace watching the built writer in a child node: what the kernel was asked to do, in order.
const SCRIPT = `import { randomBytes } from 'node:crypto';
import { writeArchive } from ${JSON.stringify(WRITE)};
const [out, compress, split] = process.argv.slice(2);
const entries = [
  { name: 'images/blobs/sha256/aa', data: randomBytes(300 * 1024) },
  { name: 'kko/inventory.json', data: Buffer.from('{}'), first: true },
];
await writeArchive(entries, out, compress, { SOURCE_DATE_EPOCH: '0' }, split ? { splitSize: Number(split) } : {});
`;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('kko-durable-'));
  await writeFile(join(dir, 'write.mjs'), SCRIPT);
  await writeFile(join(dir, 'import.mjs'), IMPORT_SCRIPT);
});
afterAll(async () => cleanup());

describe('the written artifact is on disk before it has its name', () => {
  it.each([
    ['a gzip written by position', 'a.tar.gz', 'gzip', undefined],
    ['a zstd stream (the streaming writer)', 'a.tar.zst', 'zstd', undefined],
    ['a plain tar written by position', 'a.tar', 'none', undefined],
    ['split parts and their list', 's.tar.gz', 'gzip', '100000'],
  ])('%s: every file fsynced before its rename, the directory after', async (_what, name, compress, split) => {
    const out = join(dir, 'out', name);
    const args = [out, compress, ...(split ? [split] : [])];
    const calls = await traceNode(join(dir, 'write.mjs'), args, join(dir, `${name}.strace`));
    const finals = renamesOf(calls).filter((r) => dirname(r.to) === dirname(out));
    expect(finals.length).toBeGreaterThanOrEqual(split ? 3 : 1); // the parts list and at least two parts
    for (const r of finals) expect(syncedBetween(calls, r.from, 0, r.i), `${r.from} → ${r.to}`).toBe(true);
    const last = Math.max(...finals.map((r) => r.i));
    expect(syncedBetween(calls, dirname(out), last, calls.length), 'the directory, after the last rename').toBe(true);
  });
});

describe('writeback starts while a large artifact is written (#10)', () => {
  const SIZE = 160 * 1024 * 1024;
  // The positional writer (plain tar), the streaming writer (zstd: the already-compressed entry goes as raw blocks, so
  // the output is as large), and a split part (streamed into parts of 150 MiB).
  it.each([
    ['a plain tar written by position', 'big.tar', 'none', undefined],
    ['a zstd stream', 'big.tar.zst', 'zstd', undefined],
    ['a split part of 150 MiB', 'big-split.tar', 'none', 150 * 1024 * 1024],
  ])(
    '%s of 160 MiB: fdatasync during the writing, the final fsync before the rename',
    async (_what, name, compress, split) => {
      const big = join(dir, 'big.bin');
      await writeFile(big, Buffer.alloc(0));
      await truncate(big, SIZE); // sparse: quick to make and to read
      const script = join(dir, 'write-big.mjs');
      await writeFile(
        script,
        `import { writeArchive } from ${JSON.stringify(WRITE)};
const [out, file, compress, split] = process.argv.slice(2);
await writeArchive([{ name: 'images/blobs/sha256/bb', file, size: ${SIZE}, compressed: true }, { name: 'kko/inventory.json', data: Buffer.from('{}'), first: true }], out, compress, { SOURCE_DATE_EPOCH: '0' }, split ? { splitSize: Number(split) } : {});
`,
      );
      const out = join(dir, 'out', name);
      const calls = await traceNode(
        script,
        [out, big, compress, ...(split ? [String(split)] : [])],
        join(dir, `${name}.strace`),
      );
      const target = split ? `${out}.part-000` : out;
      const [final] = renamesOf(calls).filter((r) => r.to === target);
      if (!final) throw new Error(`${target} was not renamed into place`);
      const syncs = calls.slice(0, final.i).filter((c) => c.name === 'fdatasync' || c.name === 'fsync');
      expect(syncs.filter((c) => c.name === 'fdatasync').length).toBeGreaterThanOrEqual(1); // 64 MiB apart: 1 or 2
      expect(syncedBetween(calls, final.from, 0, final.i)).toBe(true);
      expect(syncs.at(-1)?.name).toBe('fsync');
    },
  );
});

describe('small files kko writes (manifests, locks, node configs: writeFileAtomic)', () => {
  it('are fsynced before their rename, and the directory after', async () => {
    const script = join(dir, 'atomic.mjs');
    const atomic = new URL('../../dist/util/atomic-write.js', import.meta.url).pathname;
    await writeFile(
      script,
      `import { writeFileAtomic } from ${JSON.stringify(atomic)};\nawait writeFileAtomic(process.argv[2], 'server = "x"\\n');\n`,
    );
    const out = join(dir, 'configs', 'hosts.toml');
    const calls = await traceNode(script, [out], join(dir, 'atomic.strace'));
    const [r] = renamesOf(calls).filter((x) => x.to === out);
    if (!r) throw new Error('the file was not renamed into place');
    expect(syncedBetween(calls, r.from, 0, r.i), 'the file, before its rename').toBe(true);
    expect(syncedBetween(calls, dirname(out), r.i, calls.length), 'the directory, after').toBe(true);
  });
});

describe('the signing key pair (kko key generate)', () => {
  it('each file fsynced before its rename, the folder after; the private key 0600 from its creation', async () => {
    const script = join(dir, 'key.mjs');
    const key = new URL('../../dist/signing/key.js', import.meta.url).pathname;
    await writeFile(
      script,
      `import { generateKeyPair, writeKeyPair } from ${JSON.stringify(key)};\nawait writeKeyPair(process.argv[2], generateKeyPair());\n`,
    );
    const prefix = join(dir, 'keys', 'release');
    await mkdir(dirname(prefix));
    const calls = await traceNode(script, [prefix], join(dir, 'key.strace'));
    for (const file of [`${prefix}.key`, `${prefix}.pub`]) {
      const [r] = renamesOf(calls).filter((x) => x.to === file);
      if (!r) throw new Error(`${file} was not renamed into place`);
      expect(syncedBetween(calls, r.from, 0, r.i), `${file}, before its rename`).toBe(true);
      expect(syncedBetween(calls, dirname(prefix), r.i, calls.length), `the folder, after ${file}`).toBe(true);
      if (file.endsWith('.key')) {
        const created = calls.find((c) => c.name === 'openat' && pathOf(c) === r.from);
        expect(created?.args, 'created with mode 0600').toMatch(/O_CREAT.*0600/);
      }
    }
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    expect((await stat(`${prefix}.pub`)).mode & 0o777).toBe(0o644);
  });
});

// The same for `artifact import`: kk skips its untar when DIR/artifact.md5 matches, so every file it vouches for is on
// disk (fsynced, its directory too) before artifact.md5 gets its name.
const IMPORT = new URL('../../dist/artifact-read/import.js', import.meta.url).pathname;
const IMPORT_SCRIPT = `import { importArtifact } from ${JSON.stringify(IMPORT)};
const [artifact, dir] = process.argv.slice(2);
await importArtifact({ artifact, dir });
`;

describe('an imported directory is on disk before artifact.md5 vouches for it', () => {
  it('each file fsynced before artifact.md5 is renamed into place, artifact.md5 itself, and the directories', async () => {
    const path = 'kube/v0.0.1/amd64/kubeadm'; // not in the catalog: the inventory vouches for it
    const data = randomBytes(64 * 1024);
    const inventory = {
      apiVersion: 'kko.io/v1alpha1',
      kind: 'ArtifactInventory',
      binaries: [{ path, sha256: createHash('sha256').update(data).digest('hex'), size: data.length }],
    };
    const art = join(dir, 'art.tar.gz');
    const entries = [
      { name: 'kko/inventory.json', data: Buffer.from(JSON.stringify(inventory)) },
      { name: path, data },
    ];
    await writeArchive(withChecksums(entries), art, 'gzip', { SOURCE_DATE_EPOCH: '0' });
    const root = join(dir, 'kubekey');
    const calls = await traceNode(join(dir, 'import.mjs'), [art, root], join(dir, 'import.strace'));
    const renames = renamesOf(calls);
    const md5 = renames.find((r) => r.to === join(root, 'artifact.md5'));
    if (!md5) throw new Error('artifact.md5 was not renamed into place');
    const files = renames.filter((r) => r !== md5 && r.to.startsWith(`${root}/`));
    expect(files.map((r) => r.to.slice(root.length + 1)).sort()).toEqual([
      'kko/SHA256SUMS',
      'kko/inventory.json',
      path,
    ]);
    for (const r of [...files, md5]) expect(syncedBetween(calls, r.from, 0, md5.i), r.to).toBe(true);
    for (const d of [join(root, 'kube/v0.0.1/amd64'), join(root, 'kko')])
      expect(syncedBetween(calls, d, 0, md5.i), d).toBe(true);
    expect(syncedBetween(calls, root, md5.i, calls.length), 'the directory, after artifact.md5').toBe(true);

    // Again over that import, with other bytes: the old artifact.md5 is removed, and that removal is on disk (the
    // directory fsynced) before the first file it vouched for is replaced.
    const data2 = randomBytes(32 * 1024);
    const inventory2 = {
      ...inventory,
      binaries: [{ path, sha256: createHash('sha256').update(data2).digest('hex'), size: data2.length }],
    };
    const art2 = join(dir, 'art2.tar.gz');
    const entries2 = [
      { name: 'kko/inventory.json', data: Buffer.from(JSON.stringify(inventory2)) },
      { name: path, data: data2 },
    ];
    await writeArchive(withChecksums(entries2), art2, 'gzip', { SOURCE_DATE_EPOCH: '0' });
    const again = await traceNode(join(dir, 'import.mjs'), [art2, root], join(dir, 'import2.strace'));
    const removed = again.findIndex((c) => c.name.startsWith('unlink') && c.args.includes(join(root, 'artifact.md5')));
    expect(removed, 'the old artifact.md5 removed').toBeGreaterThanOrEqual(0);
    const firstRename = renamesOf(again).find((r) => r.i > removed && r.to.startsWith(`${root}/`));
    if (!firstRename) throw new Error('nothing was renamed into place after the removal');
    expect(syncedBetween(again, root, removed, firstRename.i), 'the directory, between the two').toBe(true);
  });
});
