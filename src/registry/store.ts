import type { Readable } from 'node:stream';
import type { BlobOpener, BlobReadOptions, ContentStore, ManifestContent, StoreOptions } from '../content/index.js';
import { KkoError } from '../errors.js';
import type { Descriptor } from '../oci/index.js';
import { formatReference, parseDigest, type Digest, type Reference } from '../reference/index.js';
import { retryable } from '../util/net-errors.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { abortableSleep, backoffDelay } from './retry.js';

export type RegistryStoreOptions = {
  // The settings of one registry host: credentials, TLS (certsPath, skipTLSVerify), plainHTTP, concurrency, retries.
  readonly hostOptions?: (registry: string) => RegistryClientOptions;
  // Whole re-uploads of a streamed blob after a transient failure (the transport cannot replay a stream); default 3.
  readonly uploadAttempts?: number;
  // Blobs larger than this go up in PATCH chunks of this size, and a failed send resumes at the upload session's
  // Range instead of starting again (upload.ts putBlobResumable); default 32 MiB.
  readonly chunkSize?: number;
};

export const SMALL_BLOB_BYTES = 1024 * 1024;

// The manifest a Reference picks: its digest, else its tag, else "latest" (docker's default).
export function manifestKey(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

// Registries as a ContentStore: each Reference's registry host is served by one RegistryClient, built on first use
// from that host's settings and shared by every repository of the host.
export class RegistryStore implements ContentStore {
  readonly description: string;
  readonly #clients = new Map<string, RegistryClient>();
  readonly #hostOptions: (registry: string) => RegistryClientOptions;
  readonly #uploadAttempts: number;
  readonly #chunkSize: number;

  constructor(opts: RegistryStoreOptions & { description?: string } = {}) {
    this.#hostOptions = opts.hostOptions ?? (() => ({}));
    this.#uploadAttempts = Math.max(1, opts.uploadAttempts ?? 3);
    this.#chunkSize = Math.max(1, opts.chunkSize ?? 32 * 1024 * 1024);
    this.description = opts.description ?? 'registries';
  }

  // A store over clients that already exist (one per host); other hosts get clients from opts.hostOptions.
  static of(clients: readonly RegistryClient[], opts: RegistryStoreOptions = {}): RegistryStore {
    const store = new RegistryStore({ description: `registry ${clients.map((c) => c.registry).join(', ')}`, ...opts });
    for (const c of clients) store.#clients.set(c.registry, c);
    return store;
  }

  // The client of a registry host.
  client(registry: string): RegistryClient {
    let c = this.#clients.get(registry);
    if (!c) {
      c = new RegistryClient(registry, this.#hostOptions(registry));
      this.#clients.set(registry, c);
    }
    return c;
  }

  headManifest(ref: Reference, opts: StoreOptions = {}): Promise<Descriptor | undefined> {
    return this.client(ref.registry).headManifest(ref.repository, manifestKey(ref), opts.signal);
  }

  getManifest(ref: Reference, opts: StoreOptions = {}): Promise<ManifestContent> {
    return this.client(ref.registry).getManifest(ref.repository, manifestKey(ref), opts.signal);
  }

  headBlob(ref: Reference, digest: Digest, opts: StoreOptions = {}): Promise<Descriptor | undefined> {
    return this.client(ref.registry).headBlob(ref.repository, digest, opts.signal);
  }

  // A blob of at most SMALL_BLOB_BYTES (a config, a tiny layer) goes on the transport's small slots, so it never
  // waits for a slot that a large body holds.
  getBlob(ref: Reference, desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    const small = desc.size >= 0 && desc.size <= SMALL_BLOB_BYTES;
    return this.client(ref.registry).getBlob(ref.repository, parseDigest(desc.digest), { ...opts, small });
  }

  listTags(ref: Reference, opts: StoreOptions = {}): Promise<string[]> {
    return this.client(ref.registry).listTags(ref.repository, opts.signal ? { signal: opts.signal } : {});
  }

  // Monolithic upload; the registry hashes what it receives against ?digest= and refuses a mismatch (DIGEST_INVALID),
  // so nothing wrong is ever kept. A transient failure re-opens the body from 0 and uploads again.
  async putBlob(ref: Reference, desc: Descriptor, body: BlobOpener, opts: StoreOptions = {}): Promise<void> {
    const client = this.client(ref.registry);
    const digest = parseDigest(desc.digest);
    if (desc.size > this.#chunkSize) {
      const delayMs = (n: number): number =>
        backoffDelay(n - 1, { baseDelayMs: 250, maxDelayMs: 4_000, random: Math.random });
      return client.putBlobResumable(ref.repository, digest, desc.size, body, {
        attempts: this.#uploadAttempts + 1,
        chunkSize: this.#chunkSize,
        retryable,
        delayMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    }
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      const stream = await body(0);
      try {
        await client.putBlob(ref.repository, digest, desc.size, stream, opts.signal);
        return;
      } catch (err) {
        stream.destroy();
        opts.signal?.throwIfAborted();
        if (attempt >= this.#uploadAttempts || !retryable(err)) throw err;
        await abortableSleep(
          backoffDelay(attempt - 1, { baseDelayMs: 250, maxDelayMs: 4_000, random: Math.random }),
          opts.signal,
        );
      }
    }
  }

  // Cross-repository mount on one registry; false when `from` is on another host or the same repository.
  async mountBlob(ref: Reference, digest: Digest, from: Reference, opts: StoreOptions = {}): Promise<boolean> {
    if (from.registry !== ref.registry || from.repository === ref.repository) return false;
    return this.client(ref.registry).mountBlob(ref.repository, digest, from.repository, opts.signal);
  }

  // Under ref's tag, else by digest; a digest in ref must be the bytes' own.
  async putManifest(ref: Reference, manifest: ManifestContent, opts: StoreOptions = {}): Promise<Digest> {
    const what = `pushing manifest ${formatReference(ref)}`;
    if (ref.digest !== undefined && ref.digest !== manifest.digest)
      throw new KkoError('DIGEST_MISMATCH', `${what}: the manifest is ${manifest.digest}`);
    const key = ref.tag ?? manifest.digest;
    return this.client(ref.registry).putManifest(ref.repository, key, manifest.bytes, manifest.mediaType, opts.signal);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((c) => c.close()));
    this.#clients.clear();
  }
}
