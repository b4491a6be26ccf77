import { KkoError } from '../errors.js';
import type { Delta } from './inventory.js';

// #12 item 3: a delta applied where its base is not (import into a dir without it, push to a registry without it).
// `missing` names exactly what is not there, one line each: an artifact path, or a registry repository@digest.
export class BaseMissingError extends KkoError {
  readonly missing: readonly string[];
  constructor(message: string, missing: readonly string[], hint: string) {
    super('BASE_MISSING', message, { hint });
    this.missing = missing;
  }
}

// "3 of 120 left-out entries" for messages.
export function missingCount(missing: number, of: number): string {
  return `${missing} of the ${of} entr${of === 1 ? 'y' : 'ies'} the delta leaves out`;
}

// The one check that `base` is the delta's base (import --base, push --base, serve --base): the sha256 of its
// kko/inventory.json is the one the delta names.
export function assertDeltaBase(delta: Delta, inventorySha256: string | undefined, base: string): void {
  if (inventorySha256 === delta.base.inventorySha256) return;
  throw new KkoError(
    'INVALID_INPUT',
    `--base: ${base} is not the delta's base (its kko/inventory.json has sha256 ${inventorySha256 ?? 'none'}, the delta names ${delta.base.inventorySha256}${delta.base.artifact ? `, ${delta.base.artifact}` : ''})`,
    { hint: 'pass the artifact the delta was exported against (export --base / --have)' },
  );
}
