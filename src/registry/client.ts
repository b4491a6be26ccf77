import type { Readable } from 'node:stream';
import {
  MANIFEST_ACCEPT,
  isImageManifestMediaType,
  isIndexMediaType,
  normalizeMediaType,
  type Descriptor,
} from '../oci/index.js';
import { parseDigest, sha256Digest, type Digest } from '../reference/index.js';
import { rangedBody } from './blob-stream.js';
import { readErrorText, readLimited } from './body.js';
import { redactUrl, RegistryError, statusError } from './errors.js';
import { discardBody, type HttpResponse } from './http.js';
import { repoScope, RegistrySession, type SessionOptions } from './session.js';
import { mountBlob, putBlob, putBlobResumable, type ResumableUploadOptions } from './upload.js';

export type RegistryClientOptions = SessionOptions & {
  // Manifests larger than this are refused (regclient's manifestMaxPull idea); default 4 MiB.
  maxManifestBytes?: number;
};

// Bytes exactly as served, the media type they were served as, and the digest we computed over them.
export type ManifestResponse = { readonly bytes: Buffer; readonly mediaType: string; readonly digest: Digest };

// length: a closed Range (bytes=offset-(offset+length-1)), a part of a multi-connection fetch.
// small: a blob known to be small (a config): it goes on the transport's small slots, never behind bulk bodies.
export type BlobReadOptions = {
  offset?: number;
  length?: number;
  verify?: boolean;
  signal?: AbortSignal;
  small?: boolean;
};

const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_TAG_PAGE = 4 * 1024 * 1024;
const MAX_TAG_PAGES = 10_000;

// A manifest reference that is a digest; a malformed one fails here (INVALID_DIGEST), not at the registry.
function isDigest(ref: string): boolean {
  if (!ref.includes(':')) return false;
  parseDigest(ref);
  return true;
}

// The media type a manifest was served as: Content-Type when it names a manifest type, else the body's own field.
function servedMediaType(res: HttpResponse, bytes: Buffer): string {
  const ct = normalizeMediaType(res.headers.get('content-type'));
  if (isIndexMediaType(ct) || isImageManifestMediaType(ct)) return ct as string;
  try {
    const field = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof field === 'string') return field;
  } catch {
    // Not JSON: parseManifestJson will say so; report what the server claimed.
  }
  return ct ?? 'application/octet-stream';
}

// "Link: </v2/x/tags/list?last=a&n=2>; rel="next"" → the next page's target.
function nextLink(header: string | null): string | undefined {
  const m = header ? /<([^>]+)>\s*;\s*rel="?next"?/i.exec(header) : null;
  return m?.[1];
}

