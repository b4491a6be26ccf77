import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, tempDir } from './run-cli.js';

// #12 item 3, hostile `--have` files: each is invalid input (exit 2) naming the file, refused before anything is
// fetched or written, and never a crash (70) or a read of a huge file into memory.
const MANIFEST = join(FIXTURES, 'manifests/kk-v3.1.5-binaries.yaml');
const HEX = 'a'.repeat(64);
const have = (over: Record<string, unknown>): string =>
  JSON.stringify({
    apiVersion: 'kko.io/v1alpha1',
    kind: 'ArtifactHave',
    base: { artifact: 'old.tar.gz', inventorySha256: HEX },
    refs: {},
    blobs: [],
    files: [],
    ...over,
  });

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, 'a-dir'));
  await writeFile(join(dir, 'huge.json'), '');
  await truncate(join(dir, 'huge.json'), 64 * 1024 * 1024); // sparse: 64 MiB of NULs, no disk used
  await writeFile(join(dir, 'deep.json'), `${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  await writeFile(join(dir, 'types.json'), have({ blobs: 'sha256:' + HEX }));
  await writeFile(join(dir, 'files.json'), have({ files: [{ path: 'x', sha256: HEX, size: -1 }] }));
  await writeFile(join(dir, 'binary.json'), Buffer.from([0x7b, 0x00, 0x7d]));
});
afterAll(async () => cleanup());

describe('artifact export --have with a hostile have-list', () => {
  it.each([
    ['a directory', 'a-dir', /a-dir: is a directory/],
    ['a 64 MiB file', 'huge.json', /huge\.json: 67108864 bytes is larger than the 33554432-byte limit/],
    ['JSON nested 200k deep', 'deep.json', /deep\.json: .*expected object, received array/],
    ['a wrong type', 'types.json', /types\.json: blobs: /],
    ['a negative size', 'files.json', /files\.json: files\[0\]\.size: /],
    ['binary content', 'binary.json', /binary\.json: binary content/],
  ])('%s: exit 2 naming the file, nothing written', async (_why, file, msg) => {
    const out = join(dir, `${file}.tar.gz`);
    const r = await runCli(['artifact', 'export', '-m', MANIFEST, '--have', file, '-o', out, '--cache', 'cache'], {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(msg);
  });
});
