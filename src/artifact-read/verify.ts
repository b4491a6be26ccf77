import type { ArchiveCompression } from '../archive/reader.js';
import { SUMS_NAME } from '../archive/checksums.js';
import { loadCatalog, type Catalog } from '../catalog/index.js';
import { KkoError } from '../errors.js';
import type { Delta } from '../artifact-format/index.js';
import { BLOBS_PREFIX, INDEX_NAME, INVENTORY_NAME, SIGNATURE_NAME } from './docs.js';
import { checkArtifact } from './checks.js';
import {
  checkImageSignatures,
  signatureBlobKeeper,
  type ImageKeyOptions,
  type ImageSignatureSummary,
} from './image-signatures.js';
import { scanArtifact } from './scan.js';
import { isKkFilePath, Trust, type Anchor, type TrustOptions } from './trust.js';
import type { Problem, ScanResult } from './types.js';

// kko: the artifact carries kko/inventory.json; kk: an OCI layout and kk paths only (kk's own artifacts).
export type ArtifactKind = 'kko' | 'kk';

// verifyInventory: check kko/inventory.json.sig with a key (#12; see src/signing inventoryVerifier) and require that
// the signed inventory accounts for every file.
// imageKey (#12): re-verify every image's cosign signature carried in the artifact (image-signatures.ts).
export type VerifyOptions = {
  catalog?: Catalog;
  verifyInventory?: TrustOptions['verifyInventory'];
  imageKey?: ImageKeyOptions;
};

export type VerifyReport = {
  readonly artifact: string;
  readonly compression: ArchiveCompression;
  readonly kind: ArtifactKind;
  readonly ok: boolean;
  readonly files: number;
  readonly blobs: number;
  readonly bytes: number;
  // Files not hashed by this pass (an on-read open): each blob is hashed against its name when it is read.
  readonly deferred?: number;
  // Which references the artifact carried: without SHA256SUMS only blobs (by name) and the layout can be checked.
  // signature: verified against the key given, present but not checked (no key given), or none.
  readonly checked: {
    readonly checksums: boolean;
    readonly layout: boolean;
    readonly inventory: boolean;
    readonly signature: 'verified' | 'unchecked' | 'none';
  };
  // Binaries and ISOs by the strongest anchor that vouched for them; `unanchored` lists those nothing vouched for.
  readonly anchors: Readonly<Partial<Record<Anchor, number>>>;
  readonly unanchored: readonly string[];
  readonly problems: readonly Problem[];
  readonly imageSignatures?: ImageSignatureSummary; // with VerifyOptions.imageKey
  // #12 item 3: a delta artifact; what it leaves out is counted as in its base (not missing, not checked here). A
  // delta is never complete on its own, whatever `ok` says about its own bytes.
  readonly delta?: DeltaSummary;
};

export type DeltaSummary = {
  readonly base: { readonly inventorySha256: string; readonly artifact?: string };
  readonly omittedBlobs: number;
  readonly omittedFiles: number;
  readonly omittedBytes: number;
};

// The summary of a delta's inventory field (undefined for a complete artifact).
export function deltaSummary(delta: Delta | undefined): DeltaSummary | undefined {
  if (!delta) return undefined;
  const { blobs, files } = delta.omitted;
  return {
    base: {
      inventorySha256: delta.base.inventorySha256,
      ...(delta.base.artifact !== undefined ? { artifact: delta.base.artifact } : {}),
    },
    omittedBlobs: blobs.length,
    omittedFiles: files.length,
    omittedBytes: [...blobs, ...files].reduce((n, x) => n + x.size, 0),
  };
}

// The trust built from a finished scan's documents (verify); import builds it entry by entry instead.
export function trustOfScan(scan: ScanResult, opts: TrustOptions): Trust {
  const trust = new Trust(opts);
  for (const [name, bytes] of scan.docs) trust.learn(name, bytes);
  return trust;
}

