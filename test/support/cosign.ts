import { sign, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { MediaType } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  signatureTag,
  SIMPLE_SIGNING_MEDIA_TYPE,
  simpleSigningPayload,
} from '../../src/signing/index.js';

// Cosign-format image signatures made in the tests with node:crypto, in cosign's exact tag layout (cosign
// specs/SIGNATURE_SPEC.md; pkg/oci/static, pkg/oci/remote): at tag sha256-<hex>.sig of the same repository an OCI image
// manifest whose config is cosign's empty-ish OCI config and whose one layer is the simple-signing payload, annotated
// with the base64 DER ECDSA P-256 signature over SHA-256 of the payload.

export type CosignFixture = {
  readonly tag: string;
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  readonly payload: Buffer;
  readonly signature: string;
};

export type CosignOptions = {
  signedDigest?: string; // the digest the payload names (default: the image's): a signature made for another image
  payload?: Buffer; // the payload stored, when it differs from the one signed (tampered)
};

// Sign `digest` of `repo` with `key` and push the signature where cosign puts it; returns what was pushed.
export async function pushCosignSignature(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  key: KeyObject,
  opts: CosignOptions = {},
): Promise<CosignFixture> {
  const signedPayload = simpleSigningPayload(`${client.registry}/${repo}`, opts.signedDigest ?? digest);
  const signature = sign('sha256', signedPayload, { key, dsaEncoding: 'der' }).toString('base64');
  const payload = opts.payload ?? signedPayload;
  const payloadDigest = sha256Digest(payload);
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [payloadDigest] },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, size: config.length, digest: sha256Digest(config) },
      layers: [
        {
          mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
          size: payload.length,
          digest: payloadDigest,
          annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature },
        },
      ],
    }),
  );
  for (const b of [config, payload]) await client.putBlob(repo, sha256Digest(b), b.length, Readable.from([b]));
  const tag = signatureTag(digest);
  const manifestDigest = await client.putManifest(repo, tag, manifest, MediaType.OCI_MANIFEST);
  return { tag, manifest, manifestDigest, payload, signature };
}
