import type { Issue } from '../errors.js';
import { parseRegistryLocation, pushedRepository, type KkNaming, type NamespaceRewrite } from '../manifest/index.js';
import { DOCKER_HUB, formatReference, parseReference, type Reference } from '../reference/index.js';

// The local registry nodes should pull from, as kk's registry block names it (privateRegistry may carry a path).
export type LocalRegistry = {
  readonly privateRegistry: string; // host[:port][/path], no scheme
  readonly namespaceOverride?: string;
  readonly namespaceRewrite?: NamespaceRewrite; // kk v3.1.8+
  readonly plainHTTP: boolean;
  readonly skipTLSVerify: boolean;
  readonly caFile?: string; // absolute path of the CA file on the nodes
};

export type NodeConfigInput = {
  readonly images: readonly string[];
  readonly registry: LocalRegistry;
  // What the kk release does with the registry block (kk ≤ v3.1.6 pushes into namespaceOverride, v3.1.8+ rewrites).
  readonly kk: KkNaming;
  // Which names the push created (manifest/push-name.ts pushedRepository, the rule push uses): 'pull' (kko's push:
  // the names nodes pull), 'kk' (kk's own push, or kko's with --kk-push-names).
  readonly mode: 'pull' | 'kk';
  // kk's GetImage name of a kk image (Catalog.kkRepository); without it every image keeps its own name.
  readonly kkRepository?: (ref: Reference) => string | undefined;
};

// One manifest image: where the push put it, and what a prefix mirror (containerd, docker) would ask the registry for.
export type MirroredImage = {
  readonly ref: string;
  readonly source: Reference;
  readonly pushed: string;
  readonly viaMirror: string;
};
export type Upstream = {
  readonly registry: string;
  readonly server: string;
  readonly images: readonly MirroredImage[];
};

export type MirrorPlan = {
  readonly registry: LocalRegistry;
  readonly host: string; // host[:port] of privateRegistry
  readonly path: string; // its path part, "" when none
  readonly upstreams: readonly Upstream[]; // sorted by registry (byte order)
  readonly issues: readonly Issue[];
};

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// "HOST[:PORT][/PATH]" → host and path (one parser with push and check).
export const parseLocalRegistry = (raw: string): { host: string; path: string } => parseRegistryLocation(raw);

// containerd's default server for an upstream: Docker Hub's API lives on registry-1.docker.io (remotes/docker/config/hosts.go).
export function upstreamServer(registry: string): string {
  return registry === DOCKER_HUB ? 'https://registry-1.docker.io' : `https://${registry}`;
}

function mirrored(ref: string, input: NodeConfigInput): MirroredImage {
  const source = parseReference(ref);
  const facts = {
    privateRegistry: input.registry.privateRegistry,
    ...(input.registry.namespaceOverride ? { namespaceOverride: input.registry.namespaceOverride } : {}),
    ...(input.registry.namespaceRewrite ? { namespaceRewrite: input.registry.namespaceRewrite } : {}),
  };
  const tag = source.tag ? `:${source.tag}` : '';
  const { repo } = pushedRepository(source, facts, input.kk, input.mode, input.kkRepository ?? (() => undefined));
  return {
    ref: formatReference(source),
    source,
    pushed: `${repo}${tag}`,
    viaMirror: `${input.registry.privateRegistry}/${source.repository}${tag}`,
  };
}

// Two upstream images kk pushes to one name: the second push overwrites the first (kk drops the registry host).
function collisions(images: readonly MirroredImage[]): Issue[] {
  const seen = new Map<string, string>();
  const out: Issue[] = [];
  for (const img of images) {
    const first = seen.get(img.pushed);
    if (first === undefined) seen.set(img.pushed, img.ref);
    else if (first !== img.ref)
      out.push({
        severity: 'warning',
        code: 'PUSH_COLLISION',
        message: `${first} and ${img.ref} are both pushed as ${img.pushed}: the registry keeps only one`,
        hint: 'keep one of them in the manifest, or give the registry a path per upstream',
      });
  }
  return out;
}

// Group the manifest's images by upstream registry, with the names the push created (pure; sorted for byte-identical output).
export function planMirrors(input: NodeConfigInput): MirrorPlan {
  const { host, path } = parseLocalRegistry(input.registry.privateRegistry);
  const images = [...new Set(input.images)].map((ref) => mirrored(ref, input)).sort((a, b) => byText(a.ref, b.ref));
  const groups = new Map<string, MirroredImage[]>();
  for (const img of images) groups.set(img.source.registry, [...(groups.get(img.source.registry) ?? []), img]);
  const upstreams = [...groups.keys()]
    .sort(byText)
    .map((registry) => ({ registry, server: upstreamServer(registry), images: groups.get(registry) ?? [] }));
  return { registry: input.registry, host, path, upstreams, issues: collisions(images) };
}

// Images a prefix-only mirror cannot serve: the push put them under another namespace than their own.
export function rewrittenImages(upstream: Upstream): MirroredImage[] {
  return upstream.images.filter((i) => i.pushed !== i.viaMirror);
}
