import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import type { TarEntry } from '../../src/archive/tar.js';
import { writeArchive } from '../../src/archive/write.js';
import type { Catalog } from '../../src/catalog/index.js';
import {
  artifactEntries,
  fixtureCatalog,
  IMGS,
  ISO_PATH,
  kkoWith,
  sha,
  type Img,
} from '../support/artifact-fixture.js';
import { buildImage, seededBytes, tarHeader, tarOf } from '../support/builders.js';
import { runCli, tempDir, type CliRun } from './run-cli.js';

// Issue #7: what verify and import trust. The artifact comes from a machine the operator does not control, so each
// test builds a forgery that the lists inside the archive agree with, and checks that verify and import refuse it.

let testCatalog: Catalog;
let work: { dir: string; cleanup: () => Promise<void> };
const kko = (argv: string[]): Promise<CliRun> => kkoWith(testCatalog, argv);
type Report = {
  ok: boolean;
  kind: string;
  problems: Array<{ kind: string; path: string; detail?: string }>;
  anchors: Record<string, number>;
  unanchored: string[];
};

const KUBECTL = 'kube/v1.28.12/amd64/kubectl';
let n = 0;

async function build(entries: TarEntry[], compress: 'gzip' | 'none' = 'gzip'): Promise<string> {
  const out = join(work.dir, `a${n++}.tar${compress === 'gzip' ? '.gz' : ''}`);
  await writeArchive(entries, out, compress, { SOURCE_DATE_EPOCH: '0' });
  return out;
}

async function verifyJson(artifact: string): Promise<{ code: number; report: Report }> {
  const r = await kko(['artifact', 'verify', artifact, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

// Import into a fresh dir under work; returns the run and what the dir holds afterwards (undefined: not there).
async function importInto(artifact: string, pre = true): Promise<CliRun & { left: string[] | undefined }> {
  const dir = join(work.dir, `import-${n++}`);
  if (pre) await mkdir(dir);
  const r = await kko(['artifact', 'import', artifact, '--dir', dir]);
  return { ...r, left: await readdir(dir, { recursive: true }).catch(() => undefined) };
}

beforeAll(async () => {
  work = await tempDir('kko-artifact-trust-');
  testCatalog = await fixtureCatalog(join(work.dir, 'catalog'));
});
afterAll(async () => work.cleanup());

describe('binaries are checked against the catalog, then the inventory (item 1)', () => {
  it('a binary cut short, with its SHA256SUMS line rewritten, is corrupt', async () => {
    const cut = seededBytes(KUBECTL, 3000).subarray(0, 1000);
    const artifact = await build(
      withChecksums(artifactEntries(IMGS, { replace: { [KUBECTL]: cut }, keepInventory: true })),
    );
    const { code, report } = await verifyJson(artifact);
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      { kind: 'corrupt', path: KUBECTL, detail: 'size want 3000 got 1000 (kko/inventory.json)' },
    ]);
    const imp = await importInto(artifact);
    expect(imp.code).toBe(1);
    expect(imp.left).toEqual([]);
  });

  it('inventory and SHA256SUMS both forged: the catalog still refuses the binary', async () => {
    const forged = Buffer.from('#!/bin/sh\necho pwned\n');
    const { code, report } = await verifyJson(
      await build(withChecksums(artifactEntries(IMGS, { replace: { [KUBECTL]: forged } }))),
    );
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      {
        kind: 'corrupt',
        path: KUBECTL,
        detail: `sha256 want ${sha(seededBytes(KUBECTL, 3000))} got ${sha(forged)} (kko catalog)`,
      },
    ]);
  });

  it('a binary the catalog does not know is checked against the inventory', async () => {
    const odd = 'kube/v1.99.0/amd64/kubeadm';
    const good = await build(withChecksums(artifactEntries(IMGS, { extra: [[odd, 700]] })));
    const ok = await verifyJson(good);
    expect(ok.code).toBe(0);
    expect(ok.report.anchors).toEqual({ catalog: 5, inventory: 2 }); // the ISO has no manifest checksum here
    const bad = await verifyJson(
      await build(
        withChecksums(
          artifactEntries(IMGS, {
            extra: [[odd, 700]],
            replace: { [odd]: seededBytes('other', 700) },
            keepInventory: true,
          }),
        ),
      ),
    );
    expect(bad.code).toBe(1);
    expect(bad.report.problems).toEqual([
      expect.objectContaining({
        kind: 'corrupt',
        path: odd,
        detail: expect.stringMatching(/\(kko\/inventory\.json\)$/),
      }),
    ]);
  });

  it('a file at a kk binary path that the inventory does not list is extra, even when SHA256SUMS lists it', async () => {
    const entries = [...artifactEntries(IMGS), { name: 'kube/v1.28.12/amd64/kubeadm.evil', data: Buffer.from('x') }];
    const { code, report } = await verifyJson(await build(withChecksums(entries)));
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      { kind: 'extra', path: 'kube/v1.28.12/amd64/kubeadm.evil', detail: 'not in kko/inventory.json' },
    ]);
  });

  it('an ISO is checked against iso.checksum of kko/manifest.json when the user gave one', async () => {
    const real = seededBytes(ISO_PATH, 5000);
    const manifest = [
      {
        apiVersion: 'kubekey.kubesphere.io/v1alpha2',
        kind: 'Manifest',
        spec: {
          operatingSystems: [
            {
              arch: 'amd64',
              type: 'linux',
              id: 'ubuntu',
              version: '20.04',
              repository: { iso: { url: 'https://example.invalid/u.iso', checksum: `sha256:${sha(real)}` } },
            },
          ],
        },
      },
    ];
    const honest = await verifyJson(await build(withChecksums(artifactEntries(IMGS, { manifest }))));
    expect(honest.code).toBe(0);
    expect(honest.report.anchors).toEqual({ catalog: 5, manifest: 1 });
    const other = seededBytes('evil-iso', 5000);
    const { code, report } = await verifyJson(
      await build(withChecksums(artifactEntries(IMGS, { manifest, replace: { [ISO_PATH]: other } }))),
    );
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      {
        kind: 'corrupt',
        path: ISO_PATH,
        detail: `sha256 want ${sha(real)} got ${sha(other)} (iso.checksum in kko/manifest.json)`,
      },
    ]);
  });

  it('the shipped catalog (the real CLI) refuses the made-up kube v1.28.12 binaries', async () => {
    const r = await runCli(['artifact', 'verify', await build(withChecksums(artifactEntries(IMGS)))]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^corrupt: kube\/v1\.28\.12\/amd64\/kubeadm \(sha256 want [a-f0-9]{64} got [a-f0-9]{64} \(kko catalog\)\)$/m,
    );
  });
});

