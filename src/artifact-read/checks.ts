import { formatChecksums, SUMS_NAME } from '../archive/checksums.js';
import {
  blobHex,
  BLOBS_PREFIX,
  INDEX_NAME,
  INVENTORY_NAME,
  inventoryImages,
  parseLayoutIndex,
  refNameOf,
} from './docs.js';
import { checkCarriedSubjects } from './carried-subjects.js';
import { checkLayout } from './layout-check.js';
import { classifyPath } from './paths.js';
import { ProblemList } from './problems.js';
import { Trust } from './trust.js';
import type { Problem, ScanResult } from './types.js';

// Every file against what is known about it: its blob name, the catalog, the manifest, the inventory, SHA256SUMS.
function checkFiles(scan: ScanResult, trust: Trust, problems: ProblemList): void {
  for (const f of scan.files.values()) {
    if (f.name.startsWith(BLOBS_PREFIX) && !blobHex(f.name))
      problems.add({ kind: 'corrupt', path: f.name, detail: 'not images/blobs/sha256/<64 hex>' });
    const p = trust.check(f);
    if (p) problems.add(p);
  }
}

// What the lists name must be there; a kko artifact must carry SHA256SUMS; without one, non-kk paths are extra.
function checkListed(scan: ScanResult, trust: Trust, problems: ProblemList): void {
  for (const p of trust.docProblems) problems.add(p);
  for (const path of trust.sums?.keys() ?? [])
    if (!scan.files.has(path)) problems.add({ kind: 'missing', path, detail: `listed in ${SUMS_NAME}` });
  for (const [path, row] of trust.inventory ?? []) {
    if (scan.files.has(path)) continue;
    const omitted = trust.omittedFiles.get(path);
    if (!omitted) problems.add({ kind: 'missing', path, detail: `listed in ${INVENTORY_NAME}` });
    else if (omitted.sha256 !== row.sha256)
      problems.add({
        kind: 'corrupt',
        path,
        detail: `delta.omitted says sha256 ${omitted.sha256}, ${INVENTORY_NAME} row ${row.sha256}`,
      });
  }
  for (const path of trust.omittedFiles.keys())
    if (scan.files.has(path))
      problems.add({ kind: 'extra', path, detail: `${INVENTORY_NAME} says the delta leaves it out` });
  if (scan.docs.has(INVENTORY_NAME) && !scan.docs.has(SUMS_NAME))
    problems.add({
      kind: 'missing',
      path: SUMS_NAME,
      detail: `a kko artifact (it has ${INVENTORY_NAME}) always carries it`,
    });
  if (scan.docs.has(SUMS_NAME)) return;
  for (const f of scan.files.values()) {
    if (classifyPath(f.name).class === 'other')
      problems.add({
        kind: 'extra',
        path: f.name,
        detail: `not a KubeKey artifact path, and no ${SUMS_NAME} lists it`,
      });
  }
}

// Every image of kko/inventory.json (as the trust parsed it; one it could not parse is its doc problem) is in
// index.json under its ref name, with the same manifest digest.
function checkInventoryImages(scan: ScanResult, trust: Trust, problems: ProblemList): void {
  if (!trust.inventoryDoc) return;
  const images = inventoryImages(trust.inventoryDoc);
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
    else if (digest !== img.digest)
      problems.add({ kind: 'corrupt', path, detail: `manifest ${digest}, ${INVENTORY_NAME} says ${img.digest}` });
  }
}

// #12, when the inventory is the anchor (a key given, or before signing): the signature verifies, every blob is reached
// from images/index.json (whose sha256 the inventory lists) or named by the inventory, and SHA256SUMS is exactly the
// list kko derives from the files, so no byte of the artifact is left that the signed inventory does not determine.
function checkCoverage(scan: ScanResult, trust: Trust, reached: ReadonlySet<string>, problems: ProblemList): void {
  if (!trust.covered) return;
  const sig = trust.signatureProblem();
  if (sig) problems.add(sig);
  if (!scan.docs.has(INVENTORY_NAME))
    return problems.add({ kind: 'missing', path: INVENTORY_NAME, detail: 'a signed artifact is anchored by it' });
  for (const f of scan.files.values()) {
    if (f.name.startsWith(BLOBS_PREFIX) && !reached.has(f.name) && !trust.inventoryBlobs.has(f.name)) {
      problems.add({
        kind: 'extra',
        path: f.name,
        detail: `no manifest of ${INDEX_NAME} references it and ${INVENTORY_NAME} does not name it`,
      });
    }
  }
  const sums = scan.docs.get(SUMS_NAME);
  if (sums && trust.sums && !formatChecksums(trust.sums).equals(sums))
    problems.add({
      kind: 'corrupt',
      path: SUMS_NAME,
      detail: 'not in kko\'s form (sorted "<sha256>  <path>" lines), so its bytes are not determined by the files',
    });
}

// All checks over one scan; an empty list means the artifact is complete and intact.
export function checkArtifact(scan: ScanResult, trust: Trust): Problem[] {
  const problems = new ProblemList();
  checkFiles(scan, trust, problems);
  checkListed(scan, trust, problems);
  const reached = checkLayout(scan, problems, trust.omittedBlobs);
  checkInventoryImages(scan, trust, problems);
  if (trust.inventoryDoc) checkCarriedSubjects(scan, trust.inventoryDoc, problems);
  checkCoverage(scan, trust, reached, problems);
  return problems.sorted();
}
