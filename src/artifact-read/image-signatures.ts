import { sha256Digest } from '../reference/index.js';
import { parseManifestJson, type Descriptor, type ImageManifest } from '../oci/index.js';
import { blobHex, blobPath, INDEX_NAME, INVENTORY_NAME, inventoryImages, parseLayoutIndex, refNameOf } from './docs.js';
import {
  IMAGE_SIGNATURES_FIELD,
  imageSignaturesOf,
  parseImageSignatures,
  parseInventory,
  type ImageSignatureRow,
  type Inventory,
} from '../artifact-format/index.js';
import type { Problem, ScanResult } from './types.js';

// #12 item 2 inside the air gap: `artifact verify --image-key cosign.pub` re-verifies each image's cosign signature
// from the bytes the artifact carries, and that the signed digest is the content of the artifact: the signed index (or
// manifest) is in the artifact, names the upstream manifest of every arch, and that manifest has the config and layers
// of the layout's manifest. The cosign check itself is injected (src/signing/cosign.ts verifyCosignSignature, bound to
// the key), as the inventory signature check is.

export type ImageSignatureCheck = (
  manifest: ImageManifest,
  payload: (d: Descriptor) => Buffer | undefined,
  digest: string,
) => void;
export type ImageKeyOptions = { readonly check: ImageSignatureCheck; readonly allowUnsigned?: readonly string[] };
// verified: images whose own signature verified; perArch: per-arch child signatures (cosign sign --recursive) verified.
export type ImageSignatureSummary = {
  readonly verified: number;
  readonly perArch: number;
  readonly allowedUnsigned: readonly string[];
};

type InventoryRow = { ref: string; arch: string; refName: string; top: string; manifestDigest: string };

// What ScanOptions.keep should hold: the signature blobs the inventory names (parsed once, when it has arrived).
export function signatureBlobKeeper(): (name: string, docs: ReadonlyMap<string, Buffer>) => boolean {
  let wanted: Set<string> | undefined;
  return (name, docs) => {
    const inv = docs.get(INVENTORY_NAME);
    if (!inv) return false;
    if (!wanted) {
      try {
        wanted = new Set(parseImageSignatures(inv).flatMap((r) => (r.blobs ?? []).map((b) => blobPath(b.digest))));
      } catch {
        wanted = new Set(); // reported by the check
      }
    }
    return wanted.has(name);
  };
}

// The images of the inventory with the digest their tag resolved to (index, else manifest) and the upstream manifest.
function inventoryRows(inventory: Inventory): InventoryRow[] {
  return inventoryImages(inventory).flatMap((i) => {
    const m = i.upstreamManifest;
    return m === undefined
      ? []
      : [{ ref: i.ref, arch: i.arch, refName: i.refName, top: i.upstreamIndex ?? m, manifestDigest: m }];
  });
}

// A blob's bytes as the scan kept them, only when they hash to their name.
function bytesOf(scan: ScanResult, digest: string): Buffer | undefined {
  const hex = blobHex(blobPath(digest));
  const b = hex ? (scan.manifests.get(hex) ?? scan.kept?.get(blobPath(digest))) : undefined;
  return b && sha256Digest(b) === digest ? b : undefined;
}

function manifestAt(scan: ScanResult, digest: string): ReturnType<typeof parseManifestJson> | undefined {
  const b = bytesOf(scan, digest);
  try {
    return b ? parseManifestJson(b) : undefined;
  } catch {
    return undefined;
  }
}

const blobsOf = (m: ImageManifest): string => [m.config, ...m.layers].map((d) => d.digest).join(',');

// Why the artifact's content of one image × arch is not what `top` (the signed digest) determines, or undefined.
function bindingProblem(scan: ScanResult, row: InventoryRow, layout: ReadonlyMap<string, string>): string | undefined {
  const top = manifestAt(scan, row.top);
  if (!top) return `the signed ${row.top} is not in the artifact (or not a readable manifest)`;
  if (top.kind === 'index' && !top.manifest.manifests.some((d) => d.digest === row.manifestDigest))
    return `the signed index ${row.top} does not list ${row.manifestDigest}`;
  if (top.kind === 'image' && row.top !== row.manifestDigest)
    return `the signed ${row.top} is not the image's manifest ${row.manifestDigest}`;
  const upstream = manifestAt(scan, row.manifestDigest);
  const ours = layout.get(row.refName);
  const mine = ours ? manifestAt(scan, ours) : undefined;
  if (upstream?.kind !== 'image' || mine?.kind !== 'image')
    return `the manifests of ${row.refName} are not in the artifact`;
  if (blobsOf(upstream.manifest) !== blobsOf(mine.manifest))
    return `${INDEX_NAME} ${row.refName} has other config or layers than the signed ${row.manifestDigest}`;
  return undefined;
}

