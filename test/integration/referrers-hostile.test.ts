import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REFERRER_BLOBS, MAX_REFERRERS, MAX_ROW_ANNOTATIONS } from '../../src/export/referrers.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { runCli } from '../cli/run-cli.js';
import { runBuiltCli, RSS_LIMIT_KB } from '../support/built-cli.js';
import { buildMultiArch, pushIndex, type FixtureIndex } from '../support/builders.js';
import { checkArgs, exportArgs, manifestYaml, mirrorPolicyYaml, pushArgs } from '../support/cli-args.js';
import { pushCosignSignature } from '../support/cosign.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import {
  pushReferrersIndex,
  pushSbom,
  SPDX,
  unpackInventory,
  type PushedReferrer,
  type ReferrerInventoryRow,
} from '../support/referrers-fixture.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// #12 item 2 follow-up: the referrers listing (here the tag schema index on the real distribution registry, which has
// no referrers API) is untrusted. It is capped per subject, its descriptors' claims are not taken into the inventory,
// a listed manifest that does not hash to its digest is not carried; and the per-arch manifests of an index are
// subjects too (cosign sign --recursive). One image per case, each in its own repository of one registry.
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const image = (name: string): FixtureIndex => buildMultiArch(name, { layerSize: 2048 });
const many = image('many');
const liar = image('liar');
const corrupt = image('corrupt');
const perarch = image('perarch');
const bloated = image('bloated');
const fat = image('fat');
const FAT = 64; // listed referrers of 1 MiB each
const ref = (name: string): string => `docker.io/library/${name}:1`;
const top = (i: FixtureIndex): Digest => i.manifest.descriptor.digest;
const child = (i: FixtureIndex, n: number): Digest =>
  (i.images[n] as FixtureIndex['images'][number]).manifest.descriptor.digest;
const hexOf = (d: string): string => d.slice(7);
const LISTED = MAX_REFERRERS + 4;

let env: ProxiedRegistry;
let target: TestRegistry;
let dir: string;
let manyRefs: Digest[] = []; // digest order
let liarSbom: PushedReferrer;
let bad: PushedReferrer;
let good: PushedReferrer;
let gone: PushedReferrer; // the proxy answers 404 for it: a listing entry the registry does not serve
let archSig: Digest; // the .sig of perarch's amd64 manifest
let archSbom: PushedReferrer; // an SBOM whose subject is that manifest
let topSig: Digest;
let wide: PushedReferrer; // a referrer of MAX_REFERRER_BLOBS layers and a config
let annotated: PushedReferrer; // a referrer with annotations over MAX_ROW_ANNOTATIONS

