import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import { buildMultiArch, fixtureSet, pushIndex } from '../support/builders.js';
import { pushCosignSignature } from '../support/cosign.js';
import { repackArtifact } from '../support/repack.js';
import { run } from '../support/exec.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { manifestYaml, mirrorPolicyYaml, pushArgs, verifyImagesExportArgs } from '../support/cli-args.js';
import { skopeoRaw } from '../support/skopeo.js';
import { runCli } from '../cli/run-cli.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { RegistryClient } from '../../src/registry/index.js';
import { parseManifestJson } from '../../src/oci/index.js';
import { verifyCosignSignature } from '../../src/signing/index.js';

// #12 item 2 against the real registry: cosign-format signatures made here with node:crypto and pushed in cosign's
// layout; openssl as the referee of what the artifact carries. Refused: wrong key, missing signature, a signature for
// another digest, a tampered payload; each names the image and what failed.
const fx = fixtureSet({ baseSize: 16 * 1024 });
const unsigned = buildMultiArch('unsigned', { layerSize: 4096 });
const other = buildMultiArch('other', { layerSize: 4096 });
const tampered = buildMultiArch('tampered', { layerSize: 4096 });
const PAUSE = 'docker.io/kubesphere/pause:3.9';
let env: ProxiedRegistry;
let dir: string;
let good: string;

const pair = (): { privateKey: KeyObject; publicKey: KeyObject } =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const signer = pair();
const stranger = pair();
const digestOf = (i: { manifest: { descriptor: { digest: Digest } } }): Digest => i.manifest.descriptor.digest;

const manifest = (images: string[]): string => manifestYaml(images);

async function writeManifest(name: string, images: string[]): Promise<string> {
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, manifest(images));
  return path;
}

const exportOf = (mf: string, out: string, extra: string[]) => runCli(verifyImagesExportArgs(out, dir, mf, ...extra));

