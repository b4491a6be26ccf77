import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatChecksums } from '../../src/archive/checksums.js';
import { sha256Digest } from '../../src/reference/index.js';
import { run } from './exec.js';

// An unpacked artifact `x` edited by hand (a forged or hand-edited inventory, layout or blob) packed again into `out`
// (.tar.gz) as a forger would: kko/inventory.json.sig removed (no artifact key vouches for it any more) and
// kko/SHA256SUMS rewritten over every other file, so plain `artifact verify` sees a consistent artifact.
export async function repackArtifact(x: string, out: string): Promise<void> {
  await rm(join(x, 'kko/inventory.json.sig'), { force: true });
  const files = (await readdir(x, { recursive: true, withFileTypes: true }))
    .filter((f) => f.isFile())
    .map((f) => join(f.parentPath, f.name).slice(x.length + 1))
    .filter((n) => n !== 'kko/SHA256SUMS');
  await writeFile(
    join(x, 'kko/SHA256SUMS'),
    formatChecksums(
      await Promise.all(files.map(async (n) => [n, sha256Digest(await readFile(join(x, n))).slice(7)] as const)),
    ),
  );
  await run('tar', ['czf', out, '-C', x, 'kko', 'images']);
}
