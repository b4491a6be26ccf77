// The names inside a KubeKey artifact (kubekey.md §3.7) and kko's own metadata: the one place they are spelled.
// Writers (export, sign) and readers (inspect, verify, import, the artifact store) all take them from here.

export const INDEX_NAME = 'images/index.json';
export const OCI_LAYOUT_NAME = 'images/oci-layout';
export const BLOBS_PREFIX = 'images/blobs/';
export const INVENTORY_NAME = 'kko/inventory.json';
export const MANIFEST_NAME = 'kko/manifest.json';
// #12: the cosign sign-blob signature of kko/inventory.json (see src/signing).
export const SIGNATURE_NAME = 'kko/inventory.json.sig';
// sha256sum -c compatible list of every other file (src/archive/checksums.ts).
export const SUMS_NAME = 'kko/SHA256SUMS';

// The ref-name annotation and the oci-layout file are image-layout facts: src/oci/layout.ts spells them.
export { REF_NAME_ANNOTATION, OCI_LAYOUT } from '../oci/index.js';

// images/blobs/sha256/<hex> for a sha256 digest.
export function blobPath(digest: string): string {
  return `${BLOBS_PREFIX}${digest.replace(':', '/')}`;
}

// The hex of a well-formed blob path, else undefined.
export function blobHex(name: string): string | undefined {
  return /^images\/blobs\/sha256\/([a-f0-9]{64})$/.exec(name)?.[1];
}

// Entries the archive writer stores instead of deflating again: files whose names say they are compressed (and ISOs,
// whose packages are), and layers whose media type is gzip or zstd (OCI "+gzip"/"+zstd", Docker ".tar.gzip").
export const ALREADY_COMPRESSED = /\.(tgz|tar\.gz|gz|zst|xz|iso)$/;
export const COMPRESSED_MEDIA_TYPE = /[+.](gzip|zstd)$/;

// kk names each image×arch "<ref>-<arch>" (with "/" of arm/v7 turned into "-").
export function layoutRefName(ref: string, arch: string): string {
  return `${ref}-${arch.replace('/', '-')}`;
}
