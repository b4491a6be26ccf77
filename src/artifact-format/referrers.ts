import { parseInventoryRows, referrerRowSchema, type ReferrerRow } from './inventory.js';

// #12 item 2 (--with-referrers): the inventory's field `referrers` (rows: inventory.ts referrerRowSchema), read alone
// as parseImageSignatures reads `imageSignatures`: [] when the artifact has none, a bad row names its field.
export const REFERRERS_FIELD = 'referrers';
export type { ReferrerRow };

export function parseReferrers(inventory: Buffer): ReferrerRow[] {
  return parseInventoryRows(inventory, REFERRERS_FIELD, referrerRowSchema);
}

// Every blob digest the rows carry (referrer manifests, their configs and layers).
export function referrerDigests(rows: readonly ReferrerRow[]): string[] {
  return rows.flatMap((r) => [r.digest, ...r.blobs.map((b) => b.digest)]);
}