function signatureProblem(scan: ScanResult, sig: ImageSignatureRow, opts: ImageKeyOptions): string | undefined {
  const m = sig.manifest ? manifestAt(scan, sig.manifest.digest) : undefined;
  if (!sig.manifest || m?.kind !== 'image')
    return `signature manifest ${sig.manifest?.digest ?? '?'} (${sig.tag}) is not in the artifact`;
  try {
    opts.check(m.manifest, (d) => bytesOf(scan, d.digest), sig.digest);
  } catch (err) {
    return `signature ${sig.tag}: ${(err as Error).message}`;
  }
  return undefined;
}

function layoutDigests(scan: ScanResult): Map<string, string> {
  try {
    const bytes = scan.docs.get(INDEX_NAME);
    return new Map(bytes ? parseLayoutIndex(bytes).manifests.map((d) => [refNameOf(d) ?? '', d.digest]) : []);
  } catch {
    return new Map(); // the layout check reports it
  }
}

// Every image of the inventory: signed by the key for the digest it was exported at, and that digest is its content.
export function checkImageSignatures(
  scan: ScanResult,
  opts: ImageKeyOptions,
): { problems: Problem[]; summary: ImageSignatureSummary } {
  const inv = scan.docs.get(INVENTORY_NAME);
  const none = { verified: 0, perArch: 0, allowedUnsigned: [] };
  if (!inv)
    return {
      problems: [
        {
          kind: 'missing',
          path: INVENTORY_NAME,
          detail: `--image-key: image signatures are recorded in its ${IMAGE_SIGNATURES_FIELD}`,
        },
      ],
      summary: none,
    };
  let sigs: ImageSignatureRow[];
  let rows: InventoryRow[];
  try {
    const doc = parseInventory(inv);
    sigs = imageSignaturesOf(doc);
    rows = inventoryRows(doc);
  } catch (err) {
    return { problems: [{ kind: 'corrupt', path: INVENTORY_NAME, detail: (err as Error).message }], summary: none };
  }
  const layout = layoutDigests(scan);
  const problems: Problem[] = [];
  const allowed: string[] = [];
  let verified = 0;
  let perArch = 0;
  for (const ref of [...new Set(rows.map((r) => r.ref))].sort()) {
    const path = `image ${ref}`;
    const mine = rows.filter((r) => r.ref === ref);
    const sig = sigs.find((s) => s.ref === ref && s.arch === undefined);
    for (const child of sigs.filter((s) => s.ref === ref && s.arch !== undefined)) {
      const problem = childProblem(scan, child, mine, layout, opts);
      if (problem)
        problems.push({
          kind: 'corrupt',
          path: `${path} ${child.arch ?? ''}`,
          detail: `per-arch signature of ${child.digest}: ${problem}`,
        });
      else perArch++;
    }
    if (!sig?.manifest) {
      if (opts.allowUnsigned?.includes(ref)) allowed.push(ref);
      else
        problems.push({
          kind: 'missing',
          path,
          detail: `no cosign signature in the artifact${sig ? ' (exported with --allow-unsigned)' : ''}; pass --allow-unsigned ${ref} to accept it`,
        });
      continue;
    }
    const wrongTop = mine.find((r) => r.top !== sig.digest);
    const problem = wrongTop
      ? `signed for ${sig.digest}, but the artifact holds ${wrongTop.top}`
      : (signatureProblem(scan, sig, opts) ?? mine.map((r) => bindingProblem(scan, r, layout)).find(Boolean));
    if (problem) problems.push({ kind: 'corrupt', path, detail: problem });
    else verified++;
  }
  return { problems, summary: { verified, perArch, allowedUnsigned: allowed } };
}

// A per-arch signature row (the child of the index that arch was exported from, cosign sign --recursive): the arch is
// in the artifact, the signed digest is its upstream manifest, the signature verifies, and that manifest is the
// layout's content of the arch.
function childProblem(
  scan: ScanResult,
  child: ImageSignatureRow,
  mine: readonly InventoryRow[],
  layout: ReadonlyMap<string, string>,
  opts: ImageKeyOptions,
): string | undefined {
  const r = mine.find((x) => x.arch === child.arch);
  if (!r) return `the artifact does not hold arch ${child.arch ?? '?'} of the image`;
  if (r.manifestDigest !== child.digest) return `the artifact holds ${r.manifestDigest} for ${child.arch ?? '?'}`;
  return signatureProblem(scan, child, opts) ?? bindingProblem(scan, { ...r, top: r.manifestDigest }, layout);
}
