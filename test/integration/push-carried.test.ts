import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/index.js';
import { sha256Digest } from '../../src/reference/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { buildMultiArch, pushImage } from '../support/builders.js';
import { checkArgs, exportArgs, jsonEvents, manifestYaml, mirrorPolicyYaml, pushArgs } from '../support/cli-args.js';
import { startProxiedRegistry, startRegistryBehindProxy, type ProxiedRegistry } from '../support/proxied-registry.js';
import { seedReferrers, SPDX, type SeededReferrers } from '../support/referrers-fixture.js';
import { skopeoRaw } from '../support/skopeo.js';
import { runCli } from '../cli/run-cli.js';

// #12 follow-ups on the far side, against the real distribution registry (2.8, no referrers API) behind the fault
// proxy (the referee of which requests a push makes): `artifact images push` and `check` report the signatures and
// referrers an artifact carries (per image, in totals, in --json; NDJSON events before `done`), push them without
// --verify-images, skip what is there unless --recheck, and never overwrite a referrers tag that is not an index.
const img = buildMultiArch('carried', { layerSize: 4096 });
const squatter = buildMultiArch('squatter', { layerSize: 1024 });
const REPO = 'library/carried';
const REF = `docker.io/${REPO}:1`;
const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let env: ProxiedRegistry;
let dir: string;
let art: string;
let seeded: SeededReferrers;
const hex = img.manifest.descriptor.digest.slice(7);

type Ev = { type: string; kind?: string; image?: string; name?: string; how?: string; [k: string]: unknown };

