import type { Reference } from '../reference/index.js';
import { repositoryName } from '../reference/index.js';
import type { RegistryFacts } from './cluster-config.js';

// kk's namespace of a manifest ref: every path segment between the registry and the name
// (CopyImagesToRegistry, kubekey.md §3.8 step 1): docker.io/calico/cni → "calico".
export function kkNamespace(ref: Reference): string {
  return ref.repository.split('/').slice(0, -1).join('/');
}

// The repository kk pushes a manifest image to: <privateRegistry>/<namespace>/<name>, where the namespace is
// namespaceOverride only when this kk applies it on push (≤ v3.1.6), else the ref's own (kubekey.md §3.8 steps 2–3).
export function kkPushRepository(src: Reference, reg: RegistryFacts, overrideOnPush: boolean): string {
  const ns = reg.namespaceOverride && overrideOnPush ? reg.namespaceOverride : kkNamespace(src);
  return [reg.privateRegistry, ns, repositoryName(src)].filter(Boolean).join('/');
}
