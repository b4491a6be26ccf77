import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import { writeArchive, type Compression } from '../../src/archive/write.js';
import { BlobCache } from '../../src/cache/index.js';
import type { Catalog } from '../../src/catalog/index.js';
import { ARTIFACT_TYPE, parseOciRef, publishArtifact, pullArtifact } from '../../src/publish/index.js';
import { RegistryClient, RegistryStore } from '../../src/registry/index.js';
import { KeySigner, loadPrivateKey, signArtifact } from '../../src/signing/index.js';
import {
  artifactEntries,
  BINARY_FILES,
  fixtureCatalog,
  IMGS,
  ISO_PATH,
  sha,
  withDocuments,
} from '../support/artifact-fixture.js';
import { fixtureSet } from '../support/builders.js';
import { exportFixture, seedFixtureSource, type FixtureSource } from '../support/fixture-source.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { safeLines } from '../../src/util/safe-text.js';
import { storedEntries } from '../../src/artifact-read/writer-layout.js';
import { runCli, tempDir } from '../cli/run-cli.js';
import { renamesOf, syncedBetween, traceNode } from '../support/strace.js';

const BIN = new URL('../../bin/kko.js', import.meta.url).pathname;

// #12 item 6: `kko artifact publish` pushes an artifact to the real distribution registry as one OCI index, and
// `kko artifact pull` writes it back; `cmp` is the referee for "byte for byte", skopeo for "an OCI client can copy
// the published images".

const sh = promisify(execFile);
const fx = fixtureSet({ baseSize: 32 * 1024 });
const ENV = { SOURCE_DATE_EPOCH: '1700000000' };
const EXT: Record<Compression, string> = { gzip: '.tar.gz', zstd: '.tar.zst', none: '.tar' };
let src: TestRegistry;
let target: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };
let source: FixtureSource;
let catalog: Catalog;
let store: RegistryStore;
let n = 0;

// A real export (an OCI index and a Docker list: upstream manifests ride beside the layout).
async function exportTo(compress: Compression, splitSize?: number): Promise<string> {
  const output = join(work.dir, `e${n++}${EXT[compress]}`);
  await exportFixture(source, {
    cacheDir: join(work.dir, 'cache'),
    output,
    compress,
    env: ENV,
    ...(splitSize ? { splitSize } : {}),
  });
  return splitSize ? `${output}.part-000` : output;
}

// The fixture with kk binaries (deflated in a .tar.gz, zstd-compressed in a .tar.zst), a .tgz, an ISO and a
// signature, laid out by kko's writer (`artifact sign` rewrites it as export would).
async function withFiles(compress: Compression): Promise<string> {
  const fixed = withDocuments(artifactEntries(IMGS));
  const out = join(work.dir, `f${n++}${EXT[compress]}`);
  await writeArchive(withChecksums(fixed), out, compress, ENV);
  const signer = new KeySigner(await loadPrivateKey(join(work.dir, 'k.key')));
  await signArtifact({ artifact: out, signer, env: ENV, catalog });
  return out;
}

const ref = (tag: string, repo = 'kko/art') =>
  parseOciRef(`oci://${target.host}/${repo}:${tag}`, { flag: 't', needTag: true });
const cache = (name: string) => new BlobCache(join(work.dir, `c-${name}`));

beforeAll(async () => {
  work = await tempDir('kko-publish-');
  [src, target] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
  source = await seedFixtureSource(src, fx, work.dir);
  catalog = await fixtureCatalog(work.dir);
  expect((await runCli(['key', 'generate', '--output-key-prefix', join(work.dir, 'k')])).code).toBe(0);
  store = new RegistryStore({ hostOptions: () => ({ plainHTTP: true }) });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await Promise.all([src?.stop(), target?.stop()]);
  await work?.cleanup();
});

