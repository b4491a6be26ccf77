import { layoutRefName } from '../artifact-format/index.js';
import { KkoError } from '../errors.js';
import { pushedRepository, type KkNaming } from '../manifest/index.js';
import { parseReference, type Reference } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';

// How a target names images: by the rule push uses (manifest/push-name.ts pushedRepository) for one kk release —
// the names nodes pull (mode 'pull', the default) or exactly kk's own push (mode 'kk', --kk-push-names).
// kkRepository names a kk image as kk's GetImage does (Catalog.kkRepository), undefined for any other.
export type TargetNaming = {
  readonly kk: KkNaming;
  readonly mode: 'pull' | 'kk';
  readonly kkRepository: (ref: Reference) => string | undefined;
};

// One registry sync writes to: `--to HOST[/path]`. The path plays kk's privateRegistry path / namespaceOverride
// (HOST/path/<name>), as in a kk Cluster's registry block; without it the namespace is the one nodes pull (kk's
// default namespace for a kk image, the source's own for any other), or, with mode 'kk', kk's push namespace.
export type SyncTarget = {
  readonly registry: string;
  readonly namespace?: string;
  readonly spec: string;
  readonly naming: TargetNaming;
};

// `--to` as typed: a host (with an optional port) and an optional path; no scheme, tag or digest.
export function parseTarget(spec: string, naming: TargetNaming): SyncTarget {
  const bad = (why: string, hint: string): KkoError =>
    new KkoError('INVALID_INPUT', `--to ${quoteValue(spec, 200)}: ${why}`, { hint });
  if (/^[a-z]+:\/\//i.test(spec))
    throw bad(
      'a registry is named without a scheme',
      'write --to HOST[:PORT][/path]; pass --plain-http for a registry without TLS',
    );
  if (spec.includes('@') || /\/[^/]*:/.test(spec))
    throw bad(
      'a target names a registry and a path, not a tag or digest',
      'sync keeps each image’s own tag: write --to HOST[:PORT][/path]',
    );
  const [host = '', ...path] = spec.replace(/\/+$/, '').split('/');
  let probe: Reference;
  try {
    probe = parseReference(`${spec.replace(/\/+$/, '')}/kko-probe`);
  } catch (err) {
    throw bad((err as Error).message, 'write --to HOST[:PORT][/path], e.g. --to registry.local:5000/kubesphereio');
  }
  if (probe.registry !== host)
    throw bad(
      `${quoteValue(host)} is not a registry host (no dot, port or "localhost")`,
      'write the registry as a host name with a dot or a port, e.g. registry.local or 10.0.0.5:5000',
    );
  return { registry: host, ...(path.length > 0 ? { namespace: path.join('/') } : {}), spec, naming };
}

// Every --to, each once.
export function parseTargets(specs: readonly string[], naming: TargetNaming): SyncTarget[] {
  if (specs.length === 0)
    throw new KkoError('INVALID_INPUT', '--to: no target registry given', {
      hint: 'pass --to HOST[:PORT][/path] once per registry',
    });
  const out = specs.map((s) => parseTarget(s, naming));
  const seen = new Set<string>();
  for (const t of out) {
    const key = `${t.registry}/${t.namespace ?? ''}`;
    if (seen.has(key))
      throw new KkoError('INVALID_INPUT', `--to ${quoteValue(t.spec, 200)}: given twice`, {
        hint: 'name each target registry once',
      });
    seen.add(key);
  }
  return out;
}

// The names an image gets on a target: push's rule (pushedRepository, the target's naming), per arch
// `:<tag>-<arch>` and the multi-arch index at `:<tag>`, a path in --to standing for namespaceOverride. The one
// place sync names things; `artifact images push` and `mirror render` name by the same rule.
export type TargetNames = {
  readonly repository: Reference;
  readonly top: Reference;
  readonly arch: (arch: string) => Reference;
};

export function targetNames(src: Reference, target: SyncTarget): TargetNames {
  const { kk, mode, kkRepository } = target.naming;
  const reg = {
    privateRegistry: target.registry,
    ...(target.namespace ? { namespaceOverride: target.namespace } : {}),
  };
  const full = pushedRepository(src, reg, kk, mode, kkRepository).repo;
  const repository: Reference = { registry: target.registry, repository: full.slice(target.registry.length + 1) };
  // An image named by digest alone has no tag to carry: its manifests go by digest only.
  const tag = src.tag ?? (src.digest === undefined ? 'latest' : undefined);
  return {
    repository,
    top: tag === undefined ? repository : { ...repository, tag },
    arch: (arch) => (tag === undefined ? repository : { ...repository, tag: layoutRefName(tag, arch) }),
  };
}
