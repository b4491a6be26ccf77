import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/artifact-store/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { parseReference, sha256Digest } from '../../src/reference/index.js';
import { buildImage, buildIndex, buildLayer, buildMultiArch, fixtureSet, pushIndex } from '../support/builders.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { runCli } from '../cli/run-cli.js';

// The artifact store over artifacts that `kko artifact export` wrote from the real registry: every name kk's layout
// gives answers with the registry's own digests, every blob reads back (whole and by range) as the registry has it.

const sh = promisify(execFile);
const fx = fixtureSet({ baseSize: 300 * 1024, layerSize: 150 * 1024 });

let env: ProxiedRegistry;
let client: RegistryClient;
let dir: string;

const IMAGES = [
  'docker.io/calico/node:v3.27.3',
  'docker.io/kubesphere/kube-apiserver:v1.28.12',
  'docker.io/kubesphere/pause-docker:3.9',
];
const manifest = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: t}
spec:
  arches: [amd64, arm64]
  images:
${IMAGES.map((i) => `  - ${i}`).join('\n')}
`;

beforeAll(async () => {
  env = await startProxiedRegistry('kko-astore-export-', async (c) => {
    // three arches upstream, two exported: the upstream index is not complete in the artifact
    const api = (architecture: string) =>
      buildImage({ name: 'kube-apiserver', layerSize: 150 * 1024, platform: { os: 'linux', architecture } });
    await pushIndex(c, 'kubesphere/kube-apiserver', 'v1.28.12', buildIndex([api('amd64'), api('arm64'), api('s390x')]));
    await pushIndex(c, 'kubesphere/pause-docker', '3.9', fx.pauseDocker);
    await pushIndex(
      c,
      'calico/node',
      'v3.27.3',
      buildMultiArch('calico-node', { layerSize: 200 * 1024, base: { amd64: buildLayer('calico-base', 400 * 1024) } }),
    );
  });
  client = new RegistryClient(env.reg.host, { plainHTTP: true });
  dir = join(env.work.dir, 'x');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'm.yaml'), manifest);
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors:\n  - {location: ${env.reg.host}, plainHTTP: true}\n  upstream: false\n`,
  );
}, 120_000);

afterAll(async () => {
  await client?.close();
  await env?.stop();
});

async function exportTo(out: string, ...extra: string[]): Promise<string> {
  const r = await runCli(
    [
      'artifact',
      'export',
      '-m',
      'm.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '--cache',
      'cache',
      '-o',
      out,
      '--json',
      ...extra,
    ],
    { cwd: dir, env: { HOME: dir } },
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return join(dir, extra.includes('--split-size') ? `${out}.part-000` : out);
}

type Inv = { images: Array<{ ref: string; arch: string; refName: string; digest: string }> };

describe.each([['out.tar.gz'], ['out.tar.zst'], ['out.tar'], ['split.tar.gz', '--split-size', '1M']])(
  'ArtifactStore over an exported %s',
  (out, ...extra) => {
    let store: ArtifactStore;
    let path: string;
    beforeAll(async () => {
      path = await exportTo(out, ...extra);
      store = await ArtifactStore.open(path, { smallBlob: 4096 });
    }, 120_000);
    afterAll(async () => store?.close());

    it('answers every layout name with the manifest the inventory names, and every blob byte for byte', async () => {
      const inv = await inventory(path);
      expect(inv.images).toHaveLength(6);
      for (const img of inv.images) {
        const m = await store.getManifest(parseReference(img.refName));
        expect(m.digest).toBe(img.digest);
        const doc = JSON.parse(m.bytes.toString()) as {
          config: { digest: string };
          layers: Array<{ digest: string; size: number }>;
        };
        const ref = parseReference(img.ref);
        for (const l of doc.layers) {
          const bytes = await buffer(
            await store.getBlob(ref, { mediaType: 'x', digest: l.digest as never, size: l.size }),
          );
          expect(sha256Digest(bytes)).toBe(l.digest);
          const mid = await buffer(
            await store.getBlob(
              ref,
              { mediaType: 'x', digest: l.digest as never, size: l.size },
              { offset: 1000, length: l.size - 2000 },
            ),
          );
          expect(mid.equals(bytes.subarray(1000, l.size - 1000))).toBe(true);
        }
      }
    });

    it("serves the upstream index (the registry's digest) where the artifact kept all of it, else a synthesized one", async () => {
      const upstream = await client.getManifest('calico/node', 'v3.27.3');
      expect((await store.getManifest(parseReference('docker.io/calico/node:v3.27.3'))).digest).toBe(upstream.digest);
      const docker = await client.getManifest('kubesphere/pause-docker', '3.9');
      expect((await store.getManifest(parseReference('docker.io/kubesphere/pause-docker:3.9'))).digest).toBe(
        docker.digest,
      );
      // kube-apiserver has s390x upstream, which was not exported → an index synthesized over amd64 and arm64
      const api = await store.getManifest(parseReference('docker.io/kubesphere/kube-apiserver:v1.28.12'));
      const children = (
        JSON.parse(api.bytes.toString()) as { manifests: Array<{ platform: { architecture: string } }> }
      ).manifests;
      expect(children.map((c) => c.platform.architecture)).toEqual(['amd64', 'arm64']);
      expect(api.digest).not.toBe((await client.getManifest('kubesphere/kube-apiserver', 'v1.28.12')).digest);
      expect(await store.listTags(parseReference('docker.io/kubesphere/kube-apiserver'))).toEqual([
        'v1.28.12',
        'v1.28.12-amd64',
        'v1.28.12-arm64',
      ]);
    });
  },
);

// kko/inventory.json as GNU tar reads it from the artifact (parts joined by cat).
async function inventory(path: string): Promise<Inv> {
  const files = path.endsWith('.part-000') ? `${path.slice(0, -3)}*` : path;
  const { stdout } = await sh(
    'sh',
    [
      '-c',
      `cat ${files} | tar -xaO --zstd kko/inventory.json 2>/dev/null || cat ${files} | tar -xO kko/inventory.json`,
    ],
    { maxBuffer: 1 << 24 },
  );
  return JSON.parse(stdout) as Inv;
}
