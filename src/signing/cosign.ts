import type { KeyObject } from 'node:crypto';
import { KkoError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../oci/index.js';
import { referrersTag } from '../reference/index.js';
import { verifySignature } from './signature.js';

// cosign's tag-based image signatures (peers.md §5.3; cosign specs/SIGNATURE_SPEC.md): the signature of image digest
// sha256:<hex> is the manifest at tag `sha256-<hex>.sig` in the same repository; each signature is one layer of media
// type simple-signing whose blob is the payload and whose `dev.cosignproject.cosign/signature` annotation is the base64
// DER ECDSA P-256 signature over SHA-256 of the payload bytes. The payload's critical.image.docker-manifest-digest is
// what binds the signature to the image. Keyless (certificate, Rekor bundle) signatures are not checked here.

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';
export const MAX_PAYLOAD_BYTES = 1024 * 1024; // cosign payloads are a few hundred bytes

// The tag of the signature of `digest`: "sha256:ab…" → "sha256-ab….sig".
export function signatureTag(digest: string): string {
  return `${referrersTag(digest)}.sig`;
}

// The simple-signing payload cosign signs for `digest` (what `cosign sign` writes; `identity` is the repository).
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': digest },
        type: COSIGN_PAYLOAD_TYPE,
      },
      optional: null,
    }),
  );
}

// The image digest a payload names; throws when it is not a cosign simple-signing payload.
function payloadDigest(payload: Buffer): string {
  let doc: { critical?: { image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } };
  try {
    doc = JSON.parse(payload.toString('utf8')) as typeof doc;
  } catch {
    throw new Error('the payload is not JSON');
  }
  const d = doc.critical?.image?.['docker-manifest-digest'];
  if (typeof d !== 'string') throw new Error('the payload has no critical.image.docker-manifest-digest');
  if (doc.critical?.type !== COSIGN_PAYLOAD_TYPE)
    throw new Error(`the payload's critical.type is not "${COSIGN_PAYLOAD_TYPE}"`);
  return d;
}

// Why one layer does not vouch for `digest` with the key, or undefined when it does.
function layerProblem(
  layer: Descriptor,
  payload: Buffer | undefined,
  digest: string,
  key: KeyObject,
  keyName: string,
): string | undefined {
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE)
    return `media type ${layer.mediaType}, not ${SIMPLE_SIGNING_MEDIA_TYPE}`;
  const sig = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
  if (!sig) return `no ${COSIGN_SIGNATURE_ANNOTATION} annotation`;
  if (!payload) return `payload ${layer.digest} is missing`;
  try {
    if (!verifySignature(key, payload, Buffer.from(sig)))
      return `the signature does not verify with ${keyName} (another key signed it, or the payload was changed after signing)`;
    const named = payloadDigest(payload);
    if (named !== digest) return `the signed payload is for ${named}, not this image (${digest})`;
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

// The layer of a signature manifest that the key verifies and whose payload names `digest` (any one suffices, as in
// cosign verify); otherwise SIGNATURE_INVALID with each layer's reason. `payload` gives a layer's blob bytes.
export function verifyCosignSignature(
  manifest: ImageManifest,
  payload: (d: Descriptor) => Buffer | undefined,
  digest: string,
  key: KeyObject,
  keyName: string,
): Descriptor {
  const reasons: string[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const problem = layerProblem(layer, payload(layer), digest, key, keyName);
    if (!problem) return layer;
    reasons.push(`layer ${i}: ${problem}`);
  }
  throw new KkoError(
    'SIGNATURE_INVALID',
    reasons.length > 0 ? reasons.join('; ') : 'the signature manifest has no layers',
  );
}
