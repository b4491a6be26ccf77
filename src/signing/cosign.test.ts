import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Descriptor, ImageManifest } from '../oci/index.js';
import { sha256Digest } from '../reference/index.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  signatureTag,
  SIMPLE_SIGNING_MEDIA_TYPE,
  simpleSigningPayload,
  verifyCosignSignature,
} from './cosign.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
const IMAGE = `sha256:${'a'.repeat(64)}`;
const payload = simpleSigningPayload('r.example/x', IMAGE);
const sig = sign('sha256', payload, { key: privateKey, dsaEncoding: 'der' }).toString('base64');
const layer = (extra: Partial<Descriptor> = {}, bytes = payload): Descriptor => ({
  mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
  digest: sha256Digest(bytes),
  size: bytes.length,
  annotations: { [COSIGN_SIGNATURE_ANNOTATION]: sig },
  ...extra,
});
const manifest = (layers: Descriptor[]): ImageManifest =>
  ({
    schemaVersion: 2,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest('{}'), size: 2 },
    layers,
  }) as ImageManifest;
const blobs =
  (...bs: Buffer[]) =>
  (d: Descriptor) =>
    bs.find((b) => sha256Digest(b) === d.digest);

describe('cosign signatures', () => {
  it('names the tag as cosign does', () => expect(signatureTag(IMAGE)).toBe(`sha256-${'a'.repeat(64)}.sig`));

  it('accepts the layer the key verifies for the digest (any one of several)', () => {
    const good = layer();
    expect(
      verifyCosignSignature(manifest([layer({ mediaType: 'x' }), good]), blobs(payload), IMAGE, publicKey, 'k.pub'),
    ).toEqual(good);
  });

  it.each([
    [
      'another key',
      () => verifyCosignSignature(manifest([layer()]), blobs(payload), IMAGE, other, 'o.pub'),
      /layer 0: the signature does not verify with o\.pub/,
    ],
    [
      'another digest',
      () => verifyCosignSignature(manifest([layer()]), blobs(payload), `sha256:${'b'.repeat(64)}`, publicKey, 'k.pub'),
      /signed payload is for sha256:a{64}, not this image \(sha256:b{64}\)/,
    ],
    [
      'a tampered payload',
      () => {
        const t = Buffer.from(payload.toString().replace('r.example', 'evil.example'));
        return verifyCosignSignature(manifest([layer({}, t)]), blobs(t), IMAGE, publicKey, 'k.pub');
      },
      /does not verify with k\.pub/,
    ],
    [
      'no annotation',
      () => verifyCosignSignature(manifest([layer({ annotations: {} })]), blobs(payload), IMAGE, publicKey, 'k.pub'),
      /no dev\.cosignproject\.cosign\/signature annotation/,
    ],
    [
      'a missing payload',
      () => verifyCosignSignature(manifest([layer()]), blobs(), IMAGE, publicKey, 'k.pub'),
      /payload sha256:[a-f0-9]{64} is missing/,
    ],
    ['no layers', () => verifyCosignSignature(manifest([]), blobs(), IMAGE, publicKey, 'k.pub'), /no layers/],
  ])('refuses %s, naming why (SIGNATURE_INVALID)', (_what, fn, message) => {
    expect(fn).toThrow(message);
    try {
      fn();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SIGNATURE_INVALID');
    }
  });
});
