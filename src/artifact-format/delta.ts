import { KkoError } from '../errors.js';

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
