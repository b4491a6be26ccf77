import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { MediaType } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import { pushIndex, type buildMultiArch } from './builders.js';
import { pushCosignSignature } from './cosign.js';

export const SPDX = 'application/spdx+json';

// What seedReferrers put beside the image: a cosign .sig (signed with `key`), a cosign .att (DSSE layer) and, listed
// in the referrers tag schema index sha256-<hex>, an SBOM artifact manifest (subject = the image, empty config,
// artifactType SPDX).
export type SeededReferrers = { subject: Digest; sig: Digest; att: Digest; sbom: Digest; sbomBytes: Buffer };

async function putJson(c: RegistryClient, repo: string, doc: unknown): Promise<{ digest: Digest; size: number }> {
  const b = Buffer.from(JSON.stringify(doc));
  const digest = sha256Digest(b);
  await c.putBlob(repo, digest, b.length, Readable.from([b]));
  return { digest, size: b.length };
}

// The image `img` at `repo:tag` with its three referrers, as upstream registries hold them.
export async function seedReferrers(
  c: RegistryClient,
  repo: string,
  img: ReturnType<typeof buildMultiArch>,
  key: KeyObject,
  tag = '1',
): Promise<SeededReferrers> {
  const subject = img.manifest.descriptor.digest;
  const hex = subject.slice(7);
  await pushIndex(c, repo, tag, img);
  const sig = (await pushCosignSignature(c, repo, subject, key)).manifestDigest;
  const envelope = await putJson(c, repo, {
    payloadType: 'application/vnd.in-toto+json',
    payload: 'e30=',
    signatures: [],
  });
  const cfg = await putJson(c, repo, {
    architecture: '',
    os: '',
    rootfs: { type: 'layers', diff_ids: [] },
    config: {},
  });
  const attManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, ...cfg },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', ...envelope }],
    }),
  );
  const att = await c.putManifest(repo, `sha256-${hex}.att`, attManifest, MediaType.OCI_MANIFEST);
  const empty = await putJson(c, repo, {});
  const spdx = await putJson(c, repo, { spdxVersion: 'SPDX-2.3', name: repo });
  const sbomBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: SPDX,
      config: { mediaType: MediaType.OCI_EMPTY, ...empty },
      layers: [{ mediaType: SPDX, ...spdx }],
      subject: { mediaType: img.manifest.descriptor.mediaType, digest: subject, size: img.manifest.descriptor.size },
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    }),
  );
  const sbom = await c.putManifest(repo, sha256Digest(sbomBytes), sbomBytes, MediaType.OCI_MANIFEST);
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [
      {
        mediaType: MediaType.OCI_MANIFEST,
        digest: sbom,
        size: sbomBytes.length,
        artifactType: SPDX,
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      },
    ],
  };
  await c.putManifest(repo, `sha256-${hex}`, Buffer.from(JSON.stringify(index)), MediaType.OCI_INDEX);
  return { subject, sig, att, sbom, sbomBytes };
}
