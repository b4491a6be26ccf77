import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { withChecksums } from '../../src/archive/checksums.js';
import type { TarEntry } from '../../src/archive/tar.js';
import { writeArchive } from '../../src/archive/write.js';
import { runVerify } from '../../src/cli/actions/artifact-read.js';
import type { CommandContext } from '../../src/cli/context.js';
import type { Catalog } from '../../src/catalog/index.js';
import { artifactEntries, fixtureCatalog, IMGS, kkoWith, layerPath, firstLayer } from '../support/artifact-fixture.js';
import { seededBytes, type FixtureImage } from '../support/builders.js';
import { run } from '../support/exec.js';
import { tempDir, type CliRun } from './run-cli.js';

let testCatalog: Catalog;
const kko = (argv: string[], cwd?: string): Promise<CliRun> => kkoWith(testCatalog, argv, cwd);

let work: { dir: string; cleanup: () => Promise<void> };
let good: string;

async function build(name: string, entries: TarEntry[]): Promise<string> {
  const out = join(work.dir, name);
  await writeArchive(entries, out, 'gzip', { SOURCE_DATE_EPOCH: '0' });
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

beforeAll(async () => {
  work = await tempDir('kko-artifact-read-');
  testCatalog = await fixtureCatalog(join(work.dir, 'catalog'));
  good = await build('good.tar.gz', withChecksums(artifactEntries(IMGS)));
});
afterAll(async () => work.cleanup());

describe('kko artifact inspect', () => {
  it('prints a table by class and component with totals', async () => {
    const r = await kko(['artifact', 'inspect', good]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^image\s+k8s-core\s+-\s+amd64\s+1\s/m);
    expect(r.stdout).toMatch(/^image\s+network\s+-\s+amd64\s+1\s/m);
    expect(r.stdout).toMatch(/^binary\s+kube\s+v1\.28\.12\s+amd64\s+3\s+9\.0 KB$/m);
    expect(r.stdout).toMatch(/^binary\s+registry\/harbor\s+v2\.10\.1\s+amd64\s+1\s/m);
    expect(r.stdout).toMatch(/^iso\s+repository\/ubuntu\s+20\.04\s+amd64\s+1\s+5\.0 KB$/m);
    expect(r.stdout).toMatch(/^total: 2 images from kko\/inventory\.json \(6 blobs/m);
  });

  it('--json gives classes, refs and sizes from the inventory and the layout', async () => {
    const r = await kko(['artifact', 'inspect', good, '--json']);
    const report = JSON.parse(r.stdout) as {
      images: Array<{ refName: string; class: string; size: number }>;
      compression: string;
      checksums: boolean;
    };
    expect(report.compression).toBe('gzip');
    expect(report.checksums).toBe(true);
    expect(report.images.map((i) => [i.refName, i.class])).toEqual([
      ['docker.io/calico/cni:v3.27.3-amd64', 'network'],
      ['docker.io/kubesphere/kube-apiserver:v1.28.12-amd64', 'k8s-core'],
    ]);
    const api = IMGS[0]?.image as FixtureImage;
    const size = [api.manifest, api.config, ...api.layers].reduce((n, b) => n + b.bytes.length, 0);
    expect(report.images[1]?.size).toBe(size); // from the manifest, not the inventory's claim
  });
});

describe('kko artifact verify', () => {
  it('exits 0 on an intact artifact', async () => {
    const r = await kko(['artifact', 'verify', good]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: 16 files \(6 blobs/m);
  });

  it('exits 1 naming a tampered blob once, with both digests', async () => {
    const entries = withChecksums(artifactEntries(IMGS)).map((e) => {
      if (e.name !== layerPath || !('data' in e)) return e;
      const data = Buffer.from(e.data);
      data[10] = (data[10] ?? 0) ^ 1;
      return { ...e, data };
    });
    const r = await kko(['artifact', 'verify', await build('tampered.tar.gz', entries)]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('corrupt:'))).toEqual([
      expect.stringMatching(
        new RegExp(`^corrupt: ${layerPath} \\(sha256 want ${firstLayer.slice(7)} got [a-f0-9]{64} \\(blob name\\)\\)$`),
      ),
    ]);
    expect(r.stderr).toMatch(/1 problem \(1 corrupt\)/);
  });

  it('reports removed entries as missing and added ones as extra', async () => {
    const entries = withChecksums(artifactEntries(IMGS)).filter(
      (e) => e.name !== 'kube/v1.28.12/amd64/kubelet' && e.name !== layerPath,
    );
    const r = await kko([
      'artifact',
      'verify',
      await build('changed.tar.gz', [...entries, { name: 'kube/v1.28.12/amd64/evil', data: Buffer.from('x') }]),
      '--json',
    ]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: Array<{ kind: string; path: string }> };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => `${p.kind}: ${p.path}`)).toEqual([
      `missing: ${layerPath}`,
      'extra: kube/v1.28.12/amd64/evil',
      'missing: kube/v1.28.12/amd64/kubelet',
    ]); // by path
  });

  it('checks the layout and inventory even without SHA256SUMS', async () => {
    const entries = artifactEntries(IMGS).filter((e) => e.name !== layerPath);
    const r = await kko(['artifact', 'verify', await build('nosums.tar.gz', entries)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`missing: ${layerPath} (referenced by manifest images/blobs/sha256/`);
  });

  it('reports an inventory image that index.json lacks', async () => {
    const entries = withChecksums(
      artifactEntries(IMGS).map((e) =>
        e.name === 'images/index.json'
          ? { name: e.name, data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })) }
          : e,
      ),
    );
    const r = await kko(['artifact', 'verify', await build('noindex.tar.gz', entries)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'missing: images/index.json[docker.io/calico/cni:v3.27.3-amd64] (listed in kko/inventory.json)',
    );
  });

  it('reads zstd artifacts too', async () => {
    const out = join(work.dir, 'good.tar.zst');
    await writeArchive(withChecksums(artifactEntries(IMGS)), out, 'zstd', { SOURCE_DATE_EPOCH: '0' });
    const r = await kko(['artifact', 'verify', out, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, compression: 'zstd', files: 16 });
  });

  it('exits 2 on hostile or truncated input', async () => {
    const truncated = join(work.dir, 'truncated.tar.gz');
    await writeFile(truncated, (await readFile(good)).subarray(0, 3000));
    for (const bad of [truncated, await hostileArchive()]) {
      const r = await kko(['artifact', 'verify', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: reading archive: /);
    }
  });

  it('runVerify can be called directly with a context', async () => {
    const out: string[] = [];
    let exit = 0;
    const ctx: CommandContext = {
      io: { stdout: (t) => void out.push(t), stderr: () => undefined, env: {}, cwd: work.dir, isTTY: false },
      setExit: (c) => void (exit = c),
    };
    await runVerify({ artifact: 'good.tar.gz', json: true, catalog: testCatalog }, ctx);
    expect(exit).toBe(0);
    expect((JSON.parse(out.join('')) as { ok: boolean }).ok).toBe(true);
  });
});