describe('what is an artifact (item 2)', () => {
  it('a kko artifact without kko/SHA256SUMS fails', async () => {
    const { code, report } = await verifyJson(await build(artifactEntries(IMGS)));
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      {
        kind: 'missing',
        path: 'kko/SHA256SUMS',
        detail: 'a kko artifact (it has kko/inventory.json) always carries it',
      },
    ]);
  });

  it('a SHA256SUMS that lists a file twice is corrupt: sha256sum -c checks both lines, kko would have kept one (#7 review)', async () => {
    const entries = withChecksums(artifactEntries(IMGS));
    const sums = entries.find((e) => e.name === 'kko/SHA256SUMS') as { name: string; data: Buffer };
    const forged = Buffer.concat([Buffer.from(`${'0'.repeat(64)}  ${ISO_PATH}\n`), sums.data]);
    const artifact = await build(entries.map((e) => (e === sums ? { ...sums, data: forged } : e)));
    const { code, report } = await verifyJson(artifact);
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      {
        kind: 'corrupt',
        path: 'kko/SHA256SUMS',
        detail: `kko/SHA256SUMS line ${
          forged
            .toString()
            .split('\n')
            .findIndex((l, i) => i > 0 && l.endsWith(ISO_PATH)) + 1
        }: "${ISO_PATH}" is listed twice (sha256sum -c checks both lines)`,
      },
    ]);
    const imp = await importInto(artifact);
    expect(imp.code).toBe(1);
    expect(imp.left).toEqual([]);
  });

  it.each([
    ['an empty tarball', [] as TarEntry[]],
    [
      'a tarball of something else',
      [
        { name: 'README.txt', data: Buffer.from('hello') },
        { name: 'src/main.go', data: Buffer.from('package main') },
      ],
    ],
  ])('%s fails verify and import (exit 2), and import writes nothing', async (_what, entries) => {
    const artifact = await build(entries);
    const v = await kko(['artifact', 'verify', artifact]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/not a KubeKey artifact/);
    const imp = await importInto(artifact);
    expect(imp.code).toBe(2);
    expect(imp.left).toEqual([]); // no artifact.md5, no staging dir
    expect((await importInto(artifact, false)).left).toBeUndefined(); // a dir it created is removed again
  });

  it('a kk artifact (no kko/) verifies its binaries against the catalog and says that is all it could do', async () => {
    const plain = artifactEntries(IMGS).filter((e) => !e.name.startsWith('kko/'));
    const ok = await kko(['artifact', 'verify', await build(plain)]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('binaries could only be checked against the kko catalog');
    expect(ok.stdout).toContain(`binaries and ISOs: 5 against the kko catalog`);
    expect(ok.stdout).toContain(`not checked against anything (1): ${ISO_PATH}`);
    const tampered = plain.map((e) => (e.name === KUBECTL ? { name: e.name, data: Buffer.from('tampered') } : e));
    const { code, report } = await verifyJson(await build(tampered));
    expect(code).toBe(1);
    expect(report.kind).toBe('kk');
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'corrupt', path: KUBECTL, detail: expect.stringMatching(/\(kko catalog\)$/) }),
    ]);
  });
});

