import { plannedFiles, type DownloadPlan } from '../download/index.js';
import { KkoError } from '../errors.js';
import type { KkManifest } from '../manifest/index.js';
import { resolveImageSources, type EffectivePolicy, type ImageSource } from '../mirror/index.js';
import { parseReference } from '../reference/index.js';
import { layoutRefName } from '../artifact-format/index.js';

export { layoutRefName };

// One image × arch to fetch: where from (in order) and the name it gets in the artifact's OCI layout.
export type PlannedImage = {
  ref: string; // as written in the manifest
  arch: string; // "amd64", "arm64" or "arm/v7"
  refName: string; // kk v3.1.2+ layout ref name: <full source ref>-<arch>[-<variant>]
  class: string;
  sources: ImageSource[];
};

export type ExportPlan = { zone: string; arches: string[]; images: PlannedImage[] };

// Pure: every image × arch of the manifests with its ordered sources from the mirror policy.
export function planExport(
  manifests: readonly KkManifest[],
  policy: EffectivePolicy,
  classify: (ref: string) => string | undefined,
): ExportPlan {
  const arches = [...new Set(manifests.flatMap((m) => m.spec.arches ?? []))];
  if (arches.length === 0)
    throw new KkoError('INVALID_MANIFEST', 'no spec.arches in the manifest(s): nothing to export', {
      hint: 'add amd64 and/or arm64',
    });
  const refs = [...new Set(manifests.flatMap((m) => m.spec.images ?? []))];
  const classes: Record<string, string> = Object.assign({}, ...manifests.map((m) => m.spec.kko?.imageClasses ?? {}));
  const images: PlannedImage[] = [];
  for (const ref of refs) {
    const parsed = parseReference(ref);
    const sources = resolveImageSources(parsed, policy);
    if (sources.length === 0)
      throw new KkoError('MIRRORS_EXHAUSTED', `image ${ref}: the mirror policy leaves no source to try`, {
        hint: 'check upstream: false and pullFrom in the mirror config',
      });
    for (const arch of arches) {
      images.push({
        ref,
        arch,
        refName: layoutRefName(ref, arch),
        class: classes[ref] ?? classify(ref) ?? 'unknown',
        sources,
      });
    }
  }
  return { zone: policy.zone, arches, images };
}

// Byte order of layout ref names: the one order of index.json, the inventory and the report.
export function byRefName(a: { planned: PlannedImage }, b: { planned: PlannedImage }): number {
  return a.planned.refName < b.planned.refName ? -1 : a.planned.refName > b.planned.refName ? 1 : 0;
}

// The whole --dry-run plan: every image × arch and every file, each with the sources the fetch tries, in its order
// (plannedFiles takes them from the functions the fetch uses, so helm in the cn zone starts at QingStor in both).
export function planArtifact(
  manifests: readonly KkManifest[],
  policy: EffectivePolicy,
  classify: (ref: string) => string | undefined,
  downloads: DownloadPlan,
): ExportPlan & ReturnType<typeof plannedFiles> {
  return { ...planExport(manifests, policy, classify), ...plannedFiles(downloads, policy) };
}
