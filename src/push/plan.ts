import type { Issue } from '../errors.js';
import { KkoError } from '../errors.js';
import { pushedRepository, splitArchTag, type KkNaming, type RegistryFacts } from '../manifest/index.js';
import { formatPlatform, type Platform } from '../oci/index.js';
import { formatReference, parseReference, type Digest, type Reference } from '../reference/index.js';
import { quoteValue } from '../util/safe-text.js';

// One entry of the artifact's images/index.json (or one image × arch of a manifest, without a digest):
// kk's ref name <full source ref>-<arch>[-<variant>].
export type LayoutEntry = {
  readonly refName: string;
  readonly digest?: Digest;
  readonly size?: number;
  readonly mediaType?: string;
  readonly platform?: Platform;
};

// Which names the push creates: the ones nodes pull at install (kko's default), or exactly kk's own push.
export type NamingMode = 'pull' | 'kk';

export type PushPlanInput = {
  readonly entries: readonly LayoutEntry[];
  readonly registry: RegistryFacts;
  readonly kk: KkNaming & { readonly version: string };
  readonly mode: NamingMode;
  // The repository kk's GetImage names a kk image by (Catalog.kkRepository); undefined for other images.
  readonly kkRepository: (ref: Reference) => string | undefined;
};

export type PlannedChild = { readonly entry: LayoutEntry; readonly platform: Platform; readonly target: Reference };

// One name nodes pull: the multi-arch index at <repo>:<tag> over per-arch <repo>:<tag>-<arch> tags.
export type PlannedImage = {
  readonly source: string; // the upstream ref the artifact holds, e.g. docker.io/calico/cni:v3.27.4
  readonly target: Reference; // the index name
  readonly children: readonly PlannedChild[];
  readonly kkPushName: string; // what kk itself pushes the index as
  readonly pullName: string; // what nodes pull
};

export type PushPlan = { readonly images: readonly PlannedImage[]; readonly issues: readonly Issue[] };

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// "docker.io/calico/cni:v3.27.4-amd64" → the source ref and its platform (kk's ParseImageWithArchTag);
// a ref name kk could not push either is refused, naming it.
function parseEntry(e: LayoutEntry): { source: Reference; platform: Platform; archTag: string } {
  let ref: Reference;
  try {
    ref = parseReference(e.refName);
  } catch (err) {
    throw new KkoError(
      'INVALID_INPUT',
      `reading the artifact's images/index.json: ref name ${quoteValue(e.refName, 256)} is not an image reference`,
      {
        cause: err,
        hint: 'artifacts of kk ≤ v3.1.1 (ref names like ns:name:tag-arch) cannot be pushed; re-export with kko or kk ≥ v3.1.2',
      },
    );
  }
  const split = ref.tag === undefined ? undefined : splitArchTag(ref.tag);
  if (!split || ref.digest !== undefined)
    throw new KkoError(
      'INVALID_INPUT',
      `reading the artifact's images/index.json: ref name ${quoteValue(e.refName, 256)} has no -<arch> suffix`,
      { hint: 'kk and kko name layout entries <image>:<tag>-<arch>' },
    );
  const platform = e.platform ?? {
    os: 'linux',
    architecture: split.architecture,
    ...(split.variant ? { variant: split.variant } : {}),
  };
  return {
    source: { registry: ref.registry, repository: ref.repository, tag: split.tag },
    platform,
    archTag: ref.tag as string,
  };
}

function at(repo: string, tag: string): Reference {
  return parseReference(`${repo}:${tag}`);
}

// Pure: every index name the push creates (or check expects), its per-arch children, and kk's own name for it.
export function planPush(input: PushPlanInput): PushPlan {
  const groups = new Map<string, { source: string; children: PlannedChild[]; kkPushName: string; pullName: string }>();
  const issues: Issue[] = [];
  for (const e of [...input.entries].sort((a, b) => byText(a.refName, b.refName))) {
    const { source, platform, archTag } = parseEntry(e);
    const { repo, pushRepo, pullRepo } = pushedRepository(
      source,
      input.registry,
      input.kk,
      input.mode,
      input.kkRepository,
    );
    const tag = source.tag as string;
    const key = `${repo}:${tag}`;
    const group = groups.get(key) ?? {
      source: formatReference(source),
      children: [],
      kkPushName: `${pushRepo}:${tag}`,
      pullName: `${pullRepo}:${tag}`,
    };
    groups.set(key, group);
    const clash = group.children.find((c) => formatPlatform(c.platform) === formatPlatform(platform));
    if (clash) {
      if (clash.entry.digest !== e.digest)
        issues.push({
          severity: 'warning',
          code: 'PUSH_COLLISION',
          message: `${clash.entry.refName} and ${e.refName} both become ${key} (${formatPlatform(platform)}): only ${clash.entry.refName} is pushed`,
          hint: 'keep one of them in the artifact, or give each upstream its own registry path',
        });
      continue;
    }
    group.children.push({ entry: e, platform, target: at(repo, archTag) });
  }
  const images = [...groups]
    .sort(([a], [b]) => byText(a, b))
    .map(([key, g]) => ({
      source: g.source,
      target: parseReference(key),
      children: g.children,
      kkPushName: g.kkPushName,
      pullName: g.pullName,
    }));
  return { images, issues: [...issues, ...namingNotes(images, input)] };
}

// Where kk's own push would create other names than nodes pull (v3.1.7+ ignores namespaceOverride on push, a cn
// manifest keeps kubesphereio): say which, once per image, and what this push does about it.
function namingNotes(images: readonly PlannedImage[], input: PushPlanInput): Issue[] {
  return images
    .filter((i) => i.kkPushName !== i.pullName)
    .map((i): Issue =>
      input.mode === 'kk'
        ? {
            severity: 'warning',
            code: 'PUSH_PULL_MISMATCH',
            message: `${i.source}: pushed as ${i.kkPushName} (--kk-push-names) but nodes will pull ${i.pullName}: the install fails with "not found"`,
            hint: 'drop --kk-push-names to push the names nodes pull',
          }
        : {
            severity: 'info',
            code: 'KK_WOULD_DIFFER',
            message: `${i.source}: kk ${input.kk.version} would push ${i.kkPushName}, nodes pull ${i.pullName}; pushing ${i.pullName}`,
            hint: "--kk-push-names reproduces kk's push",
          },
    );
}
