import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import { runCli } from '../cli/run-cli.js';
import { buildMultiArch, fixtureSet, pushIndex, type FixtureIndex } from '../support/builders.js';
import {
  checkArgs,
  jsonEvents,
  manifestYaml,
  mirrorPolicyYaml,
  pushArgs,
  verifyImagesExportArgs,
} from '../support/cli-args.js';
import { pushCosignSignature } from '../support/cosign.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, startRegistryBehindProxy, type ProxiedRegistry } from '../support/proxied-registry.js';
import { pushReferrersIndex, pushSbom, type PushedReferrer } from '../support/referrers-fixture.js';
import { repackArtifact } from '../support/repack.js';
import { skopeoRaw } from '../support/skopeo.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// #12 item 2 follow-up against the real distribution registry: the per-arch children of an index with their own cosign
// signature (sha256-<child hex>.sig, as `cosign sign --recursive` makes them) are verified at export, carried as
// imageSignatures rows with `arch`, re-verified in the air gap and at push; a carried row for a digest the artifact
// does not hold is a verify problem; a Docker-typed image (its per-arch manifests rewritten to OCI at export) keeps the
// child subjects in the target only with --preserve-digests, and says so without it; an imported directory pushes and
// checks what it carries as the artifact does. Signatures made here with node:crypto in cosign's layout.
const fx = fixtureSet({ baseSize: 8 * 1024 });
const recur = buildMultiArch('recur', { layerSize: 2048 }); // OCI: top and amd64 signed, arm64 not
const wrongkey = buildMultiArch('wrongkey', { layerSize: 2048 }); // arm64 signed by another key
const otherdigest = buildMultiArch('otherdigest', { layerSize: 2048 }); // amd64's payload names the index
const pair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const signer = pair();
const stranger = pair();
const top = (i: FixtureIndex): Digest => i.manifest.descriptor.digest;
const child = (i: FixtureIndex, n: number): Digest =>
  (i.images[n] as FixtureIndex['images'][number]).manifest.descriptor.digest;
const hexOf = (d: string): string => d.slice(7);
const ref = (name: string): string => `docker.io/library/${name}:1`;
const GOOD = [ref('recur'), ref('pause-d')];

let env: ProxiedRegistry;
let dir: string;
let art: string; // recur + pause-d, --verify-images --with-referrers
const sigs = new Map<string, Digest>(); // signed digest → its signature manifest
let dockerSbom: PushedReferrer; // an SBOM whose subject is pause-d's (Docker-typed) amd64 manifest

async function sign(c: RegistryClient, repo: string, digest: Digest, key = signer.privateKey, signed?: Digest) {
  const f = await pushCosignSignature(c, repo, digest, key, signed ? { signedDigest: signed } : {});
  sigs.set(digest, f.manifestDigest);
}

async function seed(c: RegistryClient): Promise<void> {
  await pushIndex(c, 'library/recur', '1', recur);
  await sign(c, 'library/recur', top(recur));
  await sign(c, 'library/recur', child(recur, 0));
  await pushIndex(c, 'library/pause-d', '1', fx.pauseDocker);
  await sign(c, 'library/pause-d', top(fx.pauseDocker));
  await sign(c, 'library/pause-d', child(fx.pauseDocker, 0));
  const amd64 = fx.pauseDocker.images[0]?.manifest.descriptor;
  if (!amd64) throw new Error('no amd64');
  dockerSbom = await pushSbom(c, 'library/pause-d', amd64, 'pause-d-amd64');
  await pushReferrersIndex(c, 'library/pause-d', amd64.digest, [dockerSbom.descriptor]);
  await pushIndex(c, 'library/wrongkey', '1', wrongkey);
  await sign(c, 'library/wrongkey', top(wrongkey));
  await sign(c, 'library/wrongkey', child(wrongkey, 1), stranger.privateKey);
  await pushIndex(c, 'library/otherdigest', '1', otherdigest);
  await sign(c, 'library/otherdigest', top(otherdigest));
  await sign(c, 'library/otherdigest', child(otherdigest, 0), signer.privateKey, top(otherdigest));
}

