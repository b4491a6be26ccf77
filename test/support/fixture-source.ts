import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportArtifact, type ExportOptions } from '../../src/export/index.js';
import { parseManifestText, type KkManifest } from '../../src/manifest/index.js';
import { loadMirrorPolicy, type EffectivePolicy } from '../../src/mirror/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { fixtureSet, pushIndex } from './builders.js';
import { manifestYaml, mirrorPolicyYaml } from './cli-args.js';
import type { TestRegistry } from './registry.js';

// The two images of the fixture set that library-level export tests export: pause (an OCI index) and pause-d (a
// Docker list), so an artifact carries upstream manifests and indexes beside its layout.
export const FIXTURE_IMAGES = ['docker.io/kubesphere/pause:3.9', 'docker.io/library/pause-d:1'] as const;

export type FixtureSource = { readonly manifest: KkManifest; readonly policy: EffectivePolicy };

// Push them into `reg`, write m.yaml and mirrors.yaml (docker.io → reg) into `dir`, and parse both as export does.
export async function seedFixtureSource(
  reg: TestRegistry,
  fx: ReturnType<typeof fixtureSet>,
  dir: string,
): Promise<FixtureSource> {
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  try {
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await pushIndex(c, 'library/pause-d', '1', fx.pauseDocker);
  } finally {
    await c.close();
  }
  const mf = join(dir, 'm.yaml');
  const text = manifestYaml(FIXTURE_IMAGES);
  await writeFile(mf, text);
  await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(reg.host));
  const parsed = parseManifestText(text, mf);
  if (!parsed.parsed) throw new Error(JSON.stringify(parsed.issues));
  const policy = await loadMirrorPolicy({ configFile: join(dir, 'mirrors.yaml'), env: {} });
  return { manifest: parsed.parsed.manifest, policy };
}

// Export the fixture source to `o.output` with the library call (as `artifact export` does); the first failure throws.
export async function exportFixture(
  src: FixtureSource,
  o: Pick<ExportOptions, 'cacheDir' | 'output' | 'compress' | 'env' | 'signer' | 'splitSize'>,
): Promise<void> {
  const r = await exportArtifact({ manifests: [src.manifest], policy: src.policy, ...o });
  if (r.failures.length > 0) throw new Error(String(r.failures[0]?.error));
}
