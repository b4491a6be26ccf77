import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inventoryVerifier,
  KeySigner,
  loadPrivateKey,
  loadPublicKey,
  signArtifact,
  type Signer,
} from '../../src/signing/index.js';
import { verifyArtifact } from '../../src/artifact-read/index.js';
import type { Compression } from '../../src/archive/write.js';
import { fixtureSet } from '../support/builders.js';
import { exportArgs } from '../support/cli-args.js';
import { exportFixture, seedFixtureSource, type FixtureSource } from '../support/fixture-source.js';
import { run } from '../support/exec.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli, tempDir } from '../cli/run-cli.js';
import { memoSigner } from '../support/signing.js';

// Issue #12 item 1 on a real export: images from the real registry (an OCI index and a Docker list, so the artifact
// carries upstream manifests and indexes beside the layout), signed at export and signed afterwards.
const fx = fixtureSet({ baseSize: 32 * 1024 });
const ENV = { SOURCE_DATE_EPOCH: '1700000000' };
let reg: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
let source: FixtureSource;
let signer: Signer;
let pub: string;
let n = 0;

async function exportTo(compress: Compression, sign?: Signer): Promise<string> {
  const output = join(work.dir, `a${n++}.tar${compress === 'gzip' ? '.gz' : compress === 'zstd' ? '.zst' : ''}`);
  await exportFixture(source, {
    cacheDir: join(work.dir, 'cache'),
    output,
    compress,
    env: ENV,
    ...(sign ? { signer: sign } : {}),
  });
  return output;
}

// `kko artifact export` of the work dir's m.yaml and mirrors.yaml (seedFixtureSource) with the cache `cache` there.
const exportIn = (out: string, cache: string, ...more: string[]): string[] =>
  exportArgs(
    out,
    { manifest: join(work.dir, 'm.yaml'), mirrors: join(work.dir, 'mirrors.yaml'), cache: join(work.dir, cache) },
    ...more,
  );

beforeAll(async () => {
  work = await tempDir('kko-sign-int-');
  reg = await startRegistry({ mode: 'plain' });
  source = await seedFixtureSource(reg, fx, work.dir);
  expect((await runCli(['key', 'generate', '--output-key-prefix', join(work.dir, 'k')])).code).toBe(0);
  signer = new KeySigner(await loadPrivateKey(join(work.dir, 'k.key')));
  pub = join(work.dir, 'k.pub');
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  await work?.cleanup();
});

describe('signing a real export', () => {
  it.each(['gzip', 'zstd'] as const)(
    '%s: `artifact sign` of an unsigned export is byte for byte the export signed with --sign-key',
    async (compress) => {
      const memo = memoSigner(signer);
      const signedAtExport = await exportTo(compress, memo);
      const later = await exportTo(compress);
      const r = await signArtifact({ artifact: later, signer: memo, env: ENV });
      expect(r.compression).toBe(compress);
      expect((await readFile(later)).equals(await readFile(signedAtExport))).toBe(true);
      const report = await verifyArtifact(later, { verifyInventory: inventoryVerifier(await loadPublicKey(pub), pub) });
      expect(report.problems).toEqual([]);
      expect(report.checked.signature).toBe('verified');
      // the upstream index and Docker manifests kept beside the layout are accounted for by the inventory
      expect(report.blobs).toBeGreaterThan(
        new Set(fx.pause.images.flatMap((i) => [i.manifest, i.config, ...i.layers].map((b) => b.descriptor.digest)))
          .size,
      );
    },
  );

  it('openssl verifies the signature of `kko artifact export --sign-key`; the inventory lists the documents', async () => {
    const out = join(work.dir, 'cli.tar.gz');
    const cli = await runCli(exportIn(out, 'cache', '--sign-key', join(work.dir, 'k.key'), '--quiet'));
    expect(cli.code, cli.stderr).toBe(0);
    const dir = join(work.dir, 'x');
    await mkdir(dir);
    await run('tar', ['xzf', out, '-C', dir]);
    await writeFile(
      join(dir, 'sig.der'),
      Buffer.from(await readFile(join(dir, 'kko/inventory.json.sig'), 'utf8'), 'base64'),
    );
    expect(
      await run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        pub,
        '-signature',
        join(dir, 'sig.der'),
        join(dir, 'kko/inventory.json'),
      ]),
    ).toBe('Verified OK\n');
    const inv = JSON.parse(await readFile(join(dir, 'kko/inventory.json'), 'utf8')) as {
      documents: Array<{ path: string; sha256: string; size: number }>;
    };
    const sums = await readFile(join(dir, 'kko/SHA256SUMS'), 'utf8');
    expect(inv.documents.map((d) => d.path)).toEqual(['kko/manifest.json', 'images/index.json', 'images/oci-layout']);
    for (const d of inv.documents) expect(sums).toContain(`${d.sha256}  ${d.path}\n`);
    expect(sums).toContain('  kko/inventory.json.sig\n');
    const v = await runCli(['artifact', 'verify', out, '--key', pub]);
    expect(v.code, v.stderr).toBe(0);
  });

  it('a bad --sign-key fails before anything is fetched or written (exit 2)', async () => {
    const out = join(work.dir, 'bad.tar.gz');
    const cli = await runCli(exportIn(out, 'cache-bad', '--sign-key', pub));
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/k\.pub: not a PEM private key/);
    await expect(readFile(out)).rejects.toThrow();
    await expect(readFile(join(work.dir, 'cache-bad'))).rejects.toThrow();
    await rm(out, { force: true });
  });
});
