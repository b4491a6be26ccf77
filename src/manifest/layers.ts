import type { Catalog } from '../catalog/catalog.js';
import { KkoError } from '../errors.js';
import { layerRank } from './generate.js';
import type { KkManifest, KkComponents, KkoRecord } from './schema.js';

const BASE = 'base-k8s';

// Split a kko manifest into one valid Manifest per layer: base-k8s keeps the binaries, add-ons only images.
export function splitManifest(catalog: Catalog, manifest: KkManifest): Map<string, KkManifest> {
  const kko = manifest.spec.kko;
  if (!kko)
    throw new KkoError(
      'INVALID_INPUT',
      'splitting a manifest needs the kko record (spec.kko) that kko manifest create writes',
    );
  const layerOf = new Map<string, string>();
  for (const ref of manifest.spec.images ?? []) layerOf.set(ref, catalog.layerOf(kko.imageClasses[ref] ?? 'unknown'));
  const layers = new Set<string>([BASE, ...layerOf.values()]);
  const out = new Map<string, KkManifest>();
  for (const layer of [...layers].sort((a, b) => layerRank(a) - layerRank(b) || (a < b ? -1 : 1))) {
    const images = (manifest.spec.images ?? []).filter((r) => layerOf.get(r) === layer);
    const isBase = layer === BASE;
    out.set(layer, {
      ...manifest,
      spec: {
        arches: manifest.spec.arches,
        operatingSystems: isBase ? manifest.spec.operatingSystems : [],
        kubernetesDistributions: isBase ? manifest.spec.kubernetesDistributions : [],
        components: isBase ? manifest.spec.components : {},
        images,
        registry: isBase ? manifest.spec.registry : { auths: {} },
        kko: {
          ...kko,
          layer,
          imageClasses: Object.fromEntries(images.map((r) => [r, kko.imageClasses[r] ?? 'unknown'])),
        },
      },
    });
  }
  return out;
}

function unionBy<T>(lists: ReadonlyArray<readonly T[] | null | undefined>, key: (t: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const list of lists) for (const item of list ?? []) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

function mergeComponents(list: KkManifest[]): KkComponents {
  const out: Record<string, unknown> = {};
  for (const m of list) {
    for (const [key, value] of Object.entries(m.spec.components ?? {})) {
      if (value === null || value === undefined) continue;
      if (key === 'containerRuntimes') {
        out[key] = unionBy(
          [out[key] as KkComponents['containerRuntimes'], value as KkComponents['containerRuntimes']],
          (r) => `${r.type}@${r.version}`,
        );
        continue;
      }
      const prior = out[key] as { version: string } | undefined;
      const next = value as { version: string };
      if (prior && prior.version !== next.version) {
        throw new KkoError(
          'INVALID_INPUT',
          `merging manifests: components.${key} is ${prior.version} in one file and ${next.version} in another`,
          {
            hint: 'kk installs one version of each component; make the inputs agree',
          },
        );
      }
      out[key] = next;
    }
  }
  return out as KkComponents;
}

function mergeKko(list: KkManifest[], images: string[]): KkoRecord | undefined {
  const records = list.map((m) => m.spec.kko).filter((k): k is KkoRecord => k !== undefined);
  const first = records[0];
  if (!first) return undefined;
  for (const r of records) {
    if (
      r.kkVersion !== first.kkVersion ||
      r.zone !== first.zone ||
      JSON.stringify(r.cluster) !== JSON.stringify(first.cluster)
    ) {
      throw new KkoError(
        'INVALID_INPUT',
        `merging manifests: the inputs were made for different clusters (kk ${first.kkVersion}/${first.zone} vs ${r.kkVersion}/${r.zone})`,
      );
    }
  }
  const classes: Record<string, string> = {};
  for (const r of records) Object.assign(classes, r.imageClasses);
  const { layer: _layer, ...rest } = first;
  return {
    ...rest,
    addons: unionBy(
      records.map((r) => r.addons),
      (a) => `${a.name}@${a.version}`,
    ),
    imageClasses: Object.fromEntries(images.filter((i) => classes[i]).map((i) => [i, classes[i] as string])),
  };
}

// Join manifests (kko layers or any kk manifests) into one: unions, first-seen order, conflicts are errors.
export function mergeManifests(inputs: KkManifest[], name?: string): KkManifest {
  const first = inputs[0];
  if (!first) throw new KkoError('INVALID_INPUT', 'merging manifests: no input files');
  const ordered = inputs.every((m) => m.spec.kko?.layer)
    ? [...inputs].sort(
        (a, b) =>
          layerRank(a.spec.kko?.layer ?? '') - layerRank(b.spec.kko?.layer ?? '') ||
          ((a.spec.kko?.layer ?? '') < (b.spec.kko?.layer ?? '') ? -1 : 1),
      )
    : inputs;
  const images = unionBy(
    ordered.map((m) => m.spec.images),
    (s) => s,
  );
  const auths: Record<string, unknown> = {};
  for (const m of ordered) Object.assign(auths, m.spec.registry?.auths ?? {});
  const kko = mergeKko(ordered, images);
  return {
    apiVersion: first.apiVersion,
    kind: first.kind,
    metadata: { ...first.metadata, name: name ?? first.metadata.name },
    spec: {
      arches: unionBy(
        ordered.map((m) => m.spec.arches),
        (s) => s,
      ),
      operatingSystems: unionBy(
        ordered.map((m) => m.spec.operatingSystems),
        (o) => `${o.arch}/${o.id}/${o.version}`,
      ),
      kubernetesDistributions: unionBy(
        ordered.map((m) => m.spec.kubernetesDistributions),
        (d) => `${d.type}@${d.version}`,
      ),
      components: mergeComponents(ordered),
      images,
      registry: { auths: auths as NonNullable<KkManifest['spec']['registry']>['auths'] },
      ...(kko ? { kko } : {}),
    },
  };
}
