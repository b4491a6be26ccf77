import { createHash } from 'node:crypto';
import { KkoError } from '../errors.js';

export type Digest = string & { readonly __brand: 'Digest' };

// Only sha256 is produced or accepted: every registry and layout kk touches uses it.
export function parseDigest(input: string): Digest {
  if (!/^sha256:[a-f0-9]{64}$/.test(input)) {
    throw new KkoError('INVALID_DIGEST', `invalid digest "${input}": expected sha256:<64 lower-case hex>`);
  }
  return input as Digest;
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}
