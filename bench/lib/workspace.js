// The work dir a bench starts from: a temp dir (removed at cleanup) with a private home/ for the children's
// environment, the fixture's manifest.yaml (every image, all arches, under docker.io/), and, when asked,
// mirrors.yaml sending docker.io to the registry the bench serves the fixture from and skopeo's policy.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './cleanup.js';
import { childEnv } from './export-runs.js';
import { ARCHES, IMAGES } from './fixture.js';

/** The kk Manifest of the whole fixture. */
export function fixtureManifest() {
  return [
    'apiVersion: kubekey.kubesphere.io/v1alpha2',
    'kind: Manifest',
    'metadata: {name: kko-bench}',
    'spec:',
    `  arches: [${ARCHES.join(', ')}]`,
    '  images:',
    ...IMAGES.map((i) => `  - docker.io/${i.repo}:${i.tag}`),
    '',
  ].join('\n');
}

/** A MirrorPolicy that serves docker.io only from `host` (plain HTTP, no upstream). @param {string} host */
export function mirrorPolicy(host) {
  return [
    'apiVersion: kko.io/v1alpha1',
    'kind: MirrorPolicy',
    'registries:',
    '- prefix: docker.io',
    '  mirrors:',
    `  - {location: "${host}", plainHTTP: true}`,
    '  upstream: false',
    '',
  ].join('\n');
}

/**
 * @param {string} prefix temp dir prefix
 * @param {{ mirrorHost?: string, skopeoPolicy?: boolean }} [o]
 * @returns {Promise<{ work: string, env: NodeJS.ProcessEnv }>}
 */
export async function benchWorkspace(prefix, o = {}) {
  const work = await tempDir(prefix);
  await mkdir(join(work, 'home'));
  await writeFile(join(work, 'manifest.yaml'), fixtureManifest());
  if (o.skopeoPolicy) await writeFile(join(work, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  if (o.mirrorHost) await writeFile(join(work, 'mirrors.yaml'), mirrorPolicy(o.mirrorHost));
  return { work, env: childEnv(join(work, 'home')) };
}