beforeAll(async () => {
  env = await startProxiedRegistry('kko-carried-', async (c) => {
    seeded = await seedReferrers(c, REPO, img, signer.privateKey);
  });
  dir = env.work.dir;
  await writeFile(join(dir, 'cosign.pub'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'm.yaml'), manifestYaml([REF]));
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(env.proxy.host));
  art = join(dir, 'carried.tar.gz');
  const r = await runCli(
    exportArgs(
      art,
      { manifest: join(dir, 'm.yaml'), mirrors: join(dir, 'mirrors.yaml'), cache: join(dir, 'cache') },
      '--retries',
      '0',
      '--quiet',
      '--verify-images',
      '--key',
      join(dir, 'cosign.pub'),
      '--with-referrers',
    ),
  );
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

// A fresh target behind the proxy, stopped after `body`.
async function withTarget(body: (t: Awaited<ReturnType<typeof startRegistryBehindProxy>>) => Promise<void>) {
  const t = await startRegistryBehindProxy();
  try {
    await body(t);
  } finally {
    await t.stop();
  }
}

// The two referrers in inventory order (by digest): [digest, the rest of the row].
const byDigest = <T extends unknown[]>(a: [string, ...T], b: [string, ...T]): Array<[string, ...T]> =>
  a[0] < b[0] ? [a, b] : [b, a];
const carriedOf = (events: Ev[]): Ev[] => events.filter((e) => e.type === 'carried');
const manifestPuts = (t: { proxy: { count: (m: { method: string; path: RegExp }) => number } }, tag: string) =>
  t.proxy.count({ method: 'PUT', path: new RegExp(`/v2/${REPO}/manifests/${tag}$`) });

describe('artifact images push: the carried signatures and referrers', () => {
  it('go along without --verify-images, and the report names each under its image, in totals and as NDJSON before done', async () => {
    await withTarget(async (t) => {
      const r = await runCli(pushArgs(art, t.proxy.host, '--json'));
      expect(r.code, r.stderr).toBe(0);
      const events = jsonEvents<Ev>(r.stdout);
      const done = events.findIndex((e) => e.type === 'done');
      expect(done).toBe(events.length - 1); // nothing after done
      const carried = carriedOf(events);
      const image = `${t.proxy.host}/${REPO}:1`;
      const at = (tag: string) => `${image.slice(0, -2)}${tag}`;
      expect(carried.map((e) => [e.digest, e.kind, e.name, e.how, e.image])).toEqual([
        [seeded.sig, 'signature', at(`:sha256-${hex}.sig`), 'pushed', image],
        ...byDigest(
          [seeded.att, 'referrer', at(`:sha256-${hex}.att`), 'pushed', image],
          [seeded.sbom, 'referrer', at(`@${seeded.sbom}`), 'pushed', image],
        ),
        [expect.any(String), 'referrers-index', at(`:sha256-${hex}`), 'pushed', image],
      ]);
      expect(events[done]).toMatchObject({
        images: 1,
        carried: { signature: { pushed: 1 }, referrer: { pushed: 2 }, 'referrers-index': { pushed: 1 } },
      });
      // skopeo reads the signature and the referrers index from the target
      expect(sha256Digest((await skopeoRaw(`${t.proxy.host}/${REPO}:sha256-${hex}.sig`)).bytes)).toBe(seeded.sig);
      const index = JSON.parse((await skopeoRaw(`${t.proxy.host}/${REPO}:sha256-${hex}`)).bytes.toString()) as {
        manifests: Array<{ digest: string; artifactType?: string }>;
      };
      expect(index.manifests.map((m) => [m.digest, m.artifactType])).toEqual([[seeded.sbom, SPDX]]);
      // the human report: each under its image on stdout, the totals on stderr
      const h = await runCli(pushArgs(art, t.proxy.host));
      expect(h.code, h.stderr).toBe(0);
      const lines = h.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
      expect(lines[0]).toMatch(new RegExp(`^pushed ${t.proxy.host}/${REPO}:1 \\(`));
      const line = (kind: string, where: string, digest: string) =>
        `  present ${kind} ${t.proxy.host}/${REPO}${where} ${digest}`;
      expect(lines.slice(1)).toEqual([
        line('signature', `:sha256-${hex}.sig`, seeded.sig),
        ...byDigest([seeded.att, ''], [seeded.sbom, '']).map(([d]) =>
          line('referrer', d === seeded.att ? `:sha256-${hex}.att` : `@${seeded.sbom}`, d),
        ),
        expect.stringMatching(new RegExp(`^  present referrers-index ${t.proxy.host}/${REPO}:sha256-${hex} sha256:`)),
      ]);
      expect(h.stderr).toContain(
        'carried: signature(s) 1 present; referrer(s) 2 present; referrers index(es) 1 present',
      );
    });
  }, 120_000);

  it('a re-push finds them there and puts nothing; --recheck puts each again, as it does for images', async () => {
    await withTarget(async (t) => {
      expect((await runCli(pushArgs(art, t.proxy.host))).code).toBe(0);
      const tags = [`sha256-${hex}.sig`, `sha256-${hex}.att`, seeded.sbom, `sha256-${hex}`];
      t.proxy.clear();
      const again = await runCli(pushArgs(art, t.proxy.host, '--json'));
      expect(again.code, again.stderr).toBe(0);
      expect(carriedOf(jsonEvents<Ev>(again.stdout)).map((e) => e.how)).toEqual([
        'present',
        'present',
        'present',
        'present',
      ]);
      for (const tag of tags) expect(manifestPuts(t, tag), tag).toBe(0);
      t.proxy.clear();
      const re = await runCli(pushArgs(art, t.proxy.host, '--json', '--recheck'));
      expect(re.code, re.stderr).toBe(0);
      expect(carriedOf(jsonEvents<Ev>(re.stdout)).map((e) => e.how)).toEqual(['pushed', 'pushed', 'pushed', 'pushed']);
      for (const tag of tags) expect(manifestPuts(t, tag), tag).toBe(1);
      // and the blobs of each were HEADed again (the .att's DSSE layer)
      expect(t.proxy.count({ method: 'HEAD', path: new RegExp(`/v2/${REPO}/blobs/`) })).toBeGreaterThan(0);
    });
  }, 120_000);

  it('a referrers tag that holds an image manifest is left as it is, with a warning naming the repository, the tag and what is there', async () => {
    await withTarget(async (t) => {
      const c = new RegistryClient(t.reg.host, { plainHTTP: true });
      const there = squatter.images[0] as (typeof squatter.images)[number];
      try {
        await pushImage(c, REPO, `sha256-${hex}`, there);
      } finally {
        await c.close();
      }
      const r = await runCli(pushArgs(art, t.proxy.host, '--json'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(
        `warning: ${t.proxy.host}/${REPO}:sha256-${hex} holds an image manifest (${MediaType.OCI_MANIFEST}) ${there.manifest.descriptor.digest}, not a referrers index: left as it is`,
      );
      const ev = carriedOf(jsonEvents<Ev>(r.stdout)).find((e) => e.kind === 'referrers-index');
      expect(ev).toMatchObject({ how: 'skipped', digest: there.manifest.descriptor.digest });
      expect(sha256Digest((await skopeoRaw(`${t.proxy.host}/${REPO}:sha256-${hex}`)).bytes)).toBe(
        there.manifest.descriptor.digest,
      );
      // the referrer itself went by digest all the same
      expect(sha256Digest((await skopeoRaw(`${t.proxy.host}/${REPO}@${seeded.sbom}`)).bytes)).toBe(seeded.sbom);
    });
  }, 120_000);

  it('a referrers index already at the tag is merged: its entries kept first, ours added, the same bytes on a re-run', async () => {
    await withTarget(async (t) => {
      const c = new RegistryClient(t.reg.host, { plainHTTP: true });
      const theirs = squatter.images[1] as (typeof squatter.images)[number];
      const entry = {
        mediaType: MediaType.OCI_MANIFEST,
        digest: theirs.manifest.descriptor.digest,
        size: theirs.manifest.descriptor.size,
        artifactType: 'application/x-other',
      };
      try {
        await pushImage(c, REPO, theirs.manifest.descriptor.digest, theirs);
        const index = Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [entry] }),
        );
        await c.putManifest(REPO, `sha256-${hex}`, index, MediaType.OCI_INDEX);
      } finally {
        await c.close();
      }
      const r = await runCli(pushArgs(art, t.proxy.host, '--json'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('warning');
      const read = async () => (await skopeoRaw(`${t.proxy.host}/${REPO}:sha256-${hex}`)).bytes;
      const merged = await read();
      const doc = JSON.parse(merged.toString()) as { manifests: Array<{ digest: string; artifactType?: string }> };
      expect(doc.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
        [entry.digest, 'application/x-other'],
        [seeded.sbom, SPDX],
      ]);
      expect(carriedOf(jsonEvents<Ev>(r.stdout)).find((e) => e.kind === 'referrers-index')).toMatchObject({
        how: 'pushed',
        kept: 1,
        digest: sha256Digest(merged),
      });
      expect((await runCli(pushArgs(art, t.proxy.host))).code).toBe(0);
      expect(await read()).toEqual(merged);
    });
  }, 120_000);
});

describe('artifact images check: the carried signatures and referrers', () => {
  type Checked = {
    ok: boolean;
    images: Array<{
      name: string;
      status: string;
      carried: Array<{ kind: string; name: string; digest: string; status: string }>;
    }>;
    carried: Record<string, Record<string, number>>;
  };
  const check = async (host: string) => {
    const r = await runCli(checkArgs(art, host, '--json'));
    return { code: r.code, report: JSON.parse(r.stdout) as Checked };
  };

  it('says which are missing before a push, present after; one tag holding other content is "different", an unlisted referrer "unlisted"', async () => {
    await withTarget(async (t) => {
      const before = await check(t.reg.host);
      expect(before.code).toBe(1);
      expect(before.report.images[0]?.carried.map((c) => [c.kind, c.status])).toEqual([
        ['signature', 'missing'],
        ['referrer', 'missing'],
        ['referrer', 'missing'],
      ]);
      expect(before.report.carried).toEqual({ signature: { missing: 1 }, referrer: { missing: 2 } });
      expect((await runCli(pushArgs(art, t.reg.host))).code).toBe(0);
      const after = await check(t.reg.host);
      expect(after.code).toBe(0);
      expect(after.report).toMatchObject({
        ok: true,
        carried: { signature: { present: 1 }, referrer: { present: 2 } },
      });
      const text = await runCli(checkArgs(art, t.reg.host));
      expect(text.stdout).toContain(`  present signature ${t.reg.host}/${REPO}:sha256-${hex}.sig ${seeded.sig}\n`);
      expect(text.stderr).toContain('all 1 name(s) present; carried: signature(s) 1 present; referrer(s) 2 present');
      // another manifest under the .sig tag, and a referrers index that no longer lists the SBOM
      const c = new RegistryClient(t.reg.host, { plainHTTP: true });
      const other = squatter.images[0] as (typeof squatter.images)[number];
      try {
        await pushImage(c, REPO, `sha256-${hex}.sig`, other);
        const empty = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] }));
        await c.putManifest(REPO, `sha256-${hex}`, empty, MediaType.OCI_INDEX);
      } finally {
        await c.close();
      }
      const broken = await check(t.reg.host);
      expect(broken.code).toBe(1);
      expect(broken.report.images[0]?.status).toBe('ok');
      expect(broken.report.images[0]?.carried.map((c) => [c.digest, c.name, c.status])).toEqual([
        [seeded.sig, `${t.reg.host}/${REPO}:sha256-${hex}.sig`, 'different'],
        ...byDigest(
          [seeded.att, `${t.reg.host}/${REPO}:sha256-${hex}.att`, 'present'],
          [seeded.sbom, `${t.reg.host}/${REPO}@${seeded.sbom}`, 'unlisted'],
        ),
      ]);
      const said = await runCli(checkArgs(art, t.reg.host));
      expect(said.code).toBe(1);
      expect(said.stderr).toContain(
        `2 of 3 carried signature(s) / referrer(s) not in the registry as the artifact has them: ${t.reg.host}/${REPO}:sha256-${hex}.sig (different), ${t.reg.host}/${REPO}@${seeded.sbom} (unlisted)`,
      );
    });
  }, 120_000);
});
