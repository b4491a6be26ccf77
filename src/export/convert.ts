import { MediaType } from '../oci/index.js';
import { sha256Digest, type Digest } from '../reference/index.js';

const LAYER_TYPES: Record<string, string> = {
  [MediaType.DOCKER_LAYER_GZIP]: MediaType.OCI_LAYER_GZIP,
  [MediaType.DOCKER_FOREIGN_LAYER_GZIP]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.OCI_LAYER,
};

type Json = Record<string, unknown>;

// containers/image's OCI layout reader (what kk and skopeo use) does not see Docker media types in
// index.json, so a Docker v2s2 manifest is rewritten with OCI media types. Config and layer blobs stay
// byte-identical; only the manifest JSON (and so its digest) changes. OCI manifests pass through untouched.
export function toOciManifest(bytes: Buffer, mediaType: string): { bytes: Buffer; digest: Digest; converted: boolean } {
  if (mediaType !== MediaType.DOCKER_MANIFEST) return { bytes, digest: sha256Digest(bytes), converted: false };
  const m = JSON.parse(bytes.toString('utf8')) as Json;
  const config = { ...(m.config as Json), mediaType: MediaType.OCI_CONFIG };
  const layers = (m.layers as Json[]).map((l) => ({
    ...l,
    mediaType: LAYER_TYPES[String(l.mediaType)] ?? l.mediaType,
  }));
  const out: Json = { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers };
  if (m.annotations) out.annotations = m.annotations;
  const converted = Buffer.from(JSON.stringify(out));
  return { bytes: converted, digest: sha256Digest(converted), converted: true };
}
