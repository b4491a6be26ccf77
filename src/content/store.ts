import type { Readable } from 'node:stream';
import type { Descriptor, Platform } from '../oci/index.js';
import type { Digest, Reference } from '../reference/index.js';

// The seams every "place images live" implements (regclient's scheme.API, ggcr's remote/layout pair): a registry
// repository, an OCI-layout directory, a kko or kk artifact (read-only), the archive writer (write-only).
// Every method takes the one Reference type; a store ignores the parts it has no use for (a layout has no registry
// host, but keeps the full name as its ref-name annotation). A tag or a digest in the Reference picks the manifest.

// One manifest exactly as stored: its bytes, the media type it is stored as, and the digest computed over the bytes.
export type ManifestContent = { readonly bytes: Buffer; readonly mediaType: string; readonly digest: Digest };

export type StoreOptions = { readonly signal?: AbortSignal };

// onBytes: the length of each chunk putBlob reads from its body, for a target that says it counts (countsBytes).
export type PutBlobOptions = StoreOptions & { readonly onBytes?: (n: number) => void };

// offset > 0 reads from there on (Range), `length` bytes of it when given (a closed Range; stores that cannot end early
// ignore it); verify: false when the caller hashes the stream itself (export's cache).
export type BlobReadOptions = StoreOptions & {
  readonly offset?: number;
  readonly length?: number;
  readonly verify?: boolean;
};

// A body for putBlob that can be opened again: a retry or a resumed upload reopens it at an offset. `length`: only
// that many bytes are wanted (a ranged part, see BlobReadOptions); an opener that cannot end early ignores it.
export type BlobOpener = (offset: number, length?: number) => Promise<Readable>;

export interface ContentSource {
  // For messages: "registry 127.0.0.1:5000", "OCI layout ./images", "artifact kubekey-artifact.tar.gz".
  readonly description: string;
  // The descriptor a tag or digest resolves to (a claim where the store only reports it), or undefined when absent.
  headManifest(ref: Reference, opts?: StoreOptions): Promise<Descriptor | undefined>;
  // The manifest bytes, digest-checked: a by-digest read must hash to that digest.
  getManifest(ref: Reference, opts?: StoreOptions): Promise<ManifestContent>;
  // A blob of ref's repository: its descriptor, or undefined when absent.
  headBlob(ref: Reference, digest: Digest, opts?: StoreOptions): Promise<Descriptor | undefined>;
  // A stream of the blob, failing with DIGEST_MISMATCH at the end when the bytes do not hash to desc.digest.
  getBlob(ref: Reference, desc: Descriptor, opts?: BlobReadOptions): Promise<Readable>;
  // Every tag of ref's repository.
  listTags(ref: Reference, opts?: StoreOptions): Promise<string[]>;
}

export interface ContentTarget {
  readonly description: string;
  headBlob(ref: Reference, digest: Digest, opts?: StoreOptions): Promise<Descriptor | undefined>;
  headManifest(ref: Reference, opts?: StoreOptions): Promise<Descriptor | undefined>;
  // Store a blob under ref's repository; the target verifies desc.digest and desc.size before it keeps the bytes.
  putBlob(ref: Reference, desc: Descriptor, body: BlobOpener, opts?: PutBlobOptions): Promise<void>;
  // true: putBlob calls opts.onBytes with every chunk it reads from its body (the export's cache), so copyImage counts
  // the bytes sent with that instead of a counting stream in front of the body (#10: one stream hop less per chunk).
  readonly countsBytes?: boolean;
  // Cross-repository mount where the target can; false when it declined (then putBlob).
  mountBlob?(ref: Reference, digest: Digest, from: Reference, opts?: StoreOptions): Promise<boolean>;
  // Store a manifest under ref's tag (or its digest when ref has none); returns the digest of exactly these bytes.
  putManifest(ref: Reference, manifest: ManifestContent, opts?: StoreOptions): Promise<Digest>;
}

export interface ContentStore extends ContentSource, ContentTarget {}

// What copyImage reports as it goes: one event per blob and manifest, in the order they finish.
export type CopyEvent =
  | { readonly kind: 'blob-present'; readonly digest: Digest; readonly size: number }
  | { readonly kind: 'blob-mounted'; readonly digest: Digest; readonly size: number }
  | { readonly kind: 'blob-copied'; readonly digest: Digest; readonly size: number }
  | { readonly kind: 'blob-bytes'; readonly digest: Digest; readonly bytes: number }
  | { readonly kind: 'manifest-put'; readonly digest: Digest; readonly ref: Reference }
  // CopyOptions.skipTagged: the target's tag already held this digest, so nothing was put (blobs: blob-present).
  | { readonly kind: 'manifest-present'; readonly digest: Digest; readonly ref: Reference };

export type CopyOptions = StoreOptions & {
  // Children of an index to copy; all when unset. The index itself is copied only when every child is.
  readonly platforms?: readonly Platform[];
  readonly concurrency?: number; // blobs in flight per image
  // false: read source blobs with verify: false, for a target that hashes every byte itself before it keeps them
  // (the export cache), so a corrupt source is reported once, by the target. Default true: both ends check.
  readonly verifySource?: boolean;
  readonly onEvent?: (e: CopyEvent) => void;
  // Another repository of dst's registry known to hold a blob (sync: one an earlier image of the run sent there):
  // it is mounted from there instead of sent again. Without it only src's repository is tried, on src's registry.
  readonly mountFrom?: (digest: Digest) => Reference | undefined;
  // true: first HEAD dstRef's tag; when the target says it already resolves to exactly the digest that would be put,
  // copy nothing (no blob HEADs, no uploads, no manifest PUT). Only a digest match counts: the target accepted those
  // exact manifest bytes before, and a registry that checks references on a manifest PUT (distribution, Harbor,
  // zot…) then held every blob. A registry that accepts manifests without their blobs is not re-checked this way.
  readonly skipTagged?: boolean;
};
