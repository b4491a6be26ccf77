import {
  IMAGE_SIGNATURES_FIELD,
  parseImageSignatures,
  parseReferrers,
  REFERRERS_FIELD,
} from '../artifact-format/index.js';
import { INVENTORY_NAME, parseInventoryImages } from './docs.js';
import type { ProblemList } from './problems.js';
import type { ScanResult } from './types.js';

// #12 item 2: every carried signature (imageSignatures) and referrer (referrers) row is for a digest the artifact holds
// of that image: its index or one of its manifests, upstream or as stored in images/ (the inventory's image rows name
// them, and the manifest is in the artifact). A row for anything else would be pushed beside the image pointing at
// nothing (a hand-edited or forged inventory): a problem naming the row, its ref and the digest.
export function checkCarriedSubjects(scan: ScanResult, problems: ProblemList): void {
  const inv = scan.docs.get(INVENTORY_NAME);
  if (!inv) return;
  let rows: Array<{ field: string; i: number; ref: string; subject: string }>;
  const held = new Map<string, Set<string>>();
  try {
    for (const img of parseInventoryImages(inv)) {
      const set = held.get(img.ref) ?? new Set<string>();
      for (const d of [img.digest, ...(img.upstream ?? [])]) if (scan.manifests.has(d.slice(7))) set.add(d);
      held.set(img.ref, set);
    }
    rows = [
      ...parseImageSignatures(inv).map((r, i) => ({ field: IMAGE_SIGNATURES_FIELD, i, ref: r.ref, subject: r.digest })),
      ...parseReferrers(inv).map((r, i) => ({ field: REFERRERS_FIELD, i, ref: r.ref, subject: r.subject })),
    ];
  } catch {
    return; // the inventory check reports a row that does not parse
  }
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