describe('the layout walk (items 3 and 4)', () => {
  it('checks a manifest that another image already used as a layer', async () => {
    const inner = buildImage({ name: 'inner', platform: { os: 'linux', architecture: 'amd64' } });
    const outer = buildImage({
      name: 'outer',
      platform: { os: 'linux', architecture: 'amd64' },
      base: { ...inner.manifest, diffId: inner.manifest.descriptor.digest },
    });
    const imgs: Img[] = [
      { ref: 'docker.io/a/outer:1', arch: 'amd64', class: 'x', image: outer },
      { ref: 'docker.io/a/inner:1', arch: 'amd64', class: 'x', image: inner },
    ];
    const innerLayer = `images/blobs/sha256/${inner.layers[0]?.descriptor.digest.slice(7)}`;
    const { code, report } = await verifyJson(
      await build(withChecksums(artifactEntries(imgs).filter((e) => e.name !== innerLayer))),
    );
    expect(code).toBe(1);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'missing', path: innerLayer })]);
  });

  it('a foreign layer (urls) that is not in the artifact is missing: consumers would go to the network', async () => {
    const img = buildImage({ name: 'foreign', platform: { os: 'linux', architecture: 'amd64' } });
    const foreign = {
      mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      digest: `sha256:${'ab'.repeat(32)}`,
      size: 1234,
      urls: ['http://127.0.0.1:9/layer'],
    };
    const doc = JSON.parse(img.manifest.bytes.toString('utf8')) as { layers: unknown[] };
    doc.layers.push(foreign);
    const bytes = Buffer.from(JSON.stringify(doc));
    const manifest = {
      bytes,
      descriptor: {
        ...img.manifest.descriptor,
        digest: `sha256:${sha(bytes)}` as typeof img.manifest.descriptor.digest,
        size: bytes.length,
      },
    };
    const { code, report } = await verifyJson(
      await build(
        withChecksums(
          artifactEntries([{ ref: 'docker.io/a/f:1', arch: 'amd64', class: 'x', image: { ...img, manifest } }]),
        ),
      ),
    );
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      {
        kind: 'missing',
        path: `images/blobs/sha256/${'ab'.repeat(32)}`,
        detail: expect.stringMatching(/^foreign layer .* consumers would fetch it from 1 URL\(s\)$/),
      },
    ]);
  });
});

// A plain tar: `head` entries in full, then one header claiming `claimed` bytes followed by only a few: a reader that
// streams the body hits the truncation (exit 2); one that refuses the header first never gets there.
async function cutAfterHeader(
  head: ReadonlyArray<{ name: string; data: Buffer }>,
  name: string,
  claimed: number,
): Promise<string> {
  const out = join(work.dir, `cut-${n++}.tar`);
  await writeFile(out, Buffer.concat([tarOf(head, { end: false }), tarHeader(name, claimed), Buffer.alloc(700)]));
  return out;
}