// A client for one registry host, speaking the distribution-spec verbs.
export class RegistryClient {
  readonly registry: string;
  readonly #session: RegistrySession;
  readonly #maxManifestBytes: number;

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.#session = new RegistrySession(registry, opts);
    this.#maxManifestBytes = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
  }

  // GET /v2/: reachable, speaks the API, and our credentials (if any are needed) are accepted.
  async ping(signal?: AbortSignal): Promise<void> {
    const what = `pinging registry ${this.registry}`;
    const res = await this.#session.send({
      method: 'GET',
      target: '/v2/',
      what,
      scopes: [],
      ...(signal ? { signal } : {}),
    });
    if (res.status !== 200)
      throw statusError(what, 'GET', res.url, res.status, await readErrorText(res), 'REGISTRY_ERROR');
    await discardBody(res);
  }

  // HEAD a manifest: its descriptor as the registry reports it (a claim, not verified), or undefined when absent.
  async headManifest(repo: string, ref: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const what = `checking manifest ${this.registry}/${repo}:${ref}`;
    const res = await this.#manifestRequest('HEAD', repo, ref, what, signal);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw statusError(what, 'HEAD', res.url, res.status, '', 'MANIFEST_UNKNOWN');
    const claimed = res.headers.get('docker-content-digest') ?? (isDigest(ref) ? ref : undefined);
    const size = Number(res.headers.get('content-length'));
    if (!claimed || !Number.isSafeInteger(size)) {
      throw new RegistryError(
        'REGISTRY_ERROR',
        `${what}: HEAD ${redactUrl(res.url)}: no Docker-Content-Digest or Content-Length`,
        { method: 'HEAD', url: res.url },
      );
    }
    return {
      mediaType: normalizeMediaType(res.headers.get('content-type')) ?? 'application/octet-stream',
      digest: parseDigest(claimed),
      size,
    };
  }

  // GET a manifest with the full Accept list; bounded, and digest-checked (by-digest pulls must match exactly).
  async getManifest(repo: string, ref: string, signal?: AbortSignal): Promise<ManifestResponse> {
    const what = `getting manifest ${this.registry}/${repo}${isDigest(ref) ? '@' : ':'}${ref}`;
    const res = await this.#manifestRequest('GET', repo, ref, what, signal);
    if (res.status !== 200)
      throw statusError(what, 'GET', res.url, res.status, await readErrorText(res), 'MANIFEST_UNKNOWN');
    const bytes = await readLimited(res, this.#maxManifestBytes, what);
    const digest = sha256Digest(bytes);
    // Docker-Content-Digest is only a claim; a by-digest pull SHOULD be verified (distribution-spec
    // "Pulling manifests"), and a claim that disagrees with the body means the body is not what was sent.
    const claimed = res.headers.get('docker-content-digest');
    const expected = isDigest(ref) ? ref : claimed?.startsWith('sha256:') ? claimed : undefined;
    if (expected !== undefined && expected !== digest) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${what}: GET ${redactUrl(res.url)}: body hashes to ${digest}, expected ${expected}`,
        {
          method: 'GET',
          url: res.url,
          retryable: true,
        },
      );
    }
    return { bytes, mediaType: servedMediaType(res, bytes), digest };
  }

  // GET /v2/<repo>/referrers/<digest> (OCI distribution 1.1, end-12): the index of the manifests whose subject is
  // `digest`, or undefined when the registry has no referrers API (404: the client falls back to the referrers tag
  // schema, tag sha256-<hex>). Bounded like a manifest; the body is parsed by the caller.
  async getReferrers(repo: string, digest: Digest, signal?: AbortSignal): Promise<ManifestResponse | undefined> {
    const what = `listing referrers ${this.registry}/${repo}@${digest}`;
    const res = await this.#session.send({
      method: 'GET',
      target: `/v2/${repo}/referrers/${digest}`,
      what,
      scopes: [repoScope(repo, 'pull')],
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      small: true,
      ...(signal ? { signal } : {}),
    });
    if (res.status === 404) {
      await discardBody(res);
      return undefined;
    }
    if (res.status !== 200)
      throw statusError(what, 'GET', res.url, res.status, await readErrorText(res), 'REGISTRY_ERROR');
    const bytes = await readLimited(res, this.#maxManifestBytes, what);
    return { bytes, mediaType: servedMediaType(res, bytes), digest: sha256Digest(bytes) };
  }

  #manifestRequest(
    method: 'GET' | 'HEAD',
    repo: string,
    ref: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    return this.#session.send({
      method,
      target: `/v2/${repo}/manifests/${ref}`,
      what,
      scopes: [repoScope(repo, 'pull')],
      headers: { accept: MANIFEST_ACCEPT },
      small: true,
      ...(signal ? { signal } : {}),
    });
  }

  // PUT a manifest under a tag or its digest; returns the digest of exactly these bytes.
  async putManifest(
    repo: string,
    ref: string,
    bytes: Buffer,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const what = `pushing manifest ${this.registry}/${repo}${isDigest(ref) ? '@' : ':'}${ref}`;
    if (isDigest(ref) && ref !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: the bytes hash to ${digest}`);
    }
    const url = this.#session.url(`/v2/${repo}/manifests/${ref}`);
    const res = await this.#session.send({
      method: 'PUT',
      target: url,
      what,
      scopes: [repoScope(repo, 'pull,push')],
      headers: { 'content-type': mediaType },
      body: bytes,
      ...(signal ? { signal } : {}),
    });
    if (res.status !== 201)
      throw statusError(what, 'PUT', url, res.status, await readErrorText(res), 'MANIFEST_UNKNOWN');
    await discardBody(res);
    return digest;
  }

  // HEAD a blob: its size, or undefined when the repository does not have it.
  async headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const what = `checking blob ${this.registry}/${repo}@${digest}`;
    const res = await this.#session.send({
      method: 'HEAD',
      target: `/v2/${repo}/blobs/${digest}`,
      what,
      scopes: [repoScope(repo, 'pull')],
      small: true,
      ...(signal ? { signal } : {}),
    });
    await discardBody(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw statusError(what, 'HEAD', res.url, res.status, '', 'BLOB_UNKNOWN');
    const size = Number(res.headers.get('content-length'));
    return { mediaType: 'application/octet-stream', digest, size: Number.isSafeInteger(size) ? size : -1 };
  }

  // A stream of the blob from `offset` (Range: bytes=N-), `length` bytes of it when given (bytes=N-M). Whole-blob reads
  // are digest-checked unless verify: false. A part (offset > 0 and a length) that the server answers with the whole
  // blob (200: it ignores Range) fails at once with RANGE_IGNORED, before its body is read; at offset 0 such an
  // answer is the whole blob, as the seam allows.
  async getBlob(repo: string, digest: Digest, opts: BlobReadOptions = {}): Promise<Readable> {
    const offset = opts.offset ?? 0;
    const length = opts.length;
    const what = `getting blob ${this.registry}/${repo}@${digest}`;
    const range =
      length !== undefined
        ? `bytes=${offset}-${offset + Math.max(1, length) - 1}`
        : offset > 0
          ? `bytes=${offset}-`
          : undefined;
    const res = await this.#session.send({
      method: 'GET',
      target: `/v2/${repo}/blobs/${digest}`,
      what,
      scopes: [repoScope(repo, 'pull')],
      ...(range !== undefined ? { headers: { range } } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.small ? { small: true } : { bulk: true }),
    });
    if (res.status !== 200 && res.status !== 206)
      throw statusError(what, 'GET', res.url, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
    if (res.status === 200 && length !== undefined && offset > 0) {
      await discardBody(res);
      throw new RegistryError(
        'RANGE_IGNORED',
        `${what}: GET ${redactUrl(res.url)}: asked for ${range}, the server sent the whole blob (200)`,
        { status: 200, method: 'GET', url: res.url },
      );
    }
    const whole = length === undefined || res.status === 200;
    return rangedBody(res, { offset, what, ...((opts.verify ?? true) && whole ? { digest } : {}) });
  }

  // Upload a blob (monolithic POST + streamed PUT). The stream is consumed once.
  async putBlob(
    repo: string,
    digest: Digest,
    size: number,
    body: Readable | Buffer,
    signal?: AbortSignal,
  ): Promise<void> {
    await putBlob(this.#session, repo, digest, size, body, signal);
  }

  // Upload a blob in PATCH chunks from a body that can be reopened at an offset; a failed send resumes where the
  // registry's upload session stands (GET its location), a lost session starts again.
  async putBlobResumable(
    repo: string,
    digest: Digest,
    size: number,
    open: (offset: number, length?: number) => Promise<Readable>,
    opts: ResumableUploadOptions = {},
  ): Promise<void> {
    await putBlobResumable(this.#session, repo, digest, size, open, opts);
  }

  // Cross-repository mount; false when the registry declined (then push the blob instead).
  async mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
    return mountBlob(this.#session, repo, digest, fromRepo, signal);
  }

  // Every tag of a repository, following Link pagination.
  async listTags(repo: string, opts: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const what = `listing tags of ${this.registry}/${repo}`;
    const tags: string[] = [];
    let target: string | undefined = `/v2/${repo}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`;
    for (let page = 0; target !== undefined && page < MAX_TAG_PAGES; page++) {
      const url = this.#session.url(target);
      const res = await this.#session.send({
        method: 'GET',
        target: url,
        what,
        scopes: [repoScope(repo, 'pull')],
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (res.status !== 200)
        throw statusError(what, 'GET', url, res.status, await readErrorText(res), 'MANIFEST_UNKNOWN');
      target = nextLink(res.headers.get('link'));
      const doc = JSON.parse((await readLimited(res, MAX_TAG_PAGE, what)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(doc.tags)) tags.push(...doc.tags.filter((t): t is string => typeof t === 'string'));
    }
    return tags;
  }

  // Release pooled connections.
  async close(): Promise<void> {
    await this.#session.close();
  }
}