// A hostile registry: the published index `digest` tagged again as `tag`, its first artifact manifest changed by `edit`.
async function retagEdited<M>(digest: string, tag: string, edit: (am: M) => void): Promise<void> {
  const c = new RegistryClient(target.host, { plainHTTP: true });
  try {
    const index = JSON.parse((await c.getManifest('kko/art', digest)).bytes.toString()) as {
      manifests: Array<{ digest: string; size: number }>;
    };
    const first = index.manifests[0] as { digest: string; size: number };
    const am = JSON.parse((await c.getManifest('kko/art', first.digest)).bytes.toString()) as M;
    edit(am);
    const bytes = Buffer.from(JSON.stringify(am));
    first.digest = await c.putManifest(
      'kko/art',
      `sha256:${sha(bytes)}`,
      bytes,
      'application/vnd.oci.image.manifest.v1+json',
    );
    first.size = bytes.length;
    const ib = Buffer.from(JSON.stringify(index));
    await c.putManifest('kko/art', tag, ib, 'application/vnd.oci.image.index.v1+json');
  } finally {
    await c.close();
  }
}

// The fixture laid out as kko's writer does (layers whose media type says gzip stored, not deflated again), to be
// written at another level; `edits` as artifactEntries takes them, `drop`: files left out.
function levelEntries(edits: Parameters<typeof artifactEntries>[1] = {}, drop: ReadonlySet<string> = new Set()) {
  const plain = withChecksums(artifactEntries(IMGS, edits).filter((e) => !drop.has(e.name)));
  const manifests = new Map(
    plain.flatMap((e) =>
      e.name.startsWith('images/blobs/') && 'data' in e && e.data && e.data[0] === 0x7b
        ? [[e.name.slice('images/blobs/sha256/'.length), e.data] as const]
        : [],
    ),
  );
  const stored = storedEntries(manifests);
  const entries = plain.map((e) => (stored(e.name) ? { ...e, compressed: true } : e));
  return entries;
}

// An export of `compress` published under `tag`, its artifact manifest then changed by `edit` (retagEdited).
async function publishEdited<M>(compress: Compression, tag: string, edit: (am: M) => void): Promise<void> {
  const art = await exportTo(compress);
  const p = await publishArtifact({ artifact: art, target: store, ref: ref(tag), cache: cache(`h${tag}`), catalog });
  await retagEdited<M>(p.digest, tag, edit);
}

// `kko artifact pull` of `tag` is refused as invalid input matching `msg` (escaped: no raw control character reaches
// the terminal), before any blob is fetched; nothing is written.
async function expectPullRefused(tag: string, ext: string, msg: RegExp): Promise<{ stderr: string }> {
  const out = join(work.dir, `${tag}${ext}`);
  const r = await runCli(
    [
      'artifact',
      'pull',
      `oci://${target.host}/kko/art:${tag}`,
      '-o',
      out,
      '--plain-http',
      '--cache',
      join(work.dir, `c-${tag}`),
    ],
    { env: { HOME: work.dir } },
  );
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(msg);
  expect(safeLines(r.stderr)).toBe(r.stderr);
  expect(await readdir(work.dir)).not.toContain(`${tag}${ext}`);
  expect(await readdir(join(work.dir, `c-${tag}`, 'blobs', 'sha256')).catch(() => [])).toEqual([]);
  return r;
}

async function roundTrip(art: string, tag: string): Promise<{ out: string; digest: string }> {
  const p = await publishArtifact({ artifact: art, target: store, ref: ref(tag), cache: cache(`p${tag}`), catalog });
  const out = join(work.dir, `pulled-${tag}${art.endsWith('.part-000') ? '' : art.slice(art.indexOf('.tar'))}`);
  await pullArtifact({ source: store, ref: ref(tag), output: out, cache: cache(`q${tag}`), catalog });
  return { out, digest: p.digest };
}