async function seed(c: RegistryClient): Promise<void> {
  // many: MAX_REFERRERS + 4 SBOMs of the index, listed in reverse digest order, one of them twice
  await pushIndex(c, 'library/many', '1', many);
  const pushed: PushedReferrer[] = [];
  for (let i = 0; i < LISTED; i++) pushed.push(await pushSbom(c, 'library/many', many.manifest.descriptor, `n${i}`));
  manyRefs = pushed.map((p) => p.digest).sort();
  const listing = [...pushed].sort((a, b) => (a.digest < b.digest ? 1 : -1)).map((p) => p.descriptor);
  await pushReferrersIndex(c, 'library/many', top(many), [...listing, listing[0] as PushedReferrer['descriptor']]);

  // liar: the listing claims another artifactType, other annotations and another size for a real SBOM
  await pushIndex(c, 'library/liar', '1', liar);
  liarSbom = await pushSbom(c, 'library/liar', liar.manifest.descriptor, 'liar');
  await pushReferrersIndex(c, 'library/liar', top(liar), [
    {
      ...liarSbom.descriptor,
      size: liarSbom.bytes.length + 7,
      artifactType: 'application/vnd.evil+json',
      annotations: { 'org.opencontainers.image.created': '1999-01-01T00:00:00Z', evil: 'yes' },
    },
  ]);

  // corrupt: three listed; the proxy corrupts one's body and answers 404 for another; the third is fine
  await pushIndex(c, 'library/corrupt', '1', corrupt);
  bad = await pushSbom(c, 'library/corrupt', corrupt.manifest.descriptor, 'bad');
  good = await pushSbom(c, 'library/corrupt', corrupt.manifest.descriptor, 'good');
  gone = await pushSbom(c, 'library/corrupt', corrupt.manifest.descriptor, 'gone');
  await pushReferrersIndex(c, 'library/corrupt', top(corrupt), [bad.descriptor, good.descriptor, gone.descriptor]);

  // perarch: a .sig of the index; the amd64 manifest has its own .sig and its own SBOM; so does arm64 (not exported)
  await pushIndex(c, 'library/perarch', '1', perarch);
  topSig = (await pushCosignSignature(c, 'library/perarch', top(perarch), key)).manifestDigest;
  archSig = (await pushCosignSignature(c, 'library/perarch', child(perarch, 0), key)).manifestDigest;
  const amd64 = perarch.images[0]?.manifest.descriptor;
  archSbom = await pushSbom(c, 'library/perarch', amd64 as PushedReferrer['descriptor'], 'perarch-amd64');
  await pushReferrersIndex(c, 'library/perarch', child(perarch, 0), [archSbom.descriptor]);
  await pushCosignSignature(c, 'library/perarch', child(perarch, 1), key);

  // bloated: one referrer lists more blobs than a row may hold, another has annotations too long for a row
  await pushIndex(c, 'library/bloated', '1', bloated);
  wide = await pushSbom(c, 'library/bloated', bloated.manifest.descriptor, 'wide', { layers: MAX_REFERRER_BLOBS });
  annotated = await pushSbom(c, 'library/bloated', bloated.manifest.descriptor, 'annotated', {
    annotations: { note: 'x'.repeat(MAX_ROW_ANNOTATIONS) },
  });
  // fat: FAT referrers of 1 MiB each (their annotations), listed without annotations
  await pushIndex(c, 'library/fat', '1', fat);
  const fatEntries: PushedReferrer['descriptor'][] = [];
  for (let i = 0; i < FAT; i++) {
    const pad = { n: String(i), pad: 'x'.repeat(1024 * 1024) };
    const { descriptor } = await pushSbom(c, 'library/fat', fat.manifest.descriptor, `fat${i}`, { annotations: pad });
    fatEntries.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size });
  }
  await pushReferrersIndex(c, 'library/fat', top(fat), fatEntries);
  await pushReferrersIndex(c, 'library/bloated', top(bloated), [wide.descriptor, annotated.descriptor]);
}

beforeAll(async () => {
  env = await startProxiedRegistry('kko-referrers-hostile-', seed);
  target = await startRegistry({ mode: 'plain' });
  dir = env.work.dir;
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(env.proxy.host));
}, 180_000);

afterAll(async () => {
  await target?.stop();
  await env?.stop();
});

// Export one image with --with-referrers (its own manifest file and cache); the run and the inventory rows.
async function exportOne(name: string, out: string, arches: string[] = ['amd64', 'arm64']) {
  const m = join(dir, `${name}.yaml`);
  await writeFile(m, manifestYaml([ref(name)], arches));
  const r = await runCli(
    exportArgs(
      join(dir, out),
      { manifest: m, mirrors: join(dir, 'mirrors.yaml'), cache: join(dir, `cache-${name}`) },
      '--retries',
      '0',
      '--with-referrers',
    ),
  );
  const rows: ReferrerInventoryRow[] =
    r.code === 0 ? ((await unpackInventory(join(dir, out), join(dir, `x-${out}`))).referrers ?? []) : [];
  return { r, rows };
}

const manifestGets = (repo: string, digest: string): number =>
  env.proxy.count({ method: 'GET', path: `/v2/${repo}/manifests/${digest}` });

