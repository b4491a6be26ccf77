import { z } from 'zod';

// #12: the manifest lock file (MANIFEST.lock.json, `kko manifest lock`); schema/manifest-lock.schema.json is made from it.
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const digest = z.string().regex(DIGEST, 'must be sha256:<64 hex>');

export const LOCK_API_VERSION = 'kko.io/v1alpha1';
export const LOCK_KIND = 'ManifestLock';

export const lockSchema = z.strictObject({
  apiVersion: z.literal(LOCK_API_VERSION),
  kind: z.literal(LOCK_KIND),
  images: z.array(
    z.strictObject({
      ref: z.string().min(1).describe('the image as the manifest writes it'),
      digest: digest.describe(
        'what the tag resolved to: the index digest of a multi-arch image, else the manifest digest',
      ),
      mediaType: z.string().min(1).describe('media type of that index or manifest'),
      arches: z.record(z.string(), digest).describe('arch (as in spec.arches) → the digest of its image manifest'),
    }),
  ),
});

export type ManifestLock = z.infer<typeof lockSchema>;
export type LockedImage = ManifestLock['images'][number];