describe('publish then pull', () => {
  it.each(['gzip', 'zstd', 'none'] as const)(
    '%s: a real export comes back byte for byte (cmp)',
    async (c) => {
      const art = await exportTo(c);
      const { out } = await roundTrip(art, `export-${c}`);
      await sh('cmp', [art, out]); // throws on any difference
    },
    120_000,
  );

  it.each(['gzip', 'zstd', 'none'] as const)(
    '%s: binaries, a tgz, an ISO and the signature come back byte for byte (cmp)',
    async (c) => {
      const art = await withFiles(c);
      const { out } = await roundTrip(art, `files-${c}`);
      await sh('cmp', [art, out]);
      const listed = (await sh('tar', ['-tf', out])).stdout.split('\n');
      expect(listed).toEqual(
        expect.arrayContaining(['kko/inventory.json.sig', ISO_PATH, 'kube/v1.28.12/amd64/kubeadm']),
      );
    },
    120_000,
  );

  it('a split export comes back as the same parts and list', async () => {
    const art = await exportTo('gzip', 64 * 1024);
    const parts = (await readdir(work.dir))
      .filter((f) => f.startsWith(art.split('/').pop()?.replace('.part-000', '') ?? '?'))
      .sort();
    expect(parts.length).toBeGreaterThan(2);
    const p = await publishArtifact({ artifact: art, target: store, ref: ref('split'), cache: cache('ps'), catalog });
    expect(p.images).toBeGreaterThan(0);
    const out = join(work.dir, 'split-pulled.tar.gz');
    const r = await pullArtifact({ source: store, ref: ref('split'), output: out, cache: cache('qs'), catalog });
    const base = art.replace('.part-000', '');
    const got = r.files.filter((f) => f.includes('.part-'));
    expect(got.length).toBe(parts.length - 1); // the parts, without the list
    for (const [i, f] of got.entries()) await sh('cmp', [`${base}.part-${String(i).padStart(3, '0')}`, f]);
    // pulled again over a longer split artifact's parts (--force): the stale parts go, so `cat` gives the artifact
    await writeFile(`${out}.part-099`, 'stale');
    const again = await pullArtifact({ source: store, ref: ref('split'), output: out, cache: cache('qs'), catalog });
    expect(again.files).toEqual(r.files);
    expect((await readdir(work.dir)).filter((f) => f.startsWith('split-pulled.tar.gz.part-')).length).toBe(got.length);
  }, 120_000);

  it('the same artifact gives the same index digest, in any repository', async () => {
    const art = await exportTo('gzip');
    const a = await publishArtifact({ artifact: art, target: store, ref: ref('d1'), cache: cache('d'), catalog });
    const b = await publishArtifact({
      artifact: art,
      target: store,
      ref: ref('d2', 'other/place'),
      cache: cache('d'),
      catalog,
    });
    expect(a.digest).toBe(b.digest);
    expect(b.blobs.copied).toBeGreaterThan(0); // another repository: sent again
    const again = await publishArtifact({ artifact: art, target: store, ref: ref('d1'), cache: cache('d'), catalog });
    expect(again.blobs.copied).toBe(0); // all present
  }, 120_000);
});

describe('the published index', () => {
  it('is an OCI index with artifactType set; skopeo copies an image out of it by its name', async () => {
    const art = await exportTo('gzip');
    await publishArtifact({ artifact: art, target: store, ref: ref('skopeo'), cache: cache('s'), catalog });
    const raw = (
      await sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target.host}/kko/art:skopeo`])
    ).stdout;
    const index = JSON.parse(raw) as {
      artifactType: string;
      manifests: Array<{ digest: string; artifactType?: string; annotations?: Record<string, string> }>;
    };
    expect(index.artifactType).toBe(ARTIFACT_TYPE);
    expect(index.manifests[0]?.artifactType).toBe(ARTIFACT_TYPE);
    const name = 'docker.io/kubesphere/pause:3.9-arm64';
    const child = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
    expect(child).toBeDefined();
    const dest = join(work.dir, 'skopeo-oci');
    await sh('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${target.host}/kko/art@${child?.digest}`,
      `oci:${dest}:pause`,
    ]);
    const copied = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(copied.manifests[0]?.digest).toBe(child?.digest);
  }, 120_000);
});

