import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { buildMultiArch } from '../support/builders.js';
import { seedReferrers, SPDX, unpackInventory } from '../support/referrers-fixture.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli } from '../cli/run-cli.js';

// #12 item 2, --with-referrers, against the real distribution registry (2.8: no referrers API, so discovery goes
// through the referrers tag schema and cosign's tags; the API path is the same parse of the same index body). The
// image has a cosign .sig, a cosign .att (DSSE layer) and, in the tag schema index sha256-<hex>, an SBOM artifact
// manifest (subject = the image, empty config, artifactType SPDX). Referee: skopeo and raw GETs on the target.
const img = buildMultiArch('withrefs', { layerSize: 4096 });
const REPO = 'library/withrefs';
const REF = `docker.io/${REPO}:1`;
let env: ProxiedRegistry;
let target: TestRegistry;
let dir: string;
const subject = img.manifest.descriptor.digest;
const hex = subject.slice(7);
let sig: Digest;
let att: Digest;
let sbom: Digest;
let sbomBytes: Buffer;

async function seed(c: RegistryClient): Promise<void> {
  ({ sig, att, sbom, sbomBytes } = await seedReferrers(
    c,
    REPO,
    img,
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
  ));
}

const exportOf = (out: string, extra: string[]) =>
  runCli([
    'artifact',
    'export',
    '-m',
    join(dir, 'm.yaml'),
    '-o',
    out,
    '--mirror-config',
    join(dir, 'mirrors.yaml'),
    '--cache',
    join(dir, 'cache'),
    '--retries',
    '0',
    '--quiet',
    ...extra,
  ]);

beforeAll(async () => {
  env = await startProxiedRegistry('kko-referrers-', seed);
  target = await startRegistry({ mode: 'plain' });
  dir = env.work.dir;
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64, arm64]\n  images:\n  - ${REF}\n`,
  );
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "${env.proxy.host}", plainHTTP: true}], upstream: false}\n`,
  );
}, 120_000);

afterAll(async () => {
  await target?.stop();
  await env?.stop();
});

const inventoryOf = (art: string, name: string) => unpackInventory(art, join(dir, name));

