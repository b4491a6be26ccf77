import { KkoError } from '../errors.js';
import type { Reference } from '../reference/index.js';
import { parseReference, repositoryName } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';
import type { RegistryFacts } from './cluster-config.js';

// kk's registry.namespaceRewrite (v3.1.8+ cluster_types.go:137-142): policy changePrefix is the only one kk knows.
export type NamespaceRewrite = { readonly policy: string; readonly src: readonly string[]; readonly dest: string };

// What a kk release does with the registry block, from its profile's features (kubekey-facts.md §1):
// namespaceOverride applied on push only ≤ v3.1.6 (applied at install always); namespaceRewrite from v3.1.8.
export type KkNaming = { readonly overrideOnPush: boolean; readonly rewrite: boolean };

export function kkNamingOf(features: {
  readonly namespaceOverrideOnPush: boolean;
  readonly namespaceRewrite: boolean;
}): KkNaming {
  return { overrideOnPush: features.namespaceOverrideOnPush, rewrite: features.namespaceRewrite };
}

// kk's namespace of a manifest ref: every path segment between the registry and the name
// (CopyImagesToRegistry, kubekey.md §3.8 step 1): docker.io/calico/cni → "calico".
export function kkNamespace(ref: Reference): string {
  return ref.repository.split('/').slice(0, -1).join('/');
}

// ImageRepo's changePrefix (v3.1.8:cmd/kk/pkg/images/images.go:100-122): the last src that the namespace contains
// is replaced (every occurrence) by dest; no match → dest/ is put in front. Another policy changes nothing.
export function rewriteNamespace(ns: string, rw: NamespaceRewrite | undefined): string {
  if (!rw || rw.policy !== 'changePrefix') return ns;
  const match = rw.src.filter((s) => ns.includes(s)).at(-1);
  return match === undefined ? `${rw.dest}/${ns}` : ns.split(match).join(rw.dest);
}

// <privateRegistry>/<ns or "library">/<name>: ImageRepo's prefix with a registry set (images.go: empty namespace → library).
function underRegistry(reg: RegistryFacts, ns: string, name: string): string {
  return [reg.privateRegistry, ns || 'library', name].join('/');
}

// The repository kk pushes an artifact image to: <privateRegistry>/<namespace>/<name>, where the namespace is the
// ref's own, namespaceOverride instead only where kk applies it on push (≤ v3.1.6, v3.1.5:tasks.go:281) and
// rewritten by namespaceRewrite from v3.1.8 (v3.1.8:tasks.go:287) (kubekey.md §3.8 steps 2–3).
export function kkPushRepository(src: Reference, reg: RegistryFacts, kk: KkNaming): string {
  if (reg.namespaceOverride && kk.overrideOnPush) return underRegistry(reg, reg.namespaceOverride, repositoryName(src));
  const ns = kk.rewrite ? rewriteNamespace(kkNamespace(src), reg.namespaceRewrite) : kkNamespace(src);
  return underRegistry(reg, ns, repositoryName(src));
}

// The repository nodes pull at install (GetImage + ImageRepo, v3.1.12:tasks.go:150-155): namespaceOverride when set
// (every release), else kk's default namespace, rewritten from v3.1.8. `dflt` is the image as kk's GetImage names it
// (docker.io/<default namespace>/<name>); for an image kk does not know, its own reference.
export function kkPullRepository(dflt: Reference, reg: RegistryFacts, kk: KkNaming): string {
  if (reg.namespaceOverride) return underRegistry(reg, reg.namespaceOverride, repositoryName(dflt));
  const ns = kk.rewrite ? rewriteNamespace(kkNamespace(dflt), reg.namespaceRewrite) : kkNamespace(dflt);
  return underRegistry(reg, ns, repositoryName(dflt));
}

// The repositories of one source image: kk's push name, the nodes' pull name, and the one kko's push creates (and
// mirror render sends pulls to): the pull name by default, kk's push name with --kk-push-names. `kkRepository`
// names a kk image as kk's GetImage does (Catalog.kkRepository), undefined for any other image. One rule for
// `artifact images push/check` and `mirror render`.
export function pushedRepository(
  src: Reference,
  reg: RegistryFacts,
  kk: KkNaming,
  mode: 'pull' | 'kk',
  kkRepository: (ref: Reference) => string | undefined,
): { readonly repo: string; readonly pushRepo: string; readonly pullRepo: string } {
  const kkRepo = kkRepository(src);
  const dflt = kkRepo ? { ...parseReference(kkRepo), ...(src.tag !== undefined ? { tag: src.tag } : {}) } : src;
  const pullRepo = kkPullRepository(dflt, reg, kk);
  const pushRepo = kkPushRepository(src, reg, kk);
  return { repo: mode === 'kk' ? pushRepo : pullRepo, pushRepo, pullRepo };
}

// Go's platforms.Parse architectures kk accepts in a "-<arch>" suffix (v3.1.12:cmd/kk/pkg/images/utils.go:135-141).
const KK_ARCHES = new Set(
  '386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm'.split(
    ' ',
  ),
);

// ParseImageWithArchTag (utils.go:105-133): "v3.27.4-amd64" → tag v3.27.4, arch amd64; "3.9-arm-v7" → arm/v7.
export function splitArchTag(tag: string): { tag: string; architecture: string; variant?: string } | undefined {
  const n = tag.lastIndexOf('-');
  if (n <= 0) return undefined;
  const last = tag.slice(n + 1);
  if (KK_ARCHES.has(last)) return { tag: tag.slice(0, n), architecture: last };
  const a = tag.lastIndexOf('-', n - 1);
  const arch = tag.slice(a + 1, n);
  if (a <= 0 || !KK_ARCHES.has(arch) || !/^v\d+$/.test(last)) return undefined;
  return { tag: tag.slice(0, a), architecture: arch, variant: last };
}

// "HOST[:PORT][/PATH]" (kk's privateRegistry) → host and path; a scheme or a first segment that is no registry
// host is invalid input, named by `what` (the flag or the config field).
export function parseRegistryLocation(raw: string, what = 'registry'): { host: string; path: string } {
  const value = raw.trim().replace(/\/+$/, '');
  const hint = 'write HOST[:PORT][/PATH], e.g. dockerhub.kubekey.local or 10.0.0.5:5000/kubesphere, without http(s)://';
  if (/^[a-z]+:\/\//i.test(value))
    throw new KkoError(
      'INVALID_INPUT',
      `${what} ${quoteValue(value, 200)}: no scheme allowed (kk uses the value verbatim in image names)`,
      { hint: 'drop the scheme; an HTTP registry is plainHTTP: true under registry.auths.<host>, or --plain-http' },
    );
  let probe: Reference;
  try {
    probe = parseReference(`${value}/probe`);
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `${what} ${quoteValue(value, 200)}: not a registry host and path`, {
      cause: err,
      hint,
    });
  }
  const host = value.split('/')[0] as string;
  if (probe.registry !== host)
    throw new KkoError(
      'INVALID_INPUT',
      `${what} ${quoteValue(value, 200)}: ${quoteValue(host)} is not a registry host`,
      { hint },
    );
  return { host, path: value.slice(host.length + 1) };
}