// An archive with no OCI layout, no kko/ metadata and no kk path is not an artifact (empty tarballs included).
export function assertArtifact(scan: ScanResult): ArtifactKind {
  if (scan.docs.has(INVENTORY_NAME)) return 'kko';
  const names = [...scan.files.keys()];
  if (names.some((n) => n.startsWith('images/') || n.startsWith('kko/') || isKkFilePath(n))) return 'kk';
  throw new KkoError(
    'INVALID_INPUT',
    `reading ${scan.artifact}: not a KubeKey artifact (${names.length} files; no images/index.json, no kko/ metadata, no kk binary or ISO paths)`,
    {
      hint: 'pass the tarball written by `kko artifact export` or `kk artifact export`',
    },
  );
}

function anchorCounts(scan: ScanResult, trust: Trust): Pick<VerifyReport, 'anchors' | 'unanchored'> {
  const anchors: Partial<Record<Anchor, number>> = {};
  const unanchored: string[] = [];
  for (const name of scan.files.keys()) {
    if (!isKkFilePath(name)) continue;
    const a = trust.anchorOf(name);
    if (a) anchors[a] = (anchors[a] ?? 0) + 1;
    else unanchored.push(name);
  }
  return { anchors, unanchored: unanchored.sort() };
}

function signatureState(scan: ScanResult, trust: Trust): VerifyReport['checked']['signature'] {
  if (trust.signatureChecked && !trust.signatureProblem()) return 'verified';
  return scan.docs.has(SIGNATURE_NAME) ? 'unchecked' : 'none';
}

// The report for a finished scan (also what import decides on).
export function verifyScan(scan: ScanResult, trust: Trust): VerifyReport {
  const kind = assertArtifact(scan);
  const problems = checkArtifact(scan, trust);
  const files = [...scan.files.values()];
  const deferred = files.filter((f) => f.deferred).length;
  const delta = deltaSummary(trust.delta);
  return {
    artifact: scan.artifact,
    compression: scan.compression,
    kind,
    ok: problems.length === 0,
    files: files.length,
    blobs: files.filter((f) => f.name.startsWith(BLOBS_PREFIX)).length,
    bytes: files.reduce((n, f) => n + f.size, 0),
    ...(deferred > 0 ? { deferred } : {}),
    checked: {
      checksums: scan.docs.has(SUMS_NAME),
      layout: scan.docs.has(INDEX_NAME),
      inventory: scan.docs.has(INVENTORY_NAME),
      signature: signatureState(scan, trust),
    },
    ...anchorCounts(scan, trust),
    problems,
    ...(delta ? { delta } : {}),
  };
}

// Re-hash every file of the artifact in one streaming pass (no unpacking) and check it against the catalog, the
// manifest's ISO checksums, its own lists and the blob names. Problems are returned, not thrown; unreadable,
// hostile or non-artifact input throws (UNSAFE_ARCHIVE, INVALID_INPUT, FILE_NOT_FOUND, IO_ERROR).
export async function verifyArtifact(path: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const catalog = opts.catalog ?? (await loadCatalog());
  const scan = await scanArtifact(path, opts.imageKey ? { keep: signatureBlobKeeper() } : {});
  const report = verifyScan(
    scan,
    trustOfScan(scan, { catalog, ...(opts.verifyInventory ? { verifyInventory: opts.verifyInventory } : {}) }),
  );
  if (!opts.imageKey) return report;
  const images = checkImageSignatures(scan, opts.imageKey);
  // an inventory that does not parse is reported once (verifyScan has it already)
  const known = new Set(report.problems.map((p) => `${p.kind}\0${p.path}\0${p.detail}`));
  const problems = [
    ...report.problems,
    ...images.problems.filter((p) => !known.has(`${p.kind}\0${p.path}\0${p.detail}`)),
  ];
  return { ...report, ok: problems.length === 0, problems, imageSignatures: images.summary };
}
