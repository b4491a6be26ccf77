import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildLayer, pushImage, type FixtureImage } from '../support/builders.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { runCli } from '../cli/run-cli.js';

// #12 item 3: a registry's have-list is per repository. The far-side registry holds image a (base layer + its own
// layer); the new manifest adds image b in another repository with the same base layer. A delta --have from the
// registry's list must leave out a's blobs but carry the base layer for b (b's repository does not hold it; one
// blob set for the registry left it out, and push of the delta then refused it as missing). Referee: skopeo.
const sh = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const AMD64 = { os: 'linux', architecture: 'amd64' };
const base = buildLayer('shared-base', 64 * 1024);
const a = buildImage({ name: 'a', platform: AMD64, layerSize: 32 * 1024, base });
const b = buildImage({ name: 'b', platform: AMD64, layerSize: 32 * 1024, base });
const A = 'docker.io/kubesphere/a:1';
const B = 'docker.io/kubesphere/b:1';
let src: ProxiedRegistry;
let far: TestRegistry;
let dir: string;

const mf = (refs: string[]): string =>
  `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64]\n  images:\n${refs.map((r) => `  - ${r}`).join('\n')}\n`;
const kko = (args: string[]) => runCli(args, { cwd: dir, env: { HOME: dir } });
const exportArgs = (m: string, out: string, ...more: string[]) => [
  'artifact',
  'export',
  '-m',
  m,
  '-o',
  out,
  '--mirror-config',
  'mirrors.yaml',
  '--cache',
  'cache',
  '--quiet',
  ...more,
];
const push = (art: string) =>
  kko(['artifact', 'images', 'push', '-a', art, '--registry', far.host, '--plain-http', '--quiet']);
const blobsOf = (i: FixtureImage): string[] => [i.config, ...i.layers].map((x) => x.descriptor.digest);
const omitted = async (art: string): Promise<string[]> =>
  (
    JSON.parse((await sh('tar', ['-xzOf', join(dir, art), 'kko/inventory.json'])).stdout) as {
      delta: { omitted: { blobs: Array<{ digest: string }> } };
    }
  ).delta.omitted.blobs
    .map((x) => x.digest)
    .sort();

beforeAll(async () => {
  src = await startProxiedRegistry('kko-have-repo-', async (c) => {
    await pushImage(c, 'kubesphere/a', '1', a);
    await pushImage(c, 'kubesphere/b', '1', b);
  });
  far = await startRegistry({ mode: 'plain' });
  dir = src.work.dir;
  await writeFile(join(dir, 'old.yaml'), mf([A]));
  await writeFile(join(dir, 'new.yaml'), mf([A, B]));
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- {prefix: docker.io, mirrors: [{location: "${src.proxy.host}", plainHTTP: true}], upstream: false}\n`,
  );
  expect((await kko(exportArgs('old.yaml', 'old.tar.gz'))).code).toBe(0);
  expect((await push('old.tar.gz')).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await far?.stop();
  await src?.stop();
});

describe('artifact inventory --registry: blobs per repository', () => {
  it('lists each repository with the blobs it holds; a delta from it carries a shared blob a new repository lacks, and pushes', async () => {
    const inv = await kko(['artifact', 'inventory', '--registry', far.host, '--plain-http', '-m', 'new.yaml']);
    expect(inv.code, inv.stderr).toBe(0);
    const have = JSON.parse(inv.stdout) as {
      blobs: string[];
      repositories: Array<{ name: string; target: string; blobs: string[] }>;
    };
    expect(have.repositories).toEqual([
      { name: 'docker.io/kubesphere/a', target: `${far.host}/kubesphere/a`, blobs: blobsOf(a).sort() },
      { name: 'docker.io/kubesphere/b', target: `${far.host}/kubesphere/b`, blobs: [] },
    ]);
    expect(have.blobs).toEqual(blobsOf(a).sort()); // the union, for readers of the old format
    await writeFile(join(dir, 'have.json'), inv.stdout);
    const e = await kko(exportArgs('new.yaml', 'delta.tar.gz', '--have', 'have.json'));
    expect(e.code, e.stderr).toBe(0);
    // a's own layer stays out; the base layer b needs is carried (b's repository does not hold it), a's config too
    const own = a.layers.find((l) => l.descriptor.digest !== base.descriptor.digest)?.descriptor.digest as string;
    expect(await omitted('delta.tar.gz')).toEqual([a.config.descriptor.digest, own].sort());
    const p = await push('delta.tar.gz');
    expect(p.code, p.stderr).toBe(0);
    for (const [repo, img] of [
      ['kubesphere/a', a],
      ['kubesphere/b', b],
    ] as const) {
      const raw = (
        await sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${far.host}/${repo}:1-amd64`])
      ).stdout;
      expect(`sha256:${sha(Buffer.from(raw))}`).toBe(img.manifest.descriptor.digest);
    }
  }, 120_000);

  it('a have-list of the old format (one blob set, no repositories) still reads, with its old meaning', async () => {
    const have = JSON.parse(
      (await kko(['artifact', 'inventory', '--registry', far.host, '--plain-http', '-m', 'old.yaml'])).stdout,
    ) as Record<string, unknown>;
    delete have.repositories;
    await writeFile(join(dir, 'have-old.json'), JSON.stringify(have));
    const e = await kko(exportArgs('new.yaml', 'delta-old.tar.gz', '--have', 'have-old.json'));
    expect(e.code, e.stderr).toBe(0);
    expect(await omitted('delta-old.tar.gz')).toEqual(blobsOf(a).sort());
  }, 120_000);
});
