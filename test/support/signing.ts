import { createHash } from 'node:crypto';
import type { Signer } from '../../src/signing/index.js';

// ECDSA signatures are randomised: returning the same signature for the same bytes makes two signing paths (export
// --sign-key and artifact sign) comparable byte for byte. The signatures are real ones by `inner`.
export function memoSigner(inner: Signer): Signer {
  const seen = new Map<string, Buffer>();
  return {
    sign: (data) => {
      const key = createHash('sha256').update(data).digest('hex');
      if (!seen.has(key)) seen.set(key, inner.sign(data));
      return seen.get(key) as Buffer;
    },
  };
}
