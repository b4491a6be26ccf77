import { dirname } from 'node:path';
import { planBinaries, type BinaryItem, type Catalog, type KubeKeyProfile } from '../catalog/index.js';
import { KkoError } from '../errors.js';
import type { KkManifest } from '../manifest/index.js';
import { binaryCandidates, type DownloadPolicy } from './binaries.js';
import { isoCandidates, planIso, type IsoItem } from './iso.js';
import { cutText, quoteValue } from '../util/safe-text.js';
import { withoutUserinfo } from './userinfo.js';

// A manifest, or a parsed one with its file (ParsedManifest fits): ISO localPaths are relative to that file's folder.
export type ManifestInput = KkManifest | { readonly manifest: KkManifest; readonly file: string };

// Every file an export downloads besides images: kk's binaries and the OS repository ISOs.
export type DownloadPlan = { binaries: BinaryItem[]; isos: IsoItem[] };

const manifestOf = (input: ManifestInput): KkManifest => ('manifest' in input ? input.manifest : input);

// Whether the manifests ask for kk binaries at all: only then does the kk release (its profile) matter.
export function needsKkProfile(manifests: readonly ManifestInput[]): boolean {
  return manifests
    .map(manifestOf)
    .some(
      (m) => (m.spec.kubernetesDistributions ?? []).length > 0 || Object.values(m.spec.components ?? {}).some((v) => v),
    );
}

// The downloads of the manifests and the kk profile they were planned for. The kk release only decides binaries, so
// an images-only manifest needs no profile and `pickKk` (given the version recorded in a manifest) is not asked.
export async function planManifestDownloads(
  catalog: Catalog,
  manifests: readonly ManifestInput[],
  pickKk: (recorded: string | undefined) => Promise<string>,
): Promise<{ downloads: DownloadPlan; profile?: KubeKeyProfile }> {
  if (!needsKkProfile(manifests)) return { downloads: planDownloads(catalog, catalog.newestProfile(), manifests) };
  const recorded = manifests.map((m) => manifestOf(m).spec.kko?.kkVersion).find(Boolean);
  const profile = catalog.profile(await pickKk(recorded));
  return { downloads: planDownloads(catalog, profile, manifests), profile };
}

// Pure: the binaries (planBinaries per manifest, one per artifact path) and the ISOs of all manifests.
export function planDownloads(
  catalog: Catalog,
  profile: KubeKeyProfile,
  manifests: readonly ManifestInput[],
): DownloadPlan {
  const binaries = new Map<string, BinaryItem>();
  const isos = new Map<string, IsoItem>();
  for (const input of manifests) {
    const { manifest, baseDir } =
      'manifest' in input
        ? { manifest: input.manifest, baseDir: dirname(input.file) }
        : { manifest: input, baseDir: undefined };
    assertKubernetesDistributions(manifest);
    for (const b of planBinaries(catalog, profile, manifest)) if (!binaries.has(b.path)) binaries.set(b.path, b);
    for (const os of manifest.spec.operatingSystems ?? []) {
      const iso = planIso(os, baseDir);
      if (iso) addIso(isos, iso);
    }
  }
  return { binaries: [...binaries.values()], isos: [...isos.values()] };
}

// kk packages k3s/k8e with other binaries (k3s, etcd, …) that kko's catalog does not model yet: refuse rather than
// write an artifact that kk would find incomplete at install time.
function assertKubernetesDistributions(manifest: KkManifest): void {
  const other = (manifest.spec.kubernetesDistributions ?? []).find((d) => d.type !== 'kubernetes');
  if (other) {
    throw new KkoError(
      'INVALID_INPUT',
      `kubernetesDistributions type ${quoteValue(other.type)} (${cutText(other.version)}): kko packages binaries for type kubernetes only`,
      {
        hint: 'export the images with a manifest without kubernetesDistributions, and take the k3s/k8e binaries from kk',
      },
    );
  }
}

// Two manifests may name the same ISO; they must then agree on where it comes from and what it hashes to.
function addIso(isos: Map<string, IsoItem>, iso: IsoItem): void {
  const prior = isos.get(iso.path);
  if (!prior) {
    isos.set(iso.path, iso);
    return;
  }
  if (prior.checksum && iso.checksum && prior.checksum !== iso.checksum) {
    throw new KkoError(
      'INVALID_INPUT',
      `ISO ${iso.path}: the manifests give two checksums (${prior.checksum}, ${iso.checksum})`,
      { hint: 'keep one operatingSystems entry per id/version/arch' },
    );
  }
  if (!prior.checksum && iso.checksum) isos.set(iso.path, { ...prior, checksum: iso.checksum });
}

// A planned file with the URLs the fetch tries, in its order (a local ISO: its path).
export type PlannedFile = { path: string; sha256?: string; sources: string[] };

// The sources of every file, from the functions fetchBinary and fetchIso use (binaryCandidates, isoCandidates),
// so a --dry-run plan shows what the real fetch tries (e.g. helm's cn QingStor source first). URLs are shown without
// user:password@ (a private mirror's credentials stay out of logs).
export function plannedFiles(
  plan: DownloadPlan,
  policy: DownloadPolicy,
): { binaries: PlannedFile[]; isos: Array<IsoItem & PlannedFile> } {
  const binaries = plan.binaries.map((b) => ({
    path: b.path,
    ...(b.sha256 !== undefined ? { sha256: b.sha256 } : {}),
    sources: binaryCandidates(b, policy).map((c) => withoutUserinfo(c.url)),
  }));
  const isos = plan.isos.map((i) => ({
    ...i,
    ...(i.url ? { url: withoutUserinfo(i.url) } : {}),
    sources: i.url ? isoCandidates(i.url, { policy }).map((c) => withoutUserinfo(c.url)) : [i.localPath ?? ''],
  }));
  return { binaries, isos };
}
