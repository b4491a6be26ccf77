import type { ArchiveCompression } from '../archive/reader.js';
import { SUMS_NAME } from '../archive/checksums.js';
import { parseManifestJson, type Descriptor } from '../oci/index.js';
import {
  BLOBS_PREFIX,
  blobHex,
  blobPath,
  INDEX_NAME,
  INVENTORY_NAME,
  MANIFEST_NAME,
  parseInventoryFiles,
  parseInventoryImages,
  parseLayoutIndex,
  refNameOf,
} from './docs.js';
import { classifyPath, type PathClass, type PathGroup } from './paths.js';
import { scanArtifact } from './scan.js';
import type { ScanResult } from './types.js';
import { deltaSummary, type DeltaSummary } from './verify.js';
import { parseInventory, parseReferrers } from '../artifact-format/index.js';

export type InspectImage = { refName: string; ref: string; arch: string; class: string; digest: string; size?: number };
export type InspectGroup = PathGroup & { count: number; size: number };
export type InspectReport = {
  readonly artifact: string;
  readonly compression: ArchiveCompression;
  readonly archiveBytes: number;
  readonly files: number;
  readonly contentBytes: number;
  readonly inventory: boolean;
  readonly checksums: boolean;
  // kko/manifest.json is there, and whether the exporter says it removed credentials (spec.registry.auths) from it.
  readonly manifest: { readonly present: boolean; readonly redacted?: boolean };
  readonly images: readonly InspectImage[];
  readonly blobs: { readonly count: number; readonly size: number };
  readonly groups: readonly InspectGroup[];
  readonly delta?: DeltaSummary; // #12 item 3: a delta artifact (not complete on its own): its base, what it leaves out
  readonly referrers?: readonly InspectReferrer[]; // #12 item 2: carried with export --with-referrers
};
export type InspectReferrer = {
  ref: string;
  subject: string;
  digest: string;
  artifactType?: string;
  tag?: string;
  size: number;
};

// The inventory's referrers rows (export --with-referrers), as inspect lists them.
function referrersInfo(scan: ScanResult): InspectReferrer[] | undefined {
  const inv = scan.docs.get(INVENTORY_NAME);
  try {
    const rows = inv ? parseReferrers(inv) : [];
    if (rows.length === 0) return undefined;
    return rows.map((r) => ({
      ref: r.ref,
      subject: r.subject,
      digest: r.digest,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.tag ? { tag: r.tag } : {}),
      size: r.size + r.blobs.reduce((n, b) => n + b.size, 0),
    }));
  } catch {
    return undefined; // verify names the broken inventory
  }
}

// The inventory's delta field, summarised (undefined for a complete artifact or an unreadable inventory).
function deltaInfo(scan: ScanResult): DeltaSummary | undefined {
  const inv = scan.docs.get(INVENTORY_NAME);
  try {
    return inv ? deltaSummary(parseInventory(inv).delta) : undefined;
  } catch {
    return undefined; // verify names the broken inventory
  }
}

// Manifest + config + layers, from the manifest blob when the artifact holds it.
function imageSize(scan: ScanResult, d: Descriptor): number | undefined {
  const bytes = scan.manifests.get(blobHex(blobPath(d.digest)) ?? '');
  if (!bytes) return undefined;
  try {
    const m = parseManifestJson(bytes, d.mediaType);
    return m.kind === 'image'
      ? d.size + m.manifest.config.size + m.manifest.layers.reduce((n, l) => n + l.size, 0)
      : undefined;
  } catch {
    return undefined;
  }
}

// Images named by index.json (what kk reads); class "unknown" until the inventory says otherwise.
function layoutImages(scan: ScanResult): Map<string, InspectImage> {
  const out = new Map<string, InspectImage>();
  const bytes = scan.docs.get(INDEX_NAME);
  let manifests: readonly Descriptor[] = [];
  try {
    if (bytes) manifests = parseLayoutIndex(bytes).manifests;
  } catch {
    return out; // inspect describes what it can; verify names the broken index
  }
  for (const d of manifests) {
    const refName = refNameOf(d) ?? d.digest;
    const arch = d.platform?.architecture ?? '';
    const ref = arch && refName.endsWith(`-${arch}`) ? refName.slice(0, -arch.length - 1) : refName;
    const size = imageSize(scan, d);
    out.set(refName, {
      refName,
      ref,
      arch,
      class: 'unknown',
      digest: d.digest,
      ...(size !== undefined ? { size } : {}),
    });
  }
  return out;
}

