import {
  IMAGE_SIGNATURES_FIELD,
  imageSignaturesOf,
  REFERRERS_FIELD,
  type Inventory,
} from '../artifact-format/index.js';
import { INVENTORY_NAME, inventoryImages } from './docs.js';
import type { ProblemList } from './problems.js';
import type { ScanResult } from './types.js';

// #12 item 2: every carried signature (imageSignatures) and referrer (referrers) row is for a digest the artifact holds
// of that image: its index or one of its manifests, upstream or as stored in images/ (the inventory's image rows name
// them, and the manifest is in the artifact). A row for anything else would be pushed beside the image pointing at
// nothing (a hand-edited or forged inventory): a problem naming the row, its ref and the digest.
// `inv`: the inventory as parsed once (Trust.inventoryDoc).
export function checkCarriedSubjects(scan: ScanResult, inv: Inventory, problems: ProblemList): void {
  const held = new Map<string, Set<string>>();
  for (const img of inventoryImages(inv)) {
    const set = held.get(img.ref) ?? new Set<string>();
    for (const d of [img.digest, ...(img.upstream ?? [])]) if (scan.manifests.has(d.slice(7))) set.add(d);
    held.set(img.ref, set);
  }
  const rows = [
    ...imageSignaturesOf(inv).map((r, i) => ({ field: IMAGE_SIGNATURES_FIELD, i, ref: r.ref, subject: r.digest })),
    ...(inv.referrers ?? []).map((r, i) => ({ field: REFERRERS_FIELD, i, ref: r.ref, subject: r.subject })),
  ];
  for (const r of rows) {
    if (held.get(r.ref)?.has(r.subject)) continue;
    const what = held.has(r.ref)
      ? `is not the index or a manifest of ${r.ref} held in the artifact`
      : `is for ${r.ref}, an image the artifact does not hold`;
    problems.add({
      kind: 'corrupt',
      path: `${INVENTORY_NAME} ${r.field}[${r.i}]`,
      detail: `${r.field === REFERRERS_FIELD ? 'subject' : 'signed digest'} ${r.subject} ${what}`,
    });
  }
}
