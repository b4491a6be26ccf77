import { parseChecksums, SUMS_NAME } from '../archive/checksums.js';
import { blobHex, BLOBS_PREFIX, INDEX_NAME, INVENTORY_NAME, parseInventoryImages, parseLayoutIndex, refNameOf } from './docs.js';
import { checkLayout } from './layout-check.js';
import { ProblemList } from './problems.js';
import type { Problem, ScanResult } from './types.js';

function hashDetail(want: string, got: string | undefined): string {
  return `sha256 want ${want} got ${got ?? 'unknown'}`;
}

// Every blob hashes to its own name (content addressing needs no list to check against).
function checkBlobNames(scan: ScanResult, problems: ProblemList): void {
  for (const f of scan.files.values()) {
    if (!f.name.startsWith(BLOBS_PREFIX)) continue;
    const hex = blobHex(f.name);
    if (!hex) problems.add({ kind: 'corrupt', path: f.name, detail: 'not images/blobs/sha256/<64 hex>' });
    else if (f.sha256 !== hex) problems.add({ kind: 'corrupt', path: f.name, detail: hashDetail(hex, f.sha256) });
  }
}

// kko/SHA256SUMS, when present, covers every other entry: missing, corrupt and extra are all reported.
function checkSums(scan: ScanResult, problems: ProblemList): void {
  const text = scan.docs.get(SUMS_NAME);
  if (!text) return;
  let sums: Map<string, string>;
  try {
    sums = parseChecksums(text.toString('utf8'));
  } catch (err) {
    return problems.add({ kind: 'corrupt', path: SUMS_NAME, detail: (err as Error).message });
  }
  for (const [path, hex] of sums) {
    const f = scan.files.get(path);
    if (!f) problems.add({ kind: 'missing', path, detail: `listed in ${SUMS_NAME}` });
    else if (f.sha256 !== hex) problems.add({ kind: 'corrupt', path, detail: hashDetail(hex, f.sha256) });
  }
  for (const name of scan.files.keys()) {
    if (name !== SUMS_NAME && !sums.has(name)) problems.add({ kind: 'extra', path: name, detail: `not in ${SUMS_NAME}` });
  }
}

// Every image of kko/inventory.json is in index.json under its ref name, with the same manifest digest.
function checkInventory(scan: ScanResult, problems: ProblemList): void {
  const bytes = scan.docs.get(INVENTORY_NAME);
  if (!bytes) return;
  let images;
  try {
    images = parseInventoryImages(bytes);
  } catch (err) {
    return problems.add({ kind: 'corrupt', path: INVENTORY_NAME, detail: (err as Error).message });
  }
  const indexBytes = scan.docs.get(INDEX_NAME);
  let byRef = new Map<string, string>();
  try {
    if (indexBytes) byRef = new Map(parseLayoutIndex(indexBytes).manifests.map((d) => [refNameOf(d) ?? '', d.digest]));
  } catch {
    return; // the layout check reports a corrupt index.json
  }
  for (const img of images) {
    const digest = byRef.get(img.refName);
    const path = `${INDEX_NAME}[${img.refName}]`;
    if (!digest) problems.add({ kind: 'missing', path, detail: `listed in ${INVENTORY_NAME}` });
    else if (digest !== img.digest) problems.add({ kind: 'corrupt', path, detail: `manifest ${digest}, ${INVENTORY_NAME} says ${img.digest}` });
  }
}

// All checks over one scan; an empty list means the artifact is complete and intact.
export function checkArtifact(scan: ScanResult): Problem[] {
  const problems = new ProblemList();
  checkBlobNames(scan, problems);
  checkSums(scan, problems);
  checkLayout(scan, problems);
  checkInventory(scan, problems);
  return problems.sorted();
}
