import { z } from 'zod';
import { KkoError } from '../errors.js';
import { parseJsonDocument, referrerRowSchema, zodProblem, type ReferrerRow } from './inventory.js';
import { INVENTORY_NAME } from './paths.js';

// #12 item 2 (--with-referrers): the inventory's field `referrers` (rows: inventory.ts referrerRowSchema), read alone
// as parseImageSignatures reads `imageSignatures`: [] when the artifact has none, a bad row names its field.
export const REFERRERS_FIELD = 'referrers';
export type { ReferrerRow };

const fieldSchema = z.object({ [REFERRERS_FIELD]: z.array(referrerRowSchema) });

export function parseReferrers(inventory: Buffer): ReferrerRow[] {
  const doc = parseJsonDocument(inventory, INVENTORY_NAME);
  const rows =
    typeof doc === 'object' && doc !== null && !Array.isArray(doc)
      ? (doc as Record<string, unknown>)[REFERRERS_FIELD]
      : undefined;
  if (rows === undefined) return [];
  const r = fieldSchema.safeParse({ [REFERRERS_FIELD]: rows });
  if (!r.success) throw new KkoError('INVALID_INPUT', `${INVENTORY_NAME}: ${zodProblem(r.error)}`);
  return r.data[REFERRERS_FIELD];
}

// Every blob digest the rows carry (referrer manifests, their configs and layers).
export function referrerDigests(rows: readonly ReferrerRow[]): string[] {
  return rows.flatMap((r) => [r.digest, ...r.blobs.map((b) => b.digest)]);
}
