import { KkoError } from '../errors.js';
import type { Platform } from './descriptor.js';
import { safeText } from '../util/safe-text.js';

// The platform fields of an image config (image-spec config.md); the rest of the config is opaque to kko.
export function parseConfigPlatform(bytes: Uint8Array): Platform {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new KkoError(
      'INVALID_IMAGE_MANIFEST',
      `parsing image config: not JSON: ${safeText((err as Error).message)}`,
      {
        cause: err,
      },
    );
  }
  const c = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if (typeof c.architecture !== 'string' || typeof c.os !== 'string') {
    throw new KkoError('INVALID_IMAGE_MANIFEST', 'parsing image config: needs string "architecture" and "os"');
  }
  const out: { architecture: string; os: string; variant?: string } = { architecture: c.architecture, os: c.os };
  if (typeof c.variant === 'string' && c.variant !== '') out.variant = c.variant;
  return out;
}
