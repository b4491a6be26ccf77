import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/registry/index.js';
import { runCli } from '../cli/run-cli.js';
import { buildImage, buildIndex, buildLayer, buildMultiArch, fixtureSet, pushImage, pushIndex } from './builders.js';
import { startProxiedRegistry, type ProxiedRegistry } from './proxied-registry.js';

// An artifact exported by `kko artifact export` from the real registry for the serve tests: a multi-arch image kept
// whole (upstream index served), one with an arch not exported (index synthesized), a Docker manifest list, and a
// quay.io image (containerd's ?ns=quay.io).
export const SERVE_IMAGES = [
  'docker.io/calico/node:v3.27.3',
  'docker.io/kubesphere/kube-apiserver:v1.28.12',
  'docker.io/kubesphere/pause-docker:3.9',
  'quay.io/calico/kko-cni:v1',
];

export type ServeFixture = {
  env: ProxiedRegistry;
  client: RegistryClient;
  dir: string;
  artifact: string;
  stop(): Promise<void>;
};

export async function exportServeFixture(
  prefix: string,
  opts: { layerSize?: number; out?: string } = {},
): Promise<ServeFixture> {
  const fx = fixtureSet({ baseSize: 300 * 1024, layerSize: 150 * 1024 });
  const layerSize = opts.layerSize ?? 700 * 1024;
  const env = await startProxiedRegistry(prefix, async (c) => {
    const api = (architecture: string) =>
      buildImage({ name: 'kube-apiserver', layerSize: 150 * 1024, platform: { os: 'linux', architecture } });
    await pushIndex(c, 'kubesphere/kube-apiserver', 'v1.28.12', buildIndex([api('amd64'), api('arm64'), api('s390x')]));
    await pushIndex(c, 'kubesphere/pause-docker', '3.9', fx.pauseDocker);
    await pushIndex(
      c,
      'calico/node',
      'v3.27.3',
      buildMultiArch('calico-node', { layerSize, base: { amd64: buildLayer('calico-base', 3 * layerSize) } }),
    );
    await pushIndex(c, 'quay/calico/kko-cni', 'v1', buildMultiArch('kko-cni', { layerSize: 100 * 1024 }));
    await pushImage(c, 'unused', 'x', fx.apiserver);
  });
  const client = new RegistryClient(env.reg.host, { plainHTTP: true });
  const dir = join(env.work.dir, 'x');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64, arm64]\n  images:\n${SERVE_IMAGES.map((i) => `  - ${i}\n`).join('')}`,
  );
  const mirror = (p: string, path = '') =>
    `- prefix: ${p}\n  mirrors:\n  - {location: ${env.reg.host}${path}, plainHTTP: true}\n  upstream: false\n`;
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n${mirror('docker.io')}${mirror('quay.io', '/quay')}`,
  );
  const out = opts.out ?? 'out.tar.gz';
  const r = await runCli(
    ['artifact', 'export', '-m', 'm.yaml', '--mirror-config', 'mirrors.yaml', '--cache', 'cache', '-o', out, '--json'],
    { cwd: dir, env: { HOME: dir } },
  );
  if (r.code !== 0) throw new Error(`export failed: ${r.stderr}`);
  return {
    env,
    client,
    dir,
    artifact: join(dir, out),
    stop: async () => {
      await client.close();
      await env.stop();
    },
  };
}
