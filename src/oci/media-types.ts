// Media types of the OCI image-spec and of Docker's image manifest v2 schema 2, the only formats kko reads.

export const MediaType = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar',
  OCI_LAYER_GZIP: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OCI_LAYER_ZSTD: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
  DOCKER_LAYER_GZIP: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DOCKER_FOREIGN_LAYER_GZIP: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

// Every manifest type we handle, indexes first. distribution 2.8.2 needs all of them on GET and HEAD:
// without the OCI index type an OCI index is 404 MANIFEST_UNKNOWN, without the Docker list type a
// Docker list is down-converted to schema1 or to the amd64 child (measured, tooling.md §2).
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OCI_INDEX,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST_LIST,
  MediaType.DOCKER_MANIFEST,
];

// The Accept header value sent on every manifest request.
export const MANIFEST_ACCEPT: string = MANIFEST_MEDIA_TYPES.join(', ');

// True for an OCI index or a Docker manifest list.
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_MANIFEST_LIST;
}

// True for an OCI image manifest or a Docker v2s2 image manifest.
export function isImageManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OCI_MANIFEST || mediaType === MediaType.DOCKER_MANIFEST;
}

// Strip parameters and case from a Content-Type header ("application/json; charset=utf-8" -> "application/json").
export function normalizeMediaType(contentType: string | null | undefined): string | undefined {
  if (!contentType) return undefined;
  const base = contentType.split(';')[0]?.trim().toLowerCase();
  return base ? base : undefined;
}