// A gzip tar whose second entry climbs out of the target with ../
async function hostileArchive(): Promise<string> {
  const header = (name: string, size: number): Buffer => {
    const h = Buffer.alloc(512);
    h.write(name, 0);
    h.write('0000644\0', 100);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write(' '.repeat(8), 148);
    h.write('0', 156);
    h.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  const body = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc(512 - s.length)]);
  const tar = Buffer.concat([
    header('kube/ok', 2),
    body('ok'),
    header('../escaped-by-kko-test', 4),
    body('evil'),
    Buffer.alloc(1024),
  ]);
  const path = join(work.dir, 'hostile.tar.gz');
  await writeFile(path, gzipSync(tar));
  return path;
}

describe('kko artifact import', () => {
  it('unpacks at kk paths and writes artifact.md5 = md5sum of the tarball', async () => {
    const dest = join(work.dir, 'import-ok');
    const r = await kko(['artifact', 'import', good, '--dir', dest]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const files = await filesUnder(dest);
    expect(files).toContain('kube/v1.28.12/amd64/kubeadm');
    expect(files).toContain('repository/amd64/ubuntu/20.04/ubuntu-20.04-amd64.iso');
    expect(files).toContain(layerPath);
    expect(files.some((f) => f.includes('.kko-import-'))).toBe(false);
    const md5 = (await run('md5sum', [good])).split(' ')[0];
    expect(await readFile(join(dest, 'artifact.md5'), 'utf8')).toBe(md5);
    expect(await readFile(join(dest, 'kube/v1.28.12/amd64/kubeadm'))).toEqual(
      seededBytes('kube/v1.28.12/amd64/kubeadm', 3000),
    );
  });

  it('yields the same file set as GNU tar xzf', async () => {
    const ours = join(work.dir, 'import-cmp');
    const gnu = join(work.dir, 'gnu-cmp');
    await mkdir(gnu);
    expect((await kko(['artifact', 'import', good, '--dir', ours])).code).toBe(0);
    await run('tar', ['xzf', good, '-C', gnu]);
    expect((await filesUnder(ours)).filter((f) => f !== 'artifact.md5')).toEqual(await filesUnder(gnu));
  });

  it('imports nothing from a tampered artifact and leaves the target as it was', async () => {
    const entries = withChecksums(artifactEntries(IMGS)).map((e) =>
      e.name === 'kube/v1.28.12/amd64/kubectl' ? { name: e.name, data: Buffer.from('tampered') } : e,
    );
    const dest = join(work.dir, 'import-tampered');
    await mkdir(dest);
    const r = await kko(['artifact', 'import', await build('tampered-bin.tar.gz', entries), '--dir', dest]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^corrupt: kube\/v1\.28\.12\/amd64\/kubectl \(size want 3000 got 8 \(kko\/inventory\.json\)\)$/m,
    );
    expect(await readdir(dest)).toEqual([]);
  });

  it('refuses ../ entries, writes nothing outside, and removes a target dir it created', async () => {
    const dest = join(work.dir, 'nested', 'import-hostile');
    const r = await kko(['artifact', 'import', await hostileArchive(), '--dir', dest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"\.\.\/escaped-by-kko-test"/);
    expect(await readdir(work.dir)).not.toContain('escaped-by-kko-test');
    expect(await readdir(work.dir)).not.toContain('nested');
  });

  it('refuses to write through a symlink inside the target', async () => {
    const dest = join(work.dir, 'import-symlink');
    const elsewhere = join(work.dir, 'elsewhere');
    await mkdir(dest);
    await mkdir(elsewhere);
    await symlink(elsewhere, join(dest, 'kube'));
    const r = await kko(['artifact', 'import', good, '--dir', dest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kube is a symlink/);
    expect(await readdir(elsewhere)).toEqual([]);
    expect(await readdir(dest)).toEqual(['kube']);
  });
});

describe('an artifact made by plain tar (no kko metadata, ./ names, directory entries)', () => {
  let kkStyle: string;
  beforeAll(async () => {
    const src = join(work.dir, 'kk-src');
    for (const e of artifactEntries(IMGS).filter((x) => !x.name.startsWith('kko/'))) {
      await mkdir(join(src, e.name, '..'), { recursive: true });
      if ('data' in e) await writeFile(join(src, e.name), e.data);
    }
    kkStyle = join(work.dir, 'kk-style.tar.gz');
    await run('tar', ['czf', kkStyle, '-C', src, '.']);
  });

  it('inspect lists images from index.json with class unknown', async () => {
    const r = await kko(['artifact', 'inspect', kkStyle, '--json']);
    const report = JSON.parse(r.stdout) as {
      inventory: boolean;
      images: Array<{ ref: string; class: string; arch: string }>;
    };
    expect(report.inventory).toBe(false);
    expect(report.images).toEqual([
      expect.objectContaining({ ref: 'docker.io/calico/cni:v3.27.3', class: 'unknown', arch: 'amd64' }),
      expect.objectContaining({ ref: 'docker.io/kubesphere/kube-apiserver:v1.28.12', class: 'unknown', arch: 'amd64' }),
    ]);
  });

  it('verify passes and import unpacks it', async () => {
    expect((await kko(['artifact', 'verify', kkStyle])).stdout).toMatch(/^ok: 14 files .*no kko\/SHA256SUMS/m);
    const dest = join(work.dir, 'import-kk');
    expect((await kko(['artifact', 'import', kkStyle, '--dir', dest])).code).toBe(0);
    expect(await filesUnder(dest)).toContain('images/index.json');
  });
});

describe('help', () => {
  it.each(['inspect', 'verify', 'import'])('%s --help has examples', async (cmd) => {
    const r = await kko(['artifact', cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`$ kko artifact ${cmd} kubekey-artifact.tar.gz`);
  });
});
