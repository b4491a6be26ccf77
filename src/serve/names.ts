import type { ImageStore } from '../artifact-store/index.js';
import { DOCKER_HUB, parseReference, type Reference } from '../reference/index.js';

// The names serve answers to, per containerd's mirror semantics (hosts.toml: the mirror gets the upstream
// repository path and `?ns=<upstream host>`) and kk's push naming (manifest/push-name.ts: without a
// namespaceOverride kk pushes <privateRegistry>/<namespace>/<name>, i.e. the upstream repository path):
//   calico/cni              docker.io/calico/cni (an upstream path; docker.io wins when two registries share it)
//   calico/cni?ns=quay.io   quay.io/calico/cni
//   docker.io/calico/cni    the full name, host included
//   <override>/cni          with --namespace-override: kk's flattened names (kubesphereio/cni)
export class ServedNames {
  readonly #byPath = new Map<string, string>(); // served path → "registry/repository"
  readonly #keys: ReadonlySet<string>;
  readonly #listed: string[];

  constructor(store: ImageStore, opts: { namespaceOverride?: string } = {}) {
    const keys = store.repositories();
    this.#keys = new Set(keys);
    // docker.io first, then byte order: the first to claim a short path keeps it.
    const order = [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const key of order) {
      const repo = key.slice(key.indexOf('/') + 1);
      if (!this.#byPath.has(repo)) this.#byPath.set(repo, key);
      const flat = opts.namespaceOverride
        ? `${opts.namespaceOverride}/${repo.slice(repo.lastIndexOf('/') + 1)}`
        : undefined;
      if (flat && !this.#byPath.has(flat)) this.#byPath.set(flat, key);
    }
    this.#listed = [...this.#byPath.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // The store reference for a served name (and containerd's ns), or undefined when the artifact has no such repository.
  resolve(name: string, ns: string | undefined): Reference | undefined {
    if (ns !== undefined) {
      const key = `${hostOf(ns)}/${name}`;
      if (this.#keys.has(key)) return refOf(key);
    }
    if (this.#keys.has(name) && name.includes('/')) return refOf(name);
    const key = this.#byPath.get(name);
    return key ? refOf(key) : undefined;
  }

  // Every short served name, sorted (what /v2/_catalog lists).
  catalog(): readonly string[] {
    return this.#listed;
  }
}

function rank(key: string): number {
  return key.startsWith(`${DOCKER_HUB}/`) ? 0 : 1;
}

// containerd sends the upstream host as written in the image name (docker.io, registry-1.docker.io, quay.io:443).
function hostOf(ns: string): string {
  const h = ns.toLowerCase();
  return h === 'registry-1.docker.io' || h === 'index.docker.io' ? DOCKER_HUB : h;
}

function refOf(key: string): Reference | undefined {
  const slash = key.indexOf('/');
  try {
    const r = parseReference(`${key}:x`);
    return { registry: key.slice(0, slash), repository: r.repository };
  } catch {
    return undefined;
  }
}
