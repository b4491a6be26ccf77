import { describe, expect, it } from 'vitest';
import { defaultChoices, loadCatalog } from '../catalog/index.js';
import { binaryCandidates, planDownloads, withoutUserinfo } from '../download/index.js';
import { buildManifest } from '../manifest/index.js';
import { loadMirrorPolicy } from '../mirror/index.js';
import { planArtifact } from './plan.js';

describe('planArtifact (the --dry-run plan)', () => {
  it.each(['default', 'cn'] as const)(
    'zone %s: every file lists exactly the sources the fetch tries, in its order',
    async (zone) => {
      const catalog = await loadCatalog();
      const { manifest } = buildManifest(
        catalog,
        { ...defaultChoices('v3.1.12', ['v1.28.12']), zone, arches: ['amd64', 'arm64'] },
        'x',
      );
      const policy = await loadMirrorPolicy({ zone, env: {}, cwd: '/' });
      const downloads = planDownloads(catalog, catalog.profile('v3.1.12'), [manifest]);
      const plan = planArtifact([manifest], policy, () => undefined, downloads);
      expect(plan.binaries.map((b) => b.path)).toEqual(downloads.binaries.map((b) => b.path));
      for (const [i, b] of downloads.binaries.entries())
        expect(plan.binaries[i]?.sources).toEqual(binaryCandidates(b, policy).map((c) => withoutUserinfo(c.url)));
      const helm = plan.binaries.find((b) => b.path.startsWith('helm/'));
      expect(helm?.sources[0]).toMatch(
        zone === 'cn' ? /^https:\/\/kubernetes-helm\.pek3b\.qingstor\.com\// : /^https:\/\/get\.helm\.sh\//,
      );
      expect(plan.images.length).toBe(manifest.spec.images?.length ? manifest.spec.images.length * 2 : 0);
    },
  );
});