describe('refusals', () => {
  it('a tampered blob in the registry: pull names it and writes nothing', async () => {
    const art = await withFiles('gzip');
    await publishArtifact({ artifact: art, target: store, ref: ref('tamper'), cache: cache('t'), catalog });
    const kubeadm =
      IMGS && (await sh('tar', ['-xzOf', art, 'kube/v1.28.12/amd64/kubeadm'], { encoding: 'buffer' })).stdout;
    const hex = sha(kubeadm as Buffer);
    const path = join(target.dir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(path);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    await writeFile(path, bytes);
    const out = join(work.dir, 'tampered.tar.gz');
    await expect(
      pullArtifact({ source: store, ref: ref('tamper'), output: out, cache: cache('tq'), catalog }),
    ).rejects.toThrow(new RegExp(`sha256:${hex}`));
    expect((await readdir(work.dir)).filter((f) => f.startsWith('tampered') || f.startsWith('.tampered'))).toEqual([]);
  }, 120_000);

  it.each([
    ['no scheme', 'HOST/kko/art:v1'],
    ['no host', 'oci://kko:v1'],
    ['no tag', 'oci://HOST/kko/art'],
    ['a digest', 'oci://HOST/kko/art:v1@sha256:' + 'a'.repeat(64)],
    ['upper case', 'oci://HOST/KKO/art:v1'],
  ])('publish with a bad oci:// reference (%s) exits 2 and names it', async (_why, raw) => {
    const art = join(work.dir, 'never-read.tar.gz');
    const r = await runCli(['artifact', 'publish', art, raw.replace('HOST', target.host)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('publish target');
  });

  it('pull with a bad oci:// reference exits 2; pull of a plain image (not a kko artifact) exits 2', async () => {
    expect((await runCli(['artifact', 'pull', 'docker://x/y:z', '-o', join(work.dir, 'x.tar.gz')])).code).toBe(2);
    const r = await runCli([
      'artifact',
      'pull',
      `oci://${src.host}/kubesphere/pause:3.9`,
      '-o',
      join(work.dir, 'x.tar.gz'),
      '--plain-http',
      '--cache',
      join(work.dir, 'c-x'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a kko artifact/);
  });

  // A hostile registry answer: the published index re-tagged with an artifact manifest whose layer titles or recipe
  // lie. Each is refused as invalid input naming the title (escaped), before a single blob is fetched; nothing written.
  it.each([
    ['a parent path', (t: string[]) => (t[1] = '../evil'), /"\.\.\/evil" is not a relative path/],
    ['an absolute path', (t: string[]) => (t[1] = '/tmp/evil'), /"\/tmp\/evil" is not a relative path/],
    ['an empty segment', (t: string[]) => (t[1] = 'kube//x'), /"kube\/\/x" is not a relative path/],
    ['a control character', (t: string[]) => (t[1] = 'kube/\u001b]0;owned\u0007'), /\\u001b\]0;owned\\u0007/],
    ['a title another layer has', (t: string[]) => (t[1] = t[2] as string), /names a second file/],
  ])(
    'pull refuses an artifact manifest with %s in a layer title, fetching nothing',
    async (why, edit, msg) => {
      const tag = `hostile-${why.replace(/ /g, '-')}`;
      await publishEdited<{ layers: Array<{ annotations: Record<string, string> }> }>('gzip', tag, (am) => {
        const titles = am.layers.map((l) => l.annotations['org.opencontainers.image.title'] as string);
        expect(titles.length).toBeGreaterThan(2);
        edit(titles);
        am.layers.forEach((l, i) => (l.annotations['org.opencontainers.image.title'] = titles[i] as string));
      });
      await expectPullRefused(tag, '.tar.gz', msg);
    },
    120_000,
  );

  // io.kko.archive.level as a hostile or broken registry could serve it: each refused as invalid input naming the
  // annotation and the value, before a blob is fetched, nothing written.
  it.each([
    ['gzip', '1.5', '1.5', /level is "1\.5": not a whole number/],
    ['gzip', 'abc', 'abc', /level is "abc": not a whole number/],
    ['gzip', '0', '0', /level is "0": gzip takes 1 to 9/],
    ['gzip', '-1', '-1', /level is "-1": gzip takes 1 to 9/],
    ['gzip', '10', '10', /level is "10": gzip takes 1 to 9/],
    ['zstd', '0', '0', /level is "0": zstd takes 1 to 22/],
    ['zstd', '23', '23', /level is "23": zstd takes 1 to 22/],
    ['none', '3', '3', /level is "3": an uncompressed archive \(compression none\) has no level/],
    [
      'gzip',
      '100 kB with control characters',
      `9\u001b]0;owned\u0007${'x'.repeat(100_000)}`,
      /level is "9\\u001b\]0;owned\\u0007x+"… \(100011 characters\)/,
    ],
  ] as const)(
    'pull refuses a %s recipe with level %s, fetching nothing',
    async (compress, _label, level, msg) => {
      const tag = `level-${compress}-${n}`;
      await publishEdited<{ annotations: Record<string, string> }>(compress, tag, (am) => {
        am.annotations['io.kko.archive.level'] = level;
      });
      const r = await expectPullRefused(tag, EXT[compress], msg);
      expect(r.stderr).toMatch(/annotation io\.kko\.archive\.level is /);
      expect(r.stderr.length).toBeLessThan(2000); // the value is cut, not echoed whole
    },
    120_000,
  );

  it('pull refuses a recipe whose split size needs more than 1000 parts, before fetching any blob', async () => {
    const art = await exportTo('gzip');
    const p = await publishArtifact({ artifact: art, target: store, ref: ref('split1'), cache: cache('sp1'), catalog });
    await retagEdited<{ annotations: Record<string, string> }>(p.digest, 'split1', (am) => {
      am.annotations['io.kko.archive.split-size'] = '1';
    });
    const out = join(work.dir, 'split1.tar.gz');
    await expect(
      pullArtifact({ source: store, ref: ref('split1'), output: out, cache: cache('sq1'), catalog }),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/split-size is 1, but the archive holds at least \d+ bytes, more than 1000 parts/),
    });
    expect((await readdir(work.dir)).filter((f) => f.startsWith('split1') || f.startsWith('.split1'))).toEqual([]);
    expect(await readdir(join(work.dir, 'c-sq1', 'blobs', 'sha256')).catch(() => [])).toEqual([]); // nothing fetched
  }, 120_000);

  it('an artifact kko did not lay out (tar czf) publishes as not byte-identical; pull writes an equivalent kko artifact', async () => {
    const art = await exportTo('gzip');
    const x = join(work.dir, 'x-foreign');
    await sh('mkdir', ['-p', x]);
    await sh('tar', ['xzf', art, '-C', x]);
    const foreign = join(work.dir, 'foreign.tar.gz');
    await sh('tar', ['czf', foreign, '-C', x, 'images', 'kko']); // GNU tar + gzip, images/ before kko/: not kko's
    const p = await publishArtifact({
      artifact: foreign,
      target: store,
      ref: ref('foreign'),
      cache: cache('f'),
      catalog,
    });
    expect(p.byteIdentical).toBe(false);
    expect(p.notByteIdentical).toMatch(/not in kko's order/);
    const out = join(work.dir, 'foreign-pulled.tar.gz');
    const q = await pullArtifact({ source: store, ref: ref('foreign'), output: out, cache: cache('fq'), catalog });
    expect(q.byteIdentical).toBe(false);
    // the same regular files with the same bytes (GNU tar's listing and sha256sum as referees)
    const filesOf = async (a: string, name: string): Promise<string> => {
      const d = join(work.dir, name);
      await sh('mkdir', ['-p', d]);
      await sh('tar', ['xzf', a, '-C', d]);
      return (await sh('sh', ['-c', `cd ${d} && find . -type f | LC_ALL=C sort | xargs sha256sum`])).stdout;
    };
    expect(await filesOf(out, 'y-pulled')).toBe(await filesOf(foreign, 'y-foreign'));
    // the CLI says so, in text and in --json
    const env = { HOME: work.dir };
    const t = `oci://${target.host}/cli/foreign:v1`;
    const c = await runCli(['artifact', 'publish', foreign, t, '--plain-http', '--cache', join(work.dir, 'c-fc')], {
      env,
    });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(
      /note: not byte-identical: its entries are not in kko's order .*pull will write an equivalent kko artifact/,
    );
    const j = await runCli(
      [
        'artifact',
        'pull',
        t,
        '-o',
        join(work.dir, 'fc.tar.gz'),
        '--plain-http',
        '--json',
        '--cache',
        join(work.dir, 'c-fc2'),
      ],
      { env },
    );
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ byteIdentical: false });
    // and it is a kko-written artifact now: published again, it is byte-identical and comes back byte for byte
    const again = await roundTrip(out, 'foreign-again');
    await sh('cmp', [out, again.out]);
  }, 120_000);

  it('the compression level is recorded: an artifact written at gzip level 1 comes back byte for byte', async () => {
    // laid out as kko's writer does (layers whose media type says gzip stored, not deflated again), at level 1
    const entries = levelEntries();
    const art = join(work.dir, 'level1.tar.gz');
    // a registry of its own: the tamper test above corrupts the fixture's kubeadm blob in the shared target's storage
    const own = await startRegistry({ mode: 'plain' });
    const at = (tag: string) => parseOciRef(`oci://${own.host}/kko/level:${tag}`, { flag: 't', needTag: true });
    try {
      await writeArchive(entries, art, 'gzip', ENV, { level: 1 });
      const p = await publishArtifact({
        artifact: art,
        target: store,
        ref: at('l1'),
        cache: cache('l1'),
        catalog,
        level: 1,
      });
      expect(p.byteIdentical).toBe(true);
      const out = join(work.dir, 'level1-pulled.tar.gz');
      await pullArtifact({ source: store, ref: at('l1'), output: out, cache: cache('l1q'), catalog });
      await sh('cmp', [art, out]);
      // published at the default level's record instead, the rebuild differs and pull refuses it, writing nothing
      await publishArtifact({
        artifact: art,
        target: store,
        ref: at('l1-wrong'),
        cache: cache('l1w'),
        catalog,
      });
      const wrong = join(work.dir, 'level1-wrong.tar.gz');
      await expect(
        pullArtifact({ source: store, ref: at('l1-wrong'), output: wrong, cache: cache('l1wq'), catalog }),
      ).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
      await expect(readFile(wrong)).rejects.toThrow();
    } finally {
      await own.stop();
    }
  }, 120_000);
});

describe('the CLI', () => {
  it('publish then pull through kko, --json', async () => {
    const art = await exportTo('zstd');
    const env = { HOME: work.dir };
    const t = `oci://${target.host}/cli/art:v1`;
    const p = await runCli(
      ['artifact', 'publish', art, t, '--plain-http', '--json', '--cache', join(work.dir, 'c-cli')],
      { env },
    );
    expect(p.code, p.stderr).toBe(0);
    const digest = (JSON.parse(p.stdout) as { digest: string }).digest;
    const out = join(work.dir, 'cli-pulled.tar.zst');
    const q = await runCli(
      [
        'artifact',
        'pull',
        `oci://${target.host}/cli/art@${digest}`,
        '-o',
        out,
        '--plain-http',
        '--cache',
        join(work.dir, 'c-cli2'),
      ],
      { env },
    );
    expect(q.code, q.stderr).toBe(0);
    await sh('cmp', [art, out]);
    // the artifact is there now: a second pull refuses to replace it (exit 2, nothing fetched), --force replaces it
    const again = ['artifact', 'pull', `oci://${target.host}/cli/art@${digest}`, '-o', out, '--plain-http'];
    const refused = await runCli([...again, '--cache', join(work.dir, 'c-cli3')], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cli-pulled\.tar\.zst: file exists/);
    expect(await readdir(join(work.dir, 'c-cli3', 'blobs', 'sha256')).catch(() => [])).toEqual([]);
    const forced = await runCli([...again, '--cache', join(work.dir, 'c-cli3'), '--force'], { env });
    expect(forced.code, forced.stderr).toBe(0);
    await sh('cmp', [art, out]);
  }, 120_000);
  it('pull: the artifact is fsynced before it gets its name, and its directory after (strace)', async () => {
    const art = await exportTo('gzip');
    const t = `oci://${target.host}/cli/durable:v1`;
    const p = await runCli(['artifact', 'publish', art, t, '--plain-http', '--cache', join(work.dir, 'c-dur')], {
      env: { HOME: work.dir },
    });
    expect(p.code, p.stderr).toBe(0);
    const outDir = join(work.dir, 'durable');
    await mkdir(outDir);
    const out = join(outDir, 'pulled.tar.gz');
    const calls = await traceNode(
      BIN,
      ['artifact', 'pull', t, '-o', out, '--plain-http', '--cache', join(work.dir, 'c-dur2')],
      join(work.dir, 'pull.strace'),
    );
    await sh('cmp', [art, out]);
    const renames = renamesOf(calls);
    const [r] = renames.filter((x) => x.to === out);
    if (!r) throw new Error('the artifact was not renamed into place');
    // written under a temp name in the staging folder, renamed to its name there, then into place
    const first = renames.find((x) => x.to === r.from && x.i < r.i);
    if (!first) throw new Error('the staged artifact was not renamed from its temp name');
    expect(syncedBetween(calls, first.from, 0, first.i), 'the artifact, before its renames').toBe(true);
    expect(syncedBetween(calls, outDir, r.i, calls.length), 'the output directory, after').toBe(true);
  }, 120_000);
  it('publish --level N records the level: an artifact written at gzip level 1 comes back byte for byte; a bad --level exits 2', async () => {
    // no kk binaries: the CLI checks them against the shipped catalog, which does not know the fixture's bytes
    const names = new Set(BINARY_FILES.map(([p]) => p));
    const entries = levelEntries({ inventory: (d) => (d.binaries = []) }, names);
    const art = join(work.dir, 'level1-cli-src.tar.gz');
    await writeArchive(entries, art, 'gzip', ENV, { level: 1 });
    const env = { HOME: work.dir };
    const cliRef = `oci://${target.host}/cli/level:l1`;
    const pub = (file: string, level: string, tag = cliRef) =>
      runCli(['artifact', 'publish', file, tag, '--plain-http', '--level', level, '--cache', join(work.dir, 'c-l1c')], {
        env,
      });
    const pc = await pub(art, '1');
    expect(pc.code, pc.stderr).toBe(0);
    const cliOut = join(work.dir, 'level1-cli.tar.gz');
    const q = await runCli(
      ['artifact', 'pull', cliRef, '-o', cliOut, '--plain-http', '--cache', join(work.dir, 'c-l1d')],
      {
        env,
      },
    );
    expect(q.code, q.stderr).toBe(0);
    await sh('cmp', [art, cliOut]);
    // without --level the default (6) is recorded: the rebuild differs and pull refuses it
    const d = await runCli(['artifact', 'publish', art, `oci://${target.host}/cli/level:l6`, '--plain-http'], { env });
    expect(d.code, d.stderr).toBe(0);
    const r6 = await runCli(
      ['artifact', 'pull', `oci://${target.host}/cli/level:l6`, '-o', join(work.dir, 'l6.tar.gz'), '--plain-http'],
      { env },
    );
    expect(r6.code).toBe(1);
    // --level out of range, not a number, or for a compression that has none: exit 2, nothing published
    const bare = join(work.dir, 'level1-noname');
    await sh('cp', [art, bare]); // a name that says nothing: the library refuses it once the archive is open
    const tar = await exportTo('none');
    for (const [file, level, msg] of [
      [art, '10', /--level 10: gzip takes 1 to 9/],
      [art, '0', /--level: "0" is not a whole number from 1 to 22/],
      [art, '1.5', /--level: "1\.5" is not a whole number/],
      [art, '23', /--level: "23" is not a whole number from 1 to 22/],
      [tar, '3', /--level 3: an uncompressed archive \(compression none\) has no level/],
      [bare, '10', /level 10: gzip takes 1 to 9/],
    ] as const) {
      const r = await pub(file, level, `oci://${target.host}/cli/level:refused`);
      expect(r.code, `${file} --level ${level}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const tags = await fetch(`${target.url}/v2/cli/level/tags/list`).then(
      (res) => res.json() as Promise<{ tags: string[] }>,
    );
    expect(tags.tags.sort()).toEqual(['l1', 'l6']);
  }, 120_000);
});