function listsOf(entries: TarEntry[]): Array<{ name: string; data: Buffer }> {
  return entries
    .filter((e): e is TarEntry & { data: Buffer } => e.name.startsWith('kko/') && 'data' in e)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

describe('import refuses entries from their header (item 5)', () => {
  it('an entry SHA256SUMS does not list is refused before its (2 GiB) body is read', async () => {
    const artifact = await cutAfterHeader(
      listsOf(withChecksums(artifactEntries(IMGS))),
      'kube/v1.28.12/amd64/zeros',
      2 ** 31,
    );
    const imp = await importInto(artifact);
    expect(imp.code).toBe(1); // not 2: the truncated body was never read
    expect(imp.stderr).toMatch(
      /^error: importing .*: extra: kube\/v1\.28\.12\/amd64\/zeros \(not in kko\/SHA256SUMS\); stopped at this entry/m,
    );
    expect(imp.left).toEqual([]);
  });

  it('an entry whose header size differs from the inventory is refused before its body is read', async () => {
    const artifact = await cutAfterHeader(listsOf(withChecksums(artifactEntries(IMGS))), KUBECTL, 2 ** 31);
    const imp = await importInto(artifact);
    expect(imp.code).toBe(1);
    expect(imp.stderr).toMatch(
      /corrupt: kube\/v1\.28\.12\/amd64\/kubectl \(size want 3000 got 2147483648 \(kko\/inventory\.json\)\); stopped at this entry/,
    );
    expect(imp.left).toEqual([]);
  });

  it('without lists (a kk artifact), a file the catalog refuses stops the import right after it', async () => {
    const artifact = await cutAfterHeader(
      [{ name: KUBECTL, data: Buffer.from('tampered') }],
      'kube/v1.28.12/amd64/kubelet',
      2 ** 31,
    );
    const imp = await importInto(artifact);
    expect(imp.code).toBe(1);
    expect(imp.stderr).toMatch(
      /corrupt: kube\/v1\.28\.12\/amd64\/kubectl \(sha256 want [a-f0-9]{64} got [a-f0-9]{64} \(kko catalog\)\); stopped at this entry/,
    );
    expect(imp.left).toEqual([]);
  });

  it('lists that come late still stop the import at the point they arrive', async () => {
    const entries = withChecksums(artifactEntries(IMGS));
    const evil = { name: 'kube/v1.28.12/amd64/evil', data: Buffer.from('x') };
    const late = [evil, ...listsOf(entries)];
    const out = join(work.dir, 'late.tar.gz');
    await writeFile(out, gzipSync(tarOf(late)));
    const imp = await importInto(out);
    expect(imp.code).toBe(1);
    expect(imp.stderr).toMatch(
      /extra: kube\/v1\.28\.12\/amd64\/evil \(not in kko\/SHA256SUMS\); stopped at this entry/,
    );
    expect(imp.left).toEqual([]);
  });
});

describe('import target and inspect (items 7 and 8)', () => {
  it('--dir naming a regular file is invalid input that names the path', async () => {
    const file = join(work.dir, 'a-file');
    await writeFile(file, 'x');
    const r = await kko(['artifact', 'import', await build(withChecksums(artifactEntries(IMGS))), '--dir', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: importing into ${file}: it (or a parent) exists and is not a directory`);
    expect(r.stderr).toMatch(/^hint: --dir takes/m);
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it('inspect says when the stored manifest had credentials removed', async () => {
    const manifest = [{ apiVersion: 'kubekey.kubesphere.io/v1alpha2', kind: 'Manifest', spec: {} }];
    const redacted = await build(
      withChecksums(
        artifactEntries(IMGS, {
          manifest,
          inventory: (d) => void (d.credentialsRemoved = ['[0].spec.registry.auths["reg.example:5000"].password']),
        }),
      ),
    );
    const r = await kko(['artifact', 'inspect', redacted]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^manifest: kko\/manifest\.json, credentials removed at export/m);
    const j = JSON.parse((await kko(['artifact', 'inspect', redacted, '--json'])).stdout) as { manifest: unknown };
    expect(j.manifest).toEqual({ present: true, redacted: true });
    const unknown = await kko(['artifact', 'inspect', await build(withChecksums(artifactEntries(IMGS, { manifest })))]);
    expect(unknown.stdout).toMatch(
      /^manifest: kko\/manifest\.json, the inventory does not say whether credentials were removed$/m,
    );
  });
});