const exportOf = async (name: string, images: readonly string[], extra: string[] = []) => {
  const mf = join(dir, `${name}.yaml`);
  await writeFile(mf, manifestYaml(images));
  const out = join(dir, `${name}.tar.gz`);
  const r = await runCli(verifyImagesExportArgs(out, dir, mf, '--key', join(dir, 'cosign.pub'), ...extra));
  return { r, out };
};

type SigRow = { ref: string; arch?: string; digest: string; tag: string; manifest?: { digest: string } };
type Inventory = { imageSignatures: SigRow[]; referrers: Array<{ ref: string; subject: string; digest: string }> };

async function unpack(path: string, name: string): Promise<{ x: string; inv: Inventory }> {
  const x = join(dir, name);
  await mkdir(x, { recursive: true });
  await run('tar', ['xzf', path, '-C', x]);
  return { x, inv: JSON.parse(await readFile(join(x, 'kko/inventory.json'), 'utf8')) as Inventory };
}

// The artifact unpacked, its inventory changed by `edit`, packed again as a forger would (SHA256SUMS rewritten).
async function edited(name: string, edit: (inv: Inventory) => void): Promise<string> {
  const { x, inv } = await unpack(art, `x-${name}`);
  edit(inv);
  await writeFile(join(x, 'kko/inventory.json'), JSON.stringify(inv, null, 2));
  const out = join(dir, `${name}.tar.gz`);
  await repackArtifact(x, out);
  return out;
}

