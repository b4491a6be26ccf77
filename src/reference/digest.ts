import { createHash } from 'node:crypto';
import { KkoError } from '../errors.js';
import { quoteValue } from '../util/safe-text.js';

export type Digest = string & { readonly __brand: 'Digest' };

// Only sha256 is produced or accepted: every registry and layout kk touches uses it.
export function parseDigest(input: string): Digest {
  if (!/^sha256:[a-f0-9]{64}$/.test(input)) {
    throw new KkoError('INVALID_DIGEST', `invalid digest ${quoteValue(input)}: expected sha256:<64 lower-case hex>`);
  }
  return input as Digest;
}

// A published sha256 checksum as users paste it: "sha256:<hex>", "<hex>", or a sha256sum line "<hex>  <name>"
// (what official ISOs publish); any case. Undefined when it is not one.
export function sha256ChecksumOf(raw: string): Digest | undefined {
  const token = raw.trim().split(/\s+/)[0] ?? '';
  const hex = token.replace(/^sha256:/i, '').toLowerCase();
  return /^[a-f0-9]{64}$/.test(hex) ? (`sha256:${hex}` as Digest) : undefined;
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

// The referrers tag schema's tag for a digest (distribution-spec "Referrers Tag Schema": <alg>-<encoded>); cosign's
// tags (.sig, .att, .sbom) add a suffix to it.
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}