beforeAll(async () => {
  env = await startProxiedRegistry('kko-cosign-', async (c) => {
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(c, 'library/pause-d', '1', fx.pauseDocker);
    await pushIndex(c, 'library/unsigned', '1', unsigned);
    await pushIndex(c, 'library/other', '1', other);
    await pushIndex(c, 'library/tampered', '1', tampered);
    await pushCosignSignature(c, 'kubesphere/pause', digestOf(fx.pause), signer.privateKey);
    await pushCosignSignature(c, 'library/pause-d', digestOf(fx.pauseDocker), signer.privateKey);
    await pushCosignSignature(c, 'library/other', digestOf(other), signer.privateKey, {
      signedDigest: digestOf(fx.pause),
    });
    const honest = await pushCosignSignature(c, 'library/tampered', digestOf(tampered), signer.privateKey);
    await pushCosignSignature(c, 'library/tampered', digestOf(tampered), signer.privateKey, {
      payload: Buffer.from(honest.payload.toString().replace('"optional":null', '"optional":{"x":"y"}')),
    });
  });
  dir = env.work.dir;
  await writeFile(join(dir, 'cosign.pub'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'other.pub'), stranger.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(env.proxy.host));
  expect((await runCli(['key', 'generate', '--output-key-prefix', join(dir, 'art')])).code).toBe(0);
  good = await writeManifest('good', [PAUSE, 'docker.io/library/pause-d:1']);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

type Row = { ref: string; digest: string; tag: string; manifest: { digest: string }; blobs: Array<{ digest: string }> };

describe('artifact export --verify-images --key', () => {
  it('carries verified signatures that openssl checks from the artifact, and `artifact verify --image-key` re-verifies offline', async () => {
    const out = join(dir, 'good.tar.gz');
    const r = await exportOf(good, out, ['--key', join(dir, 'cosign.pub'), '--sign-key', join(dir, 'art.key')]);
    expect(r.code, r.stderr).toBe(0);
    const x = join(dir, 'x-good');
    await mkdir(x);
    await run('tar', ['xzf', out, '-C', x]);
    const inv = JSON.parse(await readFile(join(x, 'kko/inventory.json'), 'utf8')) as { imageSignatures: Row[] };
    expect(inv.imageSignatures.map((s) => [s.ref, s.digest, s.tag])).toEqual([
      [PAUSE, digestOf(fx.pause), `sha256-${digestOf(fx.pause).slice(7)}.sig`],
      ['docker.io/library/pause-d:1', digestOf(fx.pauseDocker), `sha256-${digestOf(fx.pauseDocker).slice(7)}.sig`],
    ]);
    const row = inv.imageSignatures[0] as Row;
    const sigManifest = JSON.parse(
      await readFile(join(x, 'images/blobs/sha256', row.manifest.digest.slice(7)), 'utf8'),
    ) as { layers: Array<{ digest: string; annotations: Record<string, string> }> };
    const layer = sigManifest.layers[0];
    if (!layer) throw new Error('no layer');
    const payload = join(x, 'images/blobs/sha256', layer.digest.slice(7));
    expect(JSON.parse(await readFile(payload, 'utf8'))).toMatchObject({
      critical: { image: { 'docker-manifest-digest': digestOf(fx.pause) } },
    });
    await writeFile(
      join(dir, 'sig.der'),
      Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'] ?? '', 'base64'),
    );
    expect(
      await run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        join(dir, 'cosign.pub'),
        '-signature',
        join(dir, 'sig.der'),
        payload,
      ]),
    ).toBe('Verified OK\n');
    const v = await runCli([
      'artifact',
      'verify',
      out,
      '--key',
      join(dir, 'art.pub'),
      '--image-key',
      join(dir, 'cosign.pub'),
    ]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
    expect(v.stdout).toContain('image signatures: 2 image(s) verified');
    const wrong = await runCli(['artifact', 'verify', out, '--image-key', join(dir, 'other.pub')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      new RegExp(
        `corrupt: image ${PAUSE.replace(/\./g, '\\.')} \\(signature sha256-[a-f0-9]+\\.sig: layer 0: the signature does not verify with .*other\\.pub`,
      ),
    );
  });

  it('inside the air gap: a layout swapped for other content under the carried signature is refused, naming the image', async () => {
    // The attacker rebuilds images/index.json, the inventory and SHA256SUMS around a new image (no artifact key
    // given); the cosign signature still verifies, but for content the artifact no longer holds.
    const x = join(dir, 'x-good');
    const put = async (bytes: Buffer): Promise<Digest> => {
      const d = sha256Digest(bytes);
      await writeFile(join(x, 'images/blobs/sha256', d.slice(7)), bytes);
      return d;
    };
    const index = JSON.parse(await readFile(join(x, 'images/index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; size: number; annotations: Record<string, string> }>;
    };
    const entry = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === `${PAUSE}-amd64`);
    if (!entry) throw new Error('no pause amd64 entry');
    const doc = JSON.parse(await readFile(join(x, 'images/blobs/sha256', entry.digest.slice(7)), 'utf8')) as {
      layers: Array<{ digest: string; size: number }>;
    };
    const evil = Buffer.from('not the signed layer');
    doc.layers[doc.layers.length - 1] = {
      ...doc.layers[doc.layers.length - 1],
      digest: await put(evil),
      size: evil.length,
    };
    const forged = Buffer.from(JSON.stringify(doc));
    const old = entry.digest;
    entry.digest = await put(forged);
    entry.size = forged.length;
    await writeFile(join(x, 'images/index.json'), `${JSON.stringify(index, null, 2)}\n`);
    const inv = JSON.parse(await readFile(join(x, 'kko/inventory.json'), 'utf8')) as {
      images: Array<{ refName: string; digest: string }>;
      documents: Array<{ path: string; sha256: string; size: number }>;
    };
    for (const i of inv.images) if (i.refName === `${PAUSE}-amd64` && i.digest === old) i.digest = entry.digest; // upstream rows stay: they name the signed content
    const indexBytes = await readFile(join(x, 'images/index.json'));
    for (const d of inv.documents)
      if (d.path === 'images/index.json')
        Object.assign(d, { sha256: sha256Digest(indexBytes).slice(7), size: indexBytes.length });
    await writeFile(join(x, 'kko/inventory.json'), JSON.stringify(inv, null, 2));
    const forgedArt = join(dir, 'forged.tar.gz');
    await repackArtifact(x, forgedArt);
    const plain = await runCli(['artifact', 'verify', forgedArt]);
    expect(plain.code, plain.stdout).toBe(0); // without keys nothing is wrong with it: the forgery is consistent
    const v = await runCli(['artifact', 'verify', forgedArt, '--image-key', join(dir, 'cosign.pub')]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(
      `corrupt: image ${PAUSE} (images/index.json ${PAUSE}-amd64 has other config or layers than the signed ${fx.pause.images[0]?.manifest.descriptor.digest})`,
    );
    expect(v.stdout).not.toContain('pause-d');
  });

  it('refuses every image a wrong key does not verify, before any layer is fetched; nothing is written (exit 1)', async () => {
    env.proxy.clear();
    const out = join(dir, 'wrong.tar.gz');
    const r = await exportOf(good, out, ['--key', join(dir, 'other.pub')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('2 image(s) refused');
    expect(r.stderr).toMatch(
      /docker\.io\/library\/pause-d:1 \(sha256:[a-f0-9]{64}\): signature sha256-[a-f0-9]{64}\.sig: layer 0: the signature does not verify with .*other\.pub/,
    );
    for (const l of fx.pause.images.flatMap((i) => i.layers))
      expect(env.proxy.count({ method: 'GET', path: `/blobs/${l.descriptor.digest}` })).toBe(0);
    await expect(stat(out)).rejects.toThrow();
  });

  it('refuses an unsigned image naming it; --allow-unsigned lets it through with a warning, and the air gap sees it unsigned', async () => {
    const mf = await writeManifest('unsigned', [PAUSE, 'docker.io/library/unsigned:1']);
    const out = join(dir, 'unsigned.tar.gz');
    const refused = await exportOf(mf, out, ['--key', join(dir, 'cosign.pub')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `docker.io/library/unsigned:1 (${digestOf(unsigned)}): no signature (tag sha256-${digestOf(unsigned).slice(7)}.sig not found`,
    );
    expect(refused.stderr).toContain('1 image(s) refused');
    const let_ = await exportOf(mf, out, [
      '--key',
      join(dir, 'cosign.pub'),
      '--allow-unsigned',
      'docker.io/library/unsigned:1',
    ]);
    expect(let_.code, let_.stderr).toBe(0);
    expect(let_.stderr).toMatch(
      /warning: .*docker\.io\/library\/unsigned:1 .*no signature.*allowed by --allow-unsigned/,
    );
    const v = await runCli(['artifact', 'verify', out, '--image-key', join(dir, 'cosign.pub')]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(
      'missing: image docker.io/library/unsigned:1 (no cosign signature in the artifact (exported with --allow-unsigned)',
    );
    const ok = await runCli([
      'artifact',
      'verify',
      out,
      '--image-key',
      join(dir, 'cosign.pub'),
      '--allow-unsigned',
      'docker.io/library/unsigned:1',
    ]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain('1 image(s) verified');
  });

  it('refuses a signature made for another digest, and a tampered payload, naming what failed', async () => {
    const o = await exportOf(await writeManifest('other', ['docker.io/library/other:1']), join(dir, 'o.tar.gz'), [
      '--key',
      join(dir, 'cosign.pub'),
    ]);
    expect(o.code).toBe(1);
    expect(o.stderr).toContain(`the signed payload is for ${digestOf(fx.pause)}, not this image (${digestOf(other)})`);
    const t = await exportOf(await writeManifest('tampered', ['docker.io/library/tampered:1']), join(dir, 't.tar.gz'), [
      '--key',
      join(dir, 'cosign.pub'),
    ]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(
      /docker\.io\/library\/tampered:1 .*layer 0: the signature does not verify with .*cosign\.pub \(another key signed it, or the payload was changed after signing\)/,
    );
  });

  it('with a manifest lock the signature checked is the locked digest, and the export pulls by it', async () => {
    const mf = await writeManifest('locked', [PAUSE]);
    const common = ['--mirror-config', join(dir, 'mirrors.yaml'), '--cache', join(dir, 'cache')];
    expect((await runCli(['manifest', 'lock', '-m', mf, ...common])).code).toBe(0);
    env.proxy.clear();
    const r = await exportOf(mf, join(dir, 'locked.tar.gz'), ['--key', join(dir, 'cosign.pub')]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      env.proxy.count({
        method: 'GET',
        path: `/v2/kubesphere/pause/manifests/sha256-${digestOf(fx.pause).slice(7)}.sig`,
      }),
    ).toBe(1);
    expect(
      env.proxy.count({ method: 'GET', path: `/v2/kubesphere/pause/manifests/${digestOf(fx.pause)}` }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('--verify-images without --key, or --key without --verify-images, is invalid input (exit 2)', async () => {
    const a = await runCli(['artifact', 'export', '-m', good, '-o', join(dir, 'n.tar.gz'), '--verify-images']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('needs --key');
    const b = await runCli([
      'artifact',
      'export',
      '-m',
      good,
      '-o',
      join(dir, 'n.tar.gz'),
      '--key',
      join(dir, 'cosign.pub'),
    ]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--key: only with --verify-images');
  });
});

describe('artifact images push --verify-images --image-key', () => {
  let target: TestRegistry;
  let art: string;
  beforeAll(async () => {
    target = await startRegistry({ mode: 'plain' });
    art = join(dir, 'push-src.tar.gz');
    const r = await exportOf(good, art, ['--key', join(dir, 'cosign.pub')]);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await target?.stop();
  });
  const push = (key: string, extra: string[] = []) =>
    runCli(
      pushArgs(
        art,
        { registry: target.host, kkDefault: true },
        '--verify-images',
        '--image-key',
        join(dir, key),
        ...extra,
      ),
    );

  it('re-verifies, then pushes each signature manifest under sha256-<digest>.sig where skopeo finds it', async () => {
    const r = await push('cosign.pub');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('2 image signature(s) verified');
    const client = new RegistryClient(target.host, { plainHTTP: true });
    try {
      for (const [repo, signed] of [
        ['kubesphere/pause', digestOf(fx.pause)],
        ['library/pause-d', digestOf(fx.pauseDocker)],
      ] as const) {
        const tag = `sha256-${signed.slice(7)}.sig`;
        // skopeo, an independent client, reads the signature manifest from the target
        const m = parseManifestJson((await skopeoRaw(`${target.host}/${repo}:${tag}`)).bytes);
        if (m.kind !== 'image') throw new Error('not an image manifest');
        const layers = new Map<string, Buffer>();
        for (const l of m.manifest.layers)
          layers.set(l.digest, await readAll(await client.getBlob(repo, l.digest as Digest)));
        // the payload the target now serves verifies against the key, for the digest the artifact was exported at
        expect(() =>
          verifyCosignSignature(m.manifest, (d) => layers.get(d.digest), signed, signer.publicKey, 'cosign.pub'),
        ).not.toThrow();
      }
    } finally {
      await client.close();
    }
  }, 120_000);

  it('another key: refused naming the images, and nothing is pushed', async () => {
    const fresh = await startRegistry({ mode: 'plain' });
    try {
      const r = await runCli(
        pushArgs(
          art,
          { registry: fresh.host, kkDefault: true },
          '--verify-images',
          '--image-key',
          join(dir, 'other.pub'),
        ),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(PAUSE);
      expect(r.stderr).toMatch(/nothing was pushed/);
      const res = await fetch(`${fresh.url}/v2/_catalog`);
      expect(((await res.json()) as { repositories: string[] }).repositories).toEqual([]);
    } finally {
      await fresh.stop();
    }
  }, 120_000);

  it('--image-key without --verify-images, or --verify-images without a key, is invalid input (exit 2)', async () => {
    const base = pushArgs(art, { registry: target.host, kkDefault: true });
    expect((await runCli([...base, '--image-key', join(dir, 'cosign.pub')])).code).toBe(2);
    expect((await runCli([...base, '--verify-images'])).code).toBe(2);
  });
});

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}