// Layout images overlaid with kko/inventory.json (class, source ref, arch) when the artifact carries one.
function images(scan: ScanResult): InspectImage[] {
  const byRef = layoutImages(scan);
  const inv = scan.docs.get(INVENTORY_NAME);
  let rows: ReturnType<typeof parseInventoryImages> = [];
  try {
    if (inv) rows = parseInventoryImages(inv);
  } catch {
    rows = [];
  }
  for (const r of rows) {
    const seen = byRef.get(r.refName);
    const size = seen?.size ?? r.size;
    byRef.set(r.refName, {
      refName: r.refName,
      ref: r.ref,
      arch: r.arch || (seen?.arch ?? ''),
      class: r.class,
      digest: seen?.digest ?? r.digest,
      ...(size !== undefined ? { size } : {}),
    });
  }
  return [...byRef.values()].sort((a, b) => (a.refName < b.refName ? -1 : a.refName > b.refName ? 1 : 0));
}

const ORDER: readonly PathClass[] = ['image', 'binary', 'iso', 'metadata', 'other'];

function groupKey(g: PathGroup): string {
  return [ORDER.indexOf(g.class), g.component, g.version ?? '', g.arch ?? ''].join('\0');
}

// What kko/inventory.json says about the stored manifest's credentials (undefined: it does not say).
function manifestInfo(scan: ScanResult): InspectReport['manifest'] {
  const inv = scan.docs.get(INVENTORY_NAME);
  let redacted: boolean | undefined;
  try {
    redacted = inv ? parseInventoryFiles(inv).manifestRedacted : undefined;
  } catch {
    redacted = undefined; // verify names the broken inventory
  }
  return { present: scan.docs.has(MANIFEST_NAME), ...(redacted !== undefined ? { redacted } : {}) };
}

// Images by class and arch; every other file by kk's component/version/arch directories.
function groups(scan: ScanResult, imgs: readonly InspectImage[]): InspectGroup[] {
  const out = new Map<string, InspectGroup>();
  const add = (g: PathGroup, size: number): void => {
    const key = groupKey(g);
    const row = out.get(key) ?? { ...g, count: 0, size: 0 };
    row.count += 1;
    row.size += size;
    out.set(key, row);
  };
  for (const i of imgs) add({ class: 'image', component: i.class, ...(i.arch ? { arch: i.arch } : {}) }, i.size ?? 0);
  for (const f of scan.files.values()) {
    const g = classifyPath(f.name);
    if (g.class !== 'image') add(g, f.size);
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

// What a scan holds, by class and component, with sizes.
export function inspectScan(scan: ScanResult): InspectReport {
  const files = [...scan.files.values()];
  const blobs = files.filter((f) => f.name.startsWith(BLOBS_PREFIX));
  const imgs = images(scan);
  const delta = deltaInfo(scan);
  const referrers = referrersInfo(scan);
  return {
    artifact: scan.artifact,
    compression: scan.compression,
    archiveBytes: scan.archiveBytes,
    files: files.length,
    contentBytes: files.reduce((n, f) => n + f.size, 0),
    inventory: scan.docs.has(INVENTORY_NAME),
    checksums: scan.docs.has(SUMS_NAME),
    manifest: manifestInfo(scan),
    images: imgs,
    blobs: { count: blobs.length, size: blobs.reduce((n, f) => n + f.size, 0) },
    groups: groups(scan, imgs),
    ...(delta ? { delta } : {}),
    ...(referrers ? { referrers } : {}),
  };
}

// Read the artifact once, without unpacking or hashing, and describe it.
export async function inspectArtifact(path: string): Promise<InspectReport> {
  return inspectScan(await scanArtifact(path, { hash: false }));
}
