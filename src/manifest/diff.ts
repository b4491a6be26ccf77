import type { Catalog } from '../catalog/catalog.js';
import { planBinaries } from '../catalog/binaries.js';
import type { KubeKeyProfile } from '../catalog/schema.js';
import { formatReference, parseReference } from '../reference/index.js';
import type { KkManifest } from './schema.js';

export type Change = {
  kind: 'image' | 'binary';
  change: 'added' | 'removed' | 'changed';
  name: string;
  from?: string;
  to?: string;
};

// Identity of an image across versions: registry/repository without the tag.
function imageKey(raw: string): { key: string; tag: string } {
  try {
    const ref = parseReference(raw);
    return {
      key: formatReference({ registry: ref.registry, repository: ref.repository }),
      tag: ref.tag ?? ref.digest ?? '',
    };
  } catch {
    return { key: raw, tag: '' };
  }
}

// Compare two keyed sets where a key may hold several versions (kube-apiserver for two Kubernetes versions).
function diffKeyed(kind: Change['kind'], a: Map<string, string[]>, b: Map<string, string[]>): Change[] {
  const out: Change[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = (a.get(key) ?? []).filter((v) => !(b.get(key) ?? []).includes(v));
    const to = (b.get(key) ?? []).filter((v) => !(a.get(key) ?? []).includes(v));
    const pairs = Math.min(from.length, to.length);
    for (let i = 0; i < pairs; i++)
      out.push({ kind, change: 'changed', name: key, from: from[i] as string, to: to[i] as string });
    for (const v of from.slice(pairs)) out.push({ kind, change: 'removed', name: key, from: v });
    for (const v of to.slice(pairs)) out.push({ kind, change: 'added', name: key, to: v });
  }
  return out;
}

function group<T>(items: T[], key: (t: T) => string, value: (t: T) => string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), value(it)]);
  return m;
}

// Images and binaries added, removed or changed (same name, other tag/version) between two manifests.
export function diffManifests(catalog: Catalog, profile: KubeKeyProfile, a: KkManifest, b: KkManifest): Change[] {
  const imgs = (m: KkManifest): Map<string, string[]> =>
    group(
      m.spec.images ?? [],
      (r) => imageKey(r).key,
      (r) => imageKey(r).tag,
    );
  const bins = (m: KkManifest): Map<string, string[]> =>
    group(
      planBinaries(catalog, profile, m),
      (x) => `${x.id}/${x.arch}`,
      (x) => x.version,
    );
  return [...diffKeyed('image', imgs(a), imgs(b)), ...diffKeyed('binary', bins(a), bins(b))];
}