describe('artifact export --with-referrers: an untrusted listing', () => {
  it(`takes at most ${MAX_REFERRERS} listed referrers per subject, the first in digest order, and says so`, async () => {
    env.proxy.clear();
    const { r, rows } = await exportOne('many', 'many.tar.gz');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `the referrers listing of ${ref('many')} (tag-schema) for ${top(many)} lists ${LISTED} referrers, more than ${MAX_REFERRERS}: only the first ${MAX_REFERRERS} in digest order are carried`,
    );
    expect(rows.map((x) => x.digest)).toEqual(manyRefs.slice(0, MAX_REFERRERS));
    // bounded: the ones past the cap are never asked for, the others once each (the duplicate entry too)
    for (const d of manyRefs.slice(MAX_REFERRERS)) expect(manifestGets('library/many', d)).toBe(0);
    for (const d of manyRefs.slice(0, MAX_REFERRERS)) expect(manifestGets('library/many', d)).toBe(1);
    const again = await exportOne('many', 'many2.tar.gz');
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(await readFile(join(dir, 'many2.tar.gz'))).toEqual(await readFile(join(dir, 'many.tar.gz')));
  }, 180_000);

  it('takes artifactType and annotations from the manifest, not the listing, and warns where they disagree', async () => {
    const { r, rows } = await exportOne('liar', 'liar.tar.gz');
    expect(r.code, r.stderr).toBe(0);
    expect(rows.map((x) => [x.digest, x.found, x.artifactType, x.annotations])).toEqual([
      [liarSbom.digest, 'tag-schema', SPDX, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' }],
    ]);
    const what = `referrer ${liarSbom.digest} of ${ref('liar')} (tag-schema, for ${top(liar)})`;
    expect(r.stderr).toContain(
      `${what}: the listing says artifactType "application/vnd.evil+json", the manifest has "${SPDX}" (the manifest's is kept)`,
    );
    expect(r.stderr).toContain(
      `${what}: the listing says size ${liarSbom.bytes.length + 7}, the manifest has ${liarSbom.bytes.length}`,
    );
    const v = await runCli(['artifact', 'verify', join(dir, 'liar.tar.gz')]);
    expect(v.code, v.stdout).toBe(0);
  }, 120_000);

  it('does not carry a listed manifest whose body does not hash to its digest, nor one that is absent; names each', async () => {
    env.proxy.clear();
    env.proxy.add({
      method: 'GET',
      path: `/v2/library/corrupt/manifests/${bad.digest}`,
      times: Infinity,
      fault: { kind: 'corrupt' },
    });
    env.proxy.add({
      method: 'GET',
      path: `/v2/library/corrupt/manifests/${gone.digest}`,
      times: Infinity,
      fault: {
        kind: 'status',
        status: 404,
        body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
      },
    });
    const { r, rows } = await exportOne('corrupt', 'corrupt.tar.gz');
    env.proxy.clear();
    expect(r.code, r.stderr).toBe(0);
    expect(rows.map((x) => x.digest)).toEqual([good.digest]);
    const what = (d: string) => `referrer ${d} of ${ref('corrupt')} (tag-schema, for ${top(corrupt)}): not carried: `;
    const line = (d: string) => r.stderr.split('\n').find((l) => l.includes(what(d))) ?? '';
    expect(line(bad.digest)).toMatch(/body hashes to sha256:[0-9a-f]{64}, expected sha256:/);
    expect(line(bad.digest)).toContain(`expected ${bad.digest}`);
    expect(line(gone.digest)).toContain('MANIFEST_UNKNOWN');
    // the corrupt body is nowhere in the artifact
    expect(
      await readFile(join(dir, 'x-corrupt.tar.gz/images/blobs/sha256', hexOf(bad.digest))).catch(() => undefined),
    ).toBe(undefined);
  }, 120_000);
  it('a listing that does not parse (the referrers API answering junk) is a warning, and nothing of it is fetched', async () => {
    env.proxy.clear();
    env.proxy.add({
      method: 'GET',
      path: `/v2/library/liar/referrers/${top(liar)}`,
      fault: {
        kind: 'status',
        status: 200,
        headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: JSON.stringify({ schemaVersion: 2, manifests: [{ digest: '\u001b]0;owned\u0007', size: 1 }] }),
      },
    });
    const { r, rows } = await exportOne('liar', 'junk.tar.gz');
    env.proxy.clear();
    expect(r.code, r.stderr).toBe(0);
    expect(rows).toEqual([]);
    expect(r.stderr).toContain(`the referrers listing of ${ref('liar')} (api) for ${top(liar)} is not read: `);
    expect(r.stderr).not.toContain('\u001b]0;');
  }, 120_000);
});

describe('artifact export --with-referrers: rows stay bounded', () => {
  it(`does not carry a referrer of more than ${MAX_REFERRER_BLOBS} blobs; annotations too long stay out of the row`, async () => {
    const { r, rows } = await exportOne('bloated', 'bloated.tar.gz');
    expect(r.code, r.stderr).toBe(0);
    expect(rows.map((x) => [x.digest, x.annotations])).toEqual([[annotated.digest, undefined]]);
    const what = (d: string) => `referrer ${d} of ${ref('bloated')} (tag-schema, for ${top(bloated)})`;
    expect(r.stderr).toContain(
      `${what(wide.digest)}: ${MAX_REFERRER_BLOBS + 1} blobs, more than ${MAX_REFERRER_BLOBS}: not carried`,
    );
    expect(r.stderr).toContain(`${what(annotated.digest)}: annotations over ${MAX_ROW_ANNOTATIONS} characters`);
    // the manifest itself, annotations and all, is carried as served
    const carried = await readFile(join(dir, 'x-bloated.tar.gz/images/blobs/sha256', hexOf(annotated.digest)));
    expect(carried).toEqual(annotated.bytes);
  }, 120_000);
});

