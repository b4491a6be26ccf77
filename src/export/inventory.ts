import { createHash } from 'node:crypto';
import type { TarEntry } from '../archive/tar.js';
import {
  INDEX_NAME,
  INVENTORY_API_VERSION,
  INVENTORY_KIND,
  INVENTORY_NAME,
  inventoryBytes,
  MANIFEST_NAME,
  OCI_LAYOUT,
  OCI_LAYOUT_NAME,
  type Inventory,
} from '../artifact-format/index.js';
import type { KkManifest } from '../manifest/index.js';
import type { KubeKeyProfile } from '../catalog/index.js';
import { VERSION } from '../version.js';
import type { FetchedImage } from './fetch-image.js';
import { fileRows, type FetchedFile } from './files.js';
import { layoutIndex } from './layout.js';
import { byRefName, type ExportPlan } from './plan.js';
import { redactManifests } from './redact.js';

// The artifact's own account of itself, written first: the manifests it was made from (credentials removed, and
// `credentialsRemoved` naming the fields) and every image × arch with its layout digest, platform, size, class and
// the source that served it; every binary and ISO with its sha256; and (#12) the sha256 and size of the other
// documents (kko/manifest.json, images/index.json, images/oci-layout), so a signature over the inventory covers
// every byte of the artifact (blobs by content address, reached from images/index.json).
// `extra`: fields the export's preflight steps add (#12: imageSignatures), placed after the files.
export function inventoryEntries(
  plan: ExportPlan,
  images: readonly FetchedImage[],
  files: readonly FetchedFile[],
  manifests: readonly KkManifest[],
  profile?: KubeKeyProfile,
  extra: Readonly<Record<string, unknown>> = {},
): TarEntry[] {
  const rows = [...images].sort(byRefName).map((i) => ({
    ref: i.planned.ref,
    arch: i.planned.arch,
    refName: i.planned.refName,
    class: i.planned.class,
    digest: i.manifest.digest,
    size: i.size,
    platform: i.platform,
    source: i.source,
    upstream: i.upstream,
  }));
  // The kk release the artifact was made for: the component versions and image tags it installs.
  const kk = profile
    ? { version: profile.version, defaults: profile.defaults, imageTags: profile.imageTags }
    : undefined;
  const stored = redactManifests(manifests);
  const manifest = {
    name: MANIFEST_NAME,
    data: Buffer.from(`${JSON.stringify(stored.value, null, 2)}\n`),
    first: true,
  };
  const documents = documentRows([
    manifest,
    { name: INDEX_NAME, data: layoutIndex(images) },
    { name: OCI_LAYOUT_NAME, data: OCI_LAYOUT },
  ]);
  const inventory: Inventory = {
    apiVersion: INVENTORY_API_VERSION,
    kind: INVENTORY_KIND,
    generator: `kko ${VERSION}`,
    ...(kk ? { kk } : {}),
    zone: plan.zone,
    arches: plan.arches,
    images: rows,
    ...fileRows(files),
    ...extra,
    documents,
    credentialsRemoved: stored.removed,
  };
  return [{ name: INVENTORY_NAME, data: inventoryBytes(inventory), first: true }, manifest];
}

function documentRows(
  docs: ReadonlyArray<{ name: string; data: Buffer }>,
): Array<{ path: string; sha256: string; size: number }> {
  return docs.map((d) => ({
    path: d.name,
    sha256: createHash('sha256').update(d.data).digest('hex'),
    size: d.data.length,
  }));
}
