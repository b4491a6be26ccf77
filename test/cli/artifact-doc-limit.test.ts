import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHeader } from '../support/raw-tar.js';
import { runCli, tempDir } from './run-cli.js';

// A hostile artifact whose kko/inventory.json claims 65 MiB: the archive reader's metadata cap (src/archive/tar-admit.ts)
// refuses it by its header size before its bytes are read into memory (readers keep the documents whole), naming it.
const SIZE = 65 * 1024 * 1024; // over the 16 MiB cap

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const f = await open(join(dir, 'huge-doc.tar'), 'w');
  try {
    await f.write(rawHeader('kko/inventory.json', { size: SIZE }), 0, 512, 0);
    await f.truncate(512 + SIZE + 1024); // a sparse body of NULs and the two end blocks
  } finally {
    await f.close();
  }
});
afterAll(async () => cleanup());

describe('an artifact document over the size limit', () => {
  it.each([['verify'], ['inspect']])('artifact %s refuses it by its header, naming the entry', async (cmd) => {
    const r = await runCli(['artifact', cmd, join(dir, 'huge-doc.tar')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /refusing "kko\/inventory\.json" \(header at tar byte 0\): 68157440 bytes is over the 16777216-byte limit for metadata/,
    );
  });
});