describe('artifact export --with-referrers: memory', () => {
  it(`${FAT} listed referrers of 1 MiB each: peak RSS under 256 MB`, async () => {
    const m = join(dir, 'fat.yaml');
    await writeFile(m, manifestYaml([ref('fat')], ['amd64']));
    const out = join(dir, 'fat.tar.gz');
    const mirrors = join(dir, 'mirrors.yaml');
    const r = await runBuiltCli(
      exportArgs(out, { manifest: m, mirrors, cache: join(dir, 'cache-fat') }, '--retries', '0', '--with-referrers'),
    );
    expect(r.code, r.stderr).toBe(0);
    console.log(`${FAT} referrers of 1 MiB: ${r.ms} ms, max RSS ${Math.round(r.maxRssKb / 1024)} MB`);
    expect(r.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
    const rows = (await unpackInventory(out, join(dir, 'x-fat'))).referrers ?? [];
    expect(rows).toHaveLength(FAT);
    expect(rows.filter((x) => x.annotations)).toEqual([]);
  }, 180_000);
});

describe('artifact export --with-referrers: per-arch manifests are subjects too', () => {
  it('carries the exported arch manifest’s own .sig and referrer (not those of an arch not exported); push puts them beside it', async () => {
    env.proxy.clear();
    const { r, rows } = await exportOne('perarch', 'perarch.tar.gz', ['amd64']);
    expect(r.code, r.stderr).toBe(0);
    const amd64 = child(perarch, 0);
    expect(rows.map((x) => [x.subject, x.digest, x.found, x.tag])).toEqual(
      [
        [top(perarch), topSig, 'tag', `sha256-${hexOf(top(perarch))}.sig`],
        [amd64, archSig, 'tag', `sha256-${hexOf(amd64)}.sig`],
        [amd64, archSbom.digest, 'tag-schema', undefined],
      ].sort((a, b) => ((a[1] as string) < (b[1] as string) ? -1 : 1)),
    );
    // the arm64 manifest is not in the export: its referrers are not looked for
    expect(manifestGets('library/perarch', `sha256-${hexOf(child(perarch, 1))}.sig`)).toBe(0);
    expect(manifestGets('library/perarch', `sha256-${hexOf(child(perarch, 1))}`)).toBe(0);
    const again = await exportOne('perarch', 'perarch2.tar.gz', ['amd64']);
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(await readFile(join(dir, 'perarch2.tar.gz'))).toEqual(await readFile(join(dir, 'perarch.tar.gz')));
    const v = await runCli(['artifact', 'verify', join(dir, 'perarch.tar.gz')]);
    expect(v.code, v.stdout).toBe(0);

    const p = await runCli(pushArgs(join(dir, 'perarch.tar.gz'), target.host));
    expect(p.code, p.stderr).toBe(0);
    const raw = (tag: string) =>
      run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target.host}/library/perarch:${tag}`]);
    // the arch manifest went up as it was (OCI: digest kept), and its signature and SBOM beside it
    expect(sha256Digest(Buffer.from(await raw('1-amd64')))).toBe(amd64);
    expect(sha256Digest(Buffer.from(await raw(`sha256-${hexOf(amd64)}.sig`)))).toBe(archSig);
    expect(sha256Digest(Buffer.from(await raw(`sha256-${hexOf(top(perarch))}.sig`)))).toBe(topSig);
    const index = JSON.parse(await raw(`sha256-${hexOf(amd64)}`)) as {
      manifests: Array<{ digest: string; artifactType?: string }>;
    };
    expect(index.manifests.map((m) => [m.digest, m.artifactType])).toEqual([[archSbom.digest, SPDX]]);
    // check finds each carried one where push put it (the per-arch SBOM listed in its subject's index)
    const ck = await runCli(checkArgs(join(dir, 'perarch.tar.gz'), target.host));
    expect(ck.code, `${ck.stdout}${ck.stderr}`).toBe(0);
    expect(ck.stdout).toContain(`sha256-${hexOf(amd64)}.sig`);
    expect(ck.stderr).not.toContain('not in the registry');
    const c = new RegistryClient(target.host, { plainHTTP: true });
    try {
      expect((await c.getManifest('library/perarch', archSbom.digest)).bytes).toEqual(archSbom.bytes);
    } finally {
      await c.close();
    }
  }, 180_000);
});
