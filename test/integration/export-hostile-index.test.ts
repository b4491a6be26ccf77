import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportArtifact } from '../../src/export/index.js';
import { parseManifestText } from '../../src/manifest/index.js';
import { loadMirrorPolicy } from '../../src/mirror/index.js';
import { MediaType } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { tempDir } from '../cli/run-cli.js';
import { buildImage, pushImage } from '../support/builders.js';
import { manifestYaml, mirrorPolicyYaml } from '../support/cli-args.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT } from '../support/hostile-text.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// An index from a registry (the real distribution registry) whose entries name no wanted platform: the
// PLATFORM_NOT_FOUND message lists what the index has, and those strings are the registry's. A megabyte `os`
// and two thousand entries with escape sequences leave one short, escaped message that still names the platform.
let reg: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  reg = await startRegistry({ mode: 'plain' });
  work = await tempDir('kko-hostile-index-');
  const image = buildImage({ name: 'hostile', layerSize: 512, platform: { os: 'linux', architecture: 's390x' } });
  const child = image.manifest.descriptor;
  const entry = (os: string) => ({
    mediaType: child.mediaType,
    digest: child.digest,
    size: child.size,
    platform: { os, architecture: 's390x' },
  });
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [entry(`linux${MB_TEXT}`), ...Array.from({ length: 2000 }, (_, i) => entry(`${CONTROL_TEXT}${i}`))],
  };
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  try {
    await pushImage(c, 'library/hostile', child.digest, image);
    await c.putManifest('library/hostile', '1', Buffer.from(JSON.stringify(index)), MediaType.OCI_INDEX);
  } finally {
    await c.close();
  }
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await work?.cleanup();
});

describe('export: an index with hostile platform entries', () => {
  it('fails the image with a short, escaped PLATFORM_NOT_FOUND naming the wanted platform', async () => {
    const mf = join(work.dir, 'm.yaml');
    const text = manifestYaml(['docker.io/library/hostile:1'], ['amd64']);
    await writeFile(mf, text);
    await writeFile(join(work.dir, 'mirrors.yaml'), mirrorPolicyYaml(reg.host));
    const parsed = parseManifestText(text, mf).parsed;
    expect(parsed).toBeDefined();
    const policy = await loadMirrorPolicy({ configFile: join(work.dir, 'mirrors.yaml'), env: {} });
    const r = await exportArtifact({
      manifests: [parsed!.manifest],
      policy,
      cacheDir: join(work.dir, 'cache'),
      output: join(work.dir, 'out.tar.gz'),
      env: {},
    });
    expect(r.failures).toHaveLength(1);
    const message = String((r.failures[0]?.error as Error).message);
    expect(message).toContain('no linux/amd64 entry in the index (it has linux');
    expect(message).toContain('and 1991 more');
    // The sources-exhausted message is one line per source: those line breaks are its layout; the rest is escaped.
    expectSafeText(message.replace(/\n {2}\d+\) /g, ' '), 4000);
  });
});