beforeAll(async () => {
  env = await startProxiedRegistry('kko-perarch-sig-', seed);
  dir = env.work.dir;
  await writeFile(join(dir, 'cosign.pub'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'other.pub'), stranger.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(env.proxy.host));
  const good = await exportOf('good', GOOD, ['--with-referrers']);
  expect(good.r.code, good.r.stderr).toBe(0);
  art = good.out;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('export --verify-images: the per-arch children’s own signatures (cosign sign --recursive)', () => {
  it('resolves each arch once per run: --verify-images, --with-referrers and the fetch share one manifest GET and config', async () => {
    // the export in beforeAll is the only traffic through the proxy so far (the seed went to the registry directly)
    for (const [repo, i] of [
      ['recur', recur],
      ['pause-d', fx.pauseDocker],
    ] as const) {
      expect(env.proxy.count({ method: 'GET', path: `/v2/library/${repo}/manifests/1` })).toBe(1);
      for (const img of i.images) {
        const d = img.manifest.descriptor.digest;
        expect(env.proxy.count({ method: 'GET', path: `/v2/library/${repo}/manifests/${d}` }), `${repo} ${d}`).toBe(1);
        const config = img.config.descriptor.digest;
        expect(env.proxy.count({ method: 'GET', path: `/v2/library/${repo}/blobs/${config}` }), `${repo} config`).toBe(
          1,
        );
      }
    }
  });

  it('verifies and carries each exported arch’s child signature as a row with arch; a child with none is fine', async () => {
    const { inv } = await unpack(art, 'x-good');
    expect(inv.imageSignatures.map((s) => [s.ref, s.arch, s.digest, s.tag, s.manifest?.digest])).toEqual([
      [
        ref('pause-d'),
        undefined,
        top(fx.pauseDocker),
        `sha256-${hexOf(top(fx.pauseDocker))}.sig`,
        sigs.get(top(fx.pauseDocker)),
      ],
      [
        ref('pause-d'),
        'amd64',
        child(fx.pauseDocker, 0),
        `sha256-${hexOf(child(fx.pauseDocker, 0))}.sig`,
        sigs.get(child(fx.pauseDocker, 0)),
      ],
      [ref('recur'), undefined, top(recur), `sha256-${hexOf(top(recur))}.sig`, sigs.get(top(recur))],
      [ref('recur'), 'amd64', child(recur, 0), `sha256-${hexOf(child(recur, 0))}.sig`, sigs.get(child(recur, 0))],
    ]);
    // the cost: one GET of sha256-<hex>.sig per exported arch of an index (arm64's absent: 404), each child once per
    // step: --with-referrers reads the cosign tags of the same subjects again (as it does the index's .sig)
    for (const d of [top(recur), child(recur, 0), child(recur, 1)])
      expect(env.proxy.count({ method: 'GET', path: `/v2/library/recur/manifests/sha256-${hexOf(d)}.sig` })).toBe(2);
    const v = await runCli(['artifact', 'verify', art, '--image-key', join(dir, 'cosign.pub')]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toContain('image signatures: 2 image(s) verified');
    expect(v.stdout).toContain('and 2 per-arch signature(s)');
    const wrong = await runCli(['artifact', 'verify', art, '--image-key', join(dir, 'other.pub')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(
      `corrupt: image ${ref('recur')} amd64 (per-arch signature of ${child(recur, 0)}: signature sha256-${hexOf(child(recur, 0))}.sig: layer 0: the signature does not verify with`,
    );
  });

  it('refuses a child signature by another key (even with --allow-unsigned) or for another digest, naming image, arch and digest', async () => {
    const w = await exportOf('wrongkey', [ref('wrongkey')]);
    expect(w.r.code).toBe(1);
    expect(w.r.stderr).toMatch(
      new RegExp(
        `docker\\.io/library/wrongkey:1 arm64 \\(${child(wrongkey, 1)}\\): signature sha256-${hexOf(child(wrongkey, 1))}\\.sig: layer 0: the signature does not verify with .*cosign\\.pub`,
      ),
    );
    expect(w.r.stderr).toContain('1 image(s) refused');
    const allowed = await exportOf('wrongkey2', [ref('wrongkey')], ['--allow-unsigned', ref('wrongkey')]);
    expect(allowed.r.code).toBe(1);
    expect(allowed.r.stderr).toContain(`wrongkey:1 arm64 (${child(wrongkey, 1)})`);
    const o = await exportOf('otherdigest', [ref('otherdigest')]);
    expect(o.r.code).toBe(1);
    expect(o.r.stderr).toContain(
      `docker.io/library/otherdigest:1 amd64 (${child(otherdigest, 0)}): signature sha256-${hexOf(child(otherdigest, 0))}.sig`,
    );
    expect(o.r.stderr).toContain(
      `the signed payload is for ${top(otherdigest)}, not this image (${child(otherdigest, 0)})`,
    );
  });

  it('in the air gap, a per-arch row moved to another arch is refused by --image-key, naming image, arch and digest', async () => {
    const forged = await edited('moved', (inv) => {
      const row = inv.imageSignatures.find((s) => s.ref === ref('recur') && s.arch === 'amd64');
      if (!row) throw new Error('no row');
      row.arch = 'arm64';
    });
    expect((await runCli(['artifact', 'verify', forged])).code).toBe(0); // its subject is still held
    const v = await runCli(['artifact', 'verify', forged, '--image-key', join(dir, 'cosign.pub')]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(
      `corrupt: image ${ref('recur')} arm64 (per-arch signature of ${child(recur, 0)}: the artifact holds ${child(recur, 1)} for arm64)`,
    );
  });
});

describe('artifact verify: a carried row whose subject the artifact does not hold', () => {
  it('a referrers row and an imageSignatures row for digests of no image of theirs are problems naming the row (exit 1)', async () => {
    const stranger = sha256Digest(Buffer.from('not in the artifact'));
    let refIndex = -1;
    const forged = await edited('subjects', (inv) => {
      refIndex = inv.referrers.findIndex((r) => r.subject === child(fx.pauseDocker, 0));
      (inv.referrers[refIndex] as { subject: string }).subject = stranger;
      (inv.imageSignatures[2] as SigRow).digest = top(fx.pauseDocker); // recur's row, for pause-d's index
    });
    expect(refIndex).toBeGreaterThanOrEqual(0);
    const v = await runCli(['artifact', 'verify', forged]);
    expect(v.code, v.stdout).toBe(1);
    expect(v.stdout).toContain(
      `corrupt: kko/inventory.json referrers[${refIndex}] (subject ${stranger} is not the index or a manifest of ${ref('pause-d')} held in the artifact)`,
    );
    expect(v.stdout).toContain(
      `corrupt: kko/inventory.json imageSignatures[2] (signed digest ${top(fx.pauseDocker)} is not the index or a manifest of ${ref('recur')} held in the artifact)`,
    );
    // the same check refuses the artifact at push (opening it verifies it), before anything is sent
    const t = await startRegistry({ mode: 'plain' });
    try {
      const p = await runCli(pushArgs(forged, t.host));
      expect(p.code).toBe(1);
      expect(p.stderr).toContain(`kko/inventory.json referrers[${refIndex}]`);
    } finally {
      await t.stop();
    }
  });
});

type Carried = {
  image: string;
  type: string;
  kind: string;
  name: string;
  digest: string;
  subject: string;
  how: string;
  dangling?: boolean;
};
const carriedOf = (stdout: string, host: string) =>
  jsonEvents<Carried>(stdout)
    .filter((e) => e.type === 'carried')
    .map((e) => ({ ...e, name: e.name.replace(host, 'TARGET'), image: e.image.replace(host, 'TARGET') }));

describe('push of the per-arch signatures and the Docker-typed image’s child referrers', () => {
  let targets: TestRegistry[] = [];
  const fresh = async (): Promise<TestRegistry> => {
    const t = await startRegistry({ mode: 'plain' });
    targets.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of targets) await t.stop();
    targets = [];
  });

  it('--preserve-digests --verify-images: the target holds the Docker child subject, its .sig and referrers index', async () => {
    const t = await fresh();
    const p = await runCli(
      pushArgs(art, t.host, '--preserve-digests', '--verify-images', '--image-key', join(dir, 'cosign.pub')),
    );
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toContain('2 image signature(s) verified (and 2 per-arch)');
    expect(p.stderr).not.toContain('does not hold');
    const amd64 = child(fx.pauseDocker, 0);
    // skopeo reads the upstream (Docker-typed) child by its digest, and its signature beside it
    expect((await skopeoRaw(`${t.host}/library/pause-d@${amd64}`)).digest).toBe(amd64);
    expect((await skopeoRaw(`${t.host}/library/pause-d:sha256-${hexOf(amd64)}.sig`)).digest).toBe(sigs.get(amd64));
    expect((await skopeoRaw(`${t.host}/library/pause-d:1`)).digest).toBe(top(fx.pauseDocker));
    expect((await skopeoRaw(`${t.host}/library/recur:sha256-${hexOf(child(recur, 0))}.sig`)).digest).toBe(
      sigs.get(child(recur, 0)),
    );
    const index = JSON.parse(
      (await skopeoRaw(`${t.host}/library/pause-d:sha256-${hexOf(amd64)}`)).bytes.toString(),
    ) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([dockerSbom.digest]);
  }, 180_000);

  it('check HEADs the carried manifests several at once (the --concurrency setting), not one after another', async () => {
    const t = await startRegistryBehindProxy();
    try {
      const p = await runCli(pushArgs(art, t.proxy.host, '--preserve-digests'));
      expect(p.code, p.stderr).toBe(0);
      t.proxy.clear();
      const carried = /\/manifests\/sha256[-:]/; // by cosign tag sha256-<hex>.sig / .att, or by digest
      t.proxy.add({ method: 'HEAD', path: carried, times: Infinity, fault: { kind: 'stall', ms: 400 } });
      const ck = await runCli(checkArgs(art, t.proxy.host, '--concurrency', '4'));
      expect(ck.code, `${ck.stdout}${ck.stderr}`).toBe(0);
      const heads = t.proxy.seen.filter((r) => r.method === 'HEAD' && carried.test(r.path));
      expect(heads.length).toBeGreaterThanOrEqual(4);
      const first = (heads[0] as { at: number }).at;
      // one after another, each arrives 400 ms after the one before
      expect(heads.filter((h) => h.at - first < 200).length).toBeGreaterThanOrEqual(2);
    } finally {
      await t.stop();
    }
  }, 180_000);

  it('without --preserve-digests: each carried item whose subject the target does not hold is a warning naming the fix', async () => {
    const t = await fresh();
    const p = await runCli(pushArgs(art, t.host, '--json'));
    expect(p.code, p.stderr).toBe(0);
    const amd64 = child(fx.pauseDocker, 0);
    const events = carriedOf(p.stdout, t.host);
    const dangling = events.filter((e) => e.dangling).map((e) => [e.kind, e.subject]);
    // the two indexes (push writes its own) and pause-d's Docker amd64 (converted to OCI): not in the target
    expect(dangling.sort()).toEqual(
      [
        ['referrer', amd64],
        ['referrers-index', amd64],
        ['signature', amd64],
        ['signature', top(fx.pauseDocker)],
        ['signature', top(recur)],
      ].sort(),
    );
    // recur's amd64 went up as it was (OCI, same digest): its signature points at it
    expect(events.find((e) => e.subject === child(recur, 0) && e.kind === 'signature')?.dangling).toBeUndefined();
    expect(p.stderr).toContain(
      `warning: TARGET/library/pause-d:sha256-${hexOf(amd64)}.sig (signature) is for ${amd64}, which TARGET/library/pause-d does not hold`.replace(
        /TARGET/g,
        t.host,
      ),
    );
    expect(p.stderr).toContain('push with --preserve-digests');
  }, 180_000);

  it('an imported directory pushes and checks the carried signatures and referrers as the artifact does', async () => {
    const d = join(dir, 'imported');
    const imp = await runCli(['artifact', 'import', art, '--dir', d]);
    expect(imp.code, imp.stderr).toBe(0);
    const fromArt = await fresh();
    const fromDir = await fresh();
    const a = await runCli(pushArgs(art, fromArt.host, '--preserve-digests', '--json'));
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli(pushArgs({ imagesDir: d }, fromDir.host, '--preserve-digests', '--json'));
    expect(b.code, b.stderr).toBe(0);
    const carried = carriedOf(b.stdout, fromDir.host);
    expect(carried.length).toBeGreaterThanOrEqual(6);
    expect(carried).toEqual(carriedOf(a.stdout, fromArt.host));
    expect(carried.map((c) => c.name)).toContain(
      `TARGET/library/pause-d:sha256-${hexOf(child(fx.pauseDocker, 0))}.sig`,
    );
    const done = (out: string) => jsonEvents(out).find((e) => e.type === 'done') as { carried?: unknown };
    expect(done(b.stdout).carried).toEqual(done(a.stdout).carried);
    // check of what --preserve-digests pushed (the upstream Docker index and children, not the layout's OCI ones)
    const ckArt = await runCli(checkArgs(art, fromArt.host));
    expect(ckArt.code, `${ckArt.stdout}${ckArt.stderr}`).toBe(0);
    const ck = await runCli(checkArgs({ imagesDir: d }, fromDir.host));
    expect(ck.code, `${ck.stdout}${ck.stderr}`).toBe(0);
    expect(ck.stdout).toContain(`present signature ${fromDir.host}/library/recur:sha256-${hexOf(child(recur, 0))}.sig`);
    expect(ck.stderr).toMatch(/carried: .*signature/);
  }, 240_000);
});