describe('artifact export --with-referrers', () => {
  it('without the flag nothing extra is asked for or carried', async () => {
    env.proxy.clear();
    const out = join(dir, 'plain.tar.gz');
    const r = await exportOf(out, []);
    expect(r.code, r.stderr).toBe(0);
    expect((await inventoryOf(out, 'x-plain')).referrers).toBeUndefined();
    for (const tag of [`sha256-${hex}`, `sha256-${hex}.sig`, `sha256-${hex}.att`, `sha256-${hex}.sbom`])
      expect(env.proxy.count({ method: 'GET', path: `/v2/${REPO}/manifests/${tag}` })).toBe(0);
    expect(env.proxy.count({ method: 'GET', path: `/v2/${REPO}/referrers/${subject}` })).toBe(0);
  });

  it('carries the .sig, the .att and the tag-schema SBOM with their blobs; the export is deterministic', async () => {
    env.proxy.clear();
    const out = join(dir, 'refs.tar.gz');
    const r = await exportOf(out, ['--with-referrers']);
    expect(r.code, r.stderr).toBe(0);
    // the API was asked first (distribution 2.8 answers 404), then the tag schema, then cosign's tags
    expect(env.proxy.count({ method: 'GET', path: `/v2/${REPO}/referrers/${subject}` })).toBe(1);
    const inv = await inventoryOf(out, 'x-refs');
    const rows = inv.referrers ?? [];
    expect(rows.map((x) => [x.ref, x.subject, x.digest, x.found, x.tag, x.artifactType])).toEqual(
      [
        [REF, subject, sig, 'tag', `sha256-${hex}.sig`, undefined],
        [REF, subject, att, 'tag', `sha256-${hex}.att`, undefined],
        [REF, subject, sbom, 'tag-schema', undefined, SPDX],
      ].sort((a, b) => ((a[2] as string) < (b[2] as string) ? -1 : 1)),
    );
    // every referrer manifest is in the artifact under its digest, bytes as served
    for (const d of [sig, att, sbom])
      expect(sha256Digest(await readFile(join(dir, 'x-refs/images/blobs/sha256', d.slice(7))))).toBe(d);
    const v = await runCli(['artifact', 'verify', out]);
    expect(v.code, v.stdout).toBe(0);
    const again = join(dir, 'refs2.tar.gz');
    expect((await exportOf(again, ['--with-referrers'])).code).toBe(0);
    expect(await readFile(again)).toEqual(await readFile(out));
    const i = await runCli(['artifact', 'inspect', out]);
    expect(i.stdout).toContain(`referrer ${sbom}`);
  }, 120_000);

  it('push carries them to a second registry: skopeo and raw GETs see them with equal digests', async () => {
    const out = join(dir, 'refs.tar.gz');
    const r = await runCli(['artifact', 'images', 'push', '-a', out, '--registry', target.host, '--plain-http']);
    expect(r.code, r.stderr).toBe(0);
    const inspect = (tag: string) =>
      run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target.host}/${REPO}:${tag}`]);
    expect(sha256Digest(Buffer.from(await inspect(`sha256-${hex}.sig`)))).toBe(sig);
    expect(sha256Digest(Buffer.from(await inspect(`sha256-${hex}.att`)))).toBe(att);
    const index = JSON.parse(await inspect(`sha256-${hex}`)) as {
      manifests: Array<{ digest: string; artifactType?: string }>;
    };
    expect(index.manifests.map((m) => [m.digest, m.artifactType])).toEqual([[sbom, SPDX]]);
    const c = new RegistryClient(target.host, { plainHTTP: true });
    try {
      const got = await c.getManifest(REPO, sbom);
      expect(got.bytes).toEqual(sbomBytes);
      // the SBOM's layer is there too
      const layer = (JSON.parse(sbomBytes.toString()) as { layers: Array<{ digest: Digest }> }).layers[0];
      expect(await c.headBlob(REPO, layer?.digest as Digest)).toBeDefined();
    } finally {
      await c.close();
    }
    // a second push changes nothing in the index (merged, not duplicated)
    const again = await runCli(['artifact', 'images', 'push', '-a', out, '--registry', target.host, '--plain-http']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(await inspect(`sha256-${hex}`)) as { manifests: unknown[] }).manifests).toHaveLength(1);
  }, 120_000);

  it('a registry with the referrers API (a 200 answered in front of the real registry): the API is used, not the tag schema', async () => {
    // distribution 2.8 has no referrers API and no registry here has one: the fault proxy answers that one GET with
    // the index an API would list; the SBOM manifest itself is read by digest from the real registry.
    env.proxy.clear();
    const listing = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: sbom, size: sbomBytes.length, artifactType: SPDX }],
    };
    env.proxy.add({
      method: 'GET',
      path: `/v2/${REPO}/referrers/${subject}`,
      fault: {
        kind: 'status',
        status: 200,
        headers: { 'content-type': MediaType.OCI_INDEX },
        body: JSON.stringify(listing),
      },
    });
    const out = join(dir, 'api.tar.gz');
    const r = await exportOf(out, ['--with-referrers']);
    expect(r.code, r.stderr).toBe(0);
    expect(env.proxy.count({ method: 'GET', path: new RegExp(`/v2/${REPO}/manifests/sha256-${hex}$`) })).toBe(0);
    const rows = (await inventoryOf(out, 'x-api')).referrers ?? [];
    expect(rows.filter((x) => x.found === 'api').map((x) => [x.digest, x.artifactType])).toEqual([[sbom, SPDX]]);
    expect(
      rows
        .filter((x) => x.found === 'tag')
        .map((x) => x.digest)
        .sort(),
    ).toEqual([sig, att].sort());
  }, 120_000);
});
