import type { KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaType, type Descriptor } from '../../src/oci/index.js';
import { sha256Digest, type Digest } from '../../src/reference/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import { pushIndex, type buildMultiArch } from './builders.js';
import { pushCosignSignature } from './cosign.js';
import { run } from './exec.js';

// #12 item 2 (--with-referrers): referrers made in the tests in the layouts the OCI spec and cosign use, pushed to the
// real distribution registry. 2.8 has no referrers API, so a listing is the referrers tag schema's index at tag
// sha256-<hex> of the subject, written here as any client without the API writes it.

export const SPDX = 'application/spdx+json';

// What seedReferrers put beside the image: a cosign .sig (signed with `key`), a cosign .att (DSSE layer) and, listed
// in the referrers tag schema index sha256-<hex>, an SBOM artifact manifest (subject = the image, empty config,
// artifactType SPDX).
export type SeededReferrers = { subject: Digest; sig: Digest; att: Digest; sbom: Digest; sbomBytes: Buffer };

export type PushedReferrer = { readonly digest: Digest; readonly bytes: Buffer; readonly descriptor: Descriptor };

// A JSON document as a blob of `repo`.
export async function putJsonBlob(
  c: RegistryClient,
  repo: string,
  doc: unknown,
): Promise<{ digest: Digest; size: number }> {
  const b = Buffer.from(JSON.stringify(doc));
  const digest = sha256Digest(b);
  await c.putBlob(repo, digest, b.length, Readable.from([b]));
  return { digest, size: b.length };
}

// An SPDX artifact manifest (empty config, an SPDX layer, artifactType set) whose subject is `subject`, pushed by
// digest; `name` makes the layer (and so the manifest) distinct; `layers` lists that layer so many times.
export async function pushSbom(
  c: RegistryClient,
  repo: string,
  subject: Descriptor,
  name: string,
  opts: { annotations?: Record<string, string>; layers?: number } = {},
): Promise<PushedReferrer> {
  const annotations = opts.annotations ?? { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' };
  const empty = await putJsonBlob(c, repo, {});
  const spdx = await putJsonBlob(c, repo, { spdxVersion: 'SPDX-2.3', name });
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: SPDX,
      config: { mediaType: MediaType.OCI_EMPTY, ...empty },
      layers: Array.from({ length: opts.layers ?? 1 }, () => ({ mediaType: SPDX, ...spdx })),
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
  const digest = await c.putManifest(repo, sha256Digest(bytes), bytes, MediaType.OCI_MANIFEST);
  const descriptor = { mediaType: MediaType.OCI_MANIFEST, digest, size: bytes.length, artifactType: SPDX, annotations };
  return { digest, bytes, descriptor };
}

// The referrers tag schema index of `subject` (tag sha256-<hex>) listing `entries` as given.
export async function pushReferrersIndex(
  c: RegistryClient,
  repo: string,
  subject: Digest,
  entries: readonly Descriptor[],
): Promise<void> {
  const index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: entries };
  await c.putManifest(repo, subject.replace(':', '-'), Buffer.from(JSON.stringify(index)), MediaType.OCI_INDEX);
}

export type ReferrerInventoryRow = {
  ref: string;
  subject: string;
  digest: string;
  found: string;
  tag?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
};

// The artifact unpacked into `into`; its inventory.
export async function unpackInventory(art: string, into: string): Promise<{ referrers?: ReferrerInventoryRow[] }> {
  await mkdir(into, { recursive: true });
  await run('tar', ['xzf', art, '-C', into]);
  return JSON.parse(await readFile(join(into, 'kko/inventory.json'), 'utf8')) as { referrers?: ReferrerInventoryRow[] };
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
  const envelope = await putJsonBlob(c, repo, {
    payloadType: 'application/vnd.in-toto+json',
    payload: 'e30=',
    signatures: [],
  });
  const cfg = await putJsonBlob(c, repo, {
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
  const sbom = await pushSbom(c, repo, img.manifest.descriptor, repo);
  await pushReferrersIndex(c, repo, subject, [sbom.descriptor]);
  return { subject, sig, att, sbom: sbom.digest, sbomBytes: sbom.bytes };
}
