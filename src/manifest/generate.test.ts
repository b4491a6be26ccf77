import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultChoices, loadCatalog, type Catalog, type ClusterChoices } from '../catalog/index.js';
import { KkoError } from '../errors.js';
import { buildManifest, renderManifest } from './generate.js';
import { validateManifests } from './check.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const choices = (c: Partial<ClusterChoices>): ClusterChoices => ({ ...defaultChoices('v3.1.12', ['v1.28.12']), ...c });

describe('buildManifest refuses choices kk cannot install (a library caller gets the check, not only the CLI)', () => {
  it.each([
    [
      { kata: true, containerManager: 'docker' as const },
      'KATA_WITHOUT_CONTAINERD',
      /kata needs the containerd container manager, not docker/,
    ],
    [{ calicoTypha: true, cni: ['cilium' as const] }, 'TYPHA_WITHOUT_CALICO', /calico typha needs the calico CNI/],
    [{ cni: ['multus' as const] }, 'MULTUS_ALONE', /multus runs on top of exactly one other CNI/],
    [{ cni: ['none' as const, 'multus' as const] }, 'MULTUS_ALONE', /multus runs on top/],
    [{ cni: ['calico' as const, 'cilium' as const] }, 'TWO_CNIS', /one CNI plugin per cluster \(got calico, cilium\)/],
  ])('%j → INVALID_INPUT (%s)', (bad, _code, message) => {
    let err: unknown;
    try {
      buildManifest(catalog, choices(bad), 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KkoError);
    expect((err as KkoError).code).toBe('INVALID_INPUT');
    expect((err as KkoError).message).toMatch(message);
  });

  it('allowed combinations still build: multus on calico, typha on calico, kata on containerd', () => {
    const built = buildManifest(
      catalog,
      choices({ cni: ['calico', 'multus'], calicoTypha: true, kata: true, containerManager: 'containerd' }),
      'x',
    );
    expect(built.images.map((i) => i.ref)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/calico\/typha/),
        expect.stringMatching(/multus/),
        expect.stringMatching(/kata/),
      ]),
    );
  });
});

describe('manifest validate reports contradictory recorded choices at the field', () => {
  it('kata: true with docker is an error at spec.kko.cluster.kata, with no completeness noise', async () => {
    const ok = buildManifest(catalog, choices({ kata: true, containerManager: 'containerd' }), 'x');
    const text = renderManifest(ok.manifest).replace(/containerManager: containerd/, 'containerManager: docker');
    const dir = await mkdtemp(join(tmpdir(), 'kko-choices-'));
    const file = join(dir, 'm.yaml');
    await writeFile(file, text);
    const r = await validateManifests({ catalog, files: [file], kkVersion: async () => 'v3.1.12' });
    const errors = r.issues.filter((i) => i.severity === 'error');
    expect(errors.map((i) => [i.code, i.path])).toContainEqual(['KATA_WITHOUT_CONTAINERD', 'spec.kko.cluster.kata']);
    expect(errors.filter((i) => i.code === 'MISSING_IMAGE' || i.code === 'INVALID_INPUT')).toEqual([]);
  });
});
