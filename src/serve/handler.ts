import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ImageStore } from '../artifact-store/index.js';
import { isKkoError } from '../errors.js';
import type { Reference } from '../reference/index.js';
import type { Htpasswd } from './auth.js';
import type { ServedNames } from './names.js';
import { parseRange, type ByteRange } from './range.js';

// The read-only half of the OCI distribution spec (distribution-spec "Pull" and "Content discovery") over an
// image store (an artifact file or an imported directory). Nothing here touches the file system by a name from the request: names, tags and digests are
// matched against the store's tables, so a path like ../../etc/passwd is just an unknown name.

export type HandlerDeps = { store: ImageStore; names: ServedNames; auth?: Htpasswd; log?: (line: string) => void };

type ErrorCode =
  | 'NAME_UNKNOWN'
  | 'NAME_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'TAG_INVALID'
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'UNSUPPORTED'
  | 'UNAUTHORIZED'
  | 'PAGINATION_NUMBER_INVALID'
  | 'RANGE_INVALID';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const PAGE_MAX = 10_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const notFound = (code: ErrorCode, what: string): HttpError => new HttpError(404, code, `${what} not found`);

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  head = false,
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length), ...headers });
  res.end(head ? undefined : bytes);
}

function sendError(res: ServerResponse, err: HttpError, head: boolean): void {
  sendJson(res, err.status, { errors: [{ code: err.code, message: err.message }] }, err.headers, head);
}

// "/v2/<name>/<kind>/<rest>" with every name component valid; a name with '..', '%' or an empty part is invalid.
function route(path: string): { name: string; kind: 'manifests' | 'blobs' | 'tags'; rest: string } | undefined {
  const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\/([^/]+(?:\/[^/]*)?)$/.exec(path);
  if (!m) return undefined;
  return { name: m[1] as string, kind: m[2] as 'manifests' | 'blobs' | 'tags', rest: m[3] as string };
}

function checkName(name: string): void {
  const parts = name.split('/');
  // A leading host part (docker.io/…) may carry a port or dots; the rest must be repository components.
  const [first, ...others] = parts;
  const hostOk = parts.length > 1 && /^[a-z0-9.-]+(?::\d{1,5})?$/.test(first ?? '');
  if (!(hostOk || COMPONENT.test(first ?? '')) || !others.every((p) => COMPONENT.test(p)) || name.length > 255)
    throw new HttpError(400, 'NAME_INVALID', 'invalid repository name');
}

// n and last of a list request (distribution-spec "Listing Tags", "_catalog"), and the Link to the next page.
function page(items: readonly string[], url: URL): { items: string[]; link?: string } {
  const nRaw = url.searchParams.get('n');
  const n = nRaw === null ? undefined : Number(nRaw);
  if (n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= PAGE_MAX))
    throw new HttpError(400, 'PAGINATION_NUMBER_INVALID', `n must be a whole number from 0 to ${PAGE_MAX}`);
  const last = url.searchParams.get('last');
  const from = last === null ? items : items.filter((t) => t > last);
  const out = n === undefined ? [...from] : from.slice(0, n);
  if (n === undefined || from.length <= n || out.length === 0) return { items: out };
  const next = new URLSearchParams({
    ...(url.searchParams.get('ns') ? { ns: url.searchParams.get('ns') as string } : {}),
    n: String(n),
    last: out[out.length - 1] as string,
  });
  return { items: out, link: `<${url.pathname}?${next.toString()}>; rel="next"` };
}

export class DistributionHandler {
  constructor(readonly deps: HandlerDeps) {}

  // One request; never throws (a failure after the headers went out destroys the response).
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const head = req.method === 'HEAD';
    try {
      await this.#dispatch(req, res, head);
    } catch (err) {
      if (!res.headersSent) {
        const e = err instanceof HttpError ? err : internal(err);
        sendError(res, e, head);
      } else res.destroy();
    } finally {
      this.#log(req, res, started);
    }
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, head: boolean): Promise<void> {
    const raw = req.url ?? '/';
    if (!raw.startsWith('/') || raw.includes('%') || raw.includes('\\'))
      throw new HttpError(400, 'NAME_INVALID', 'unsupported characters in the request path');
    const url = new URL(raw, 'http://serve.invalid');
    if (this.deps.auth && !(await this.deps.auth.check(req.headers.authorization))) {
      throw new HttpError(401, 'UNAUTHORIZED', 'authentication required', {
        'WWW-Authenticate': 'Basic realm="kko artifact serve"',
      });
    }
    if (req.method !== 'GET' && !head)
      throw new HttpError(405, 'UNSUPPORTED', 'this registry is read-only (kko artifact serve)', {
        Allow: 'GET, HEAD',
      });
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (url.pathname === '/v2/' || url.pathname === '/v2') return sendJson(res, 200, {}, {}, head);
    if (url.pathname === '/v2/_catalog') {
      const p = page(this.deps.names.catalog(), url);
      return sendJson(res, 200, { repositories: p.items }, p.link ? { Link: p.link } : {}, head);
    }
    const r = route(url.pathname);
    if (!r) throw new HttpError(404, 'NAME_UNKNOWN', 'no such endpoint');
    checkName(r.name);
    const ref = this.deps.names.resolve(r.name, url.searchParams.get('ns') ?? undefined);
    if (r.kind === 'blobs' && r.rest.startsWith('uploads'))
      throw new HttpError(405, 'UNSUPPORTED', 'this registry is read-only (kko artifact serve)', {
        Allow: 'GET, HEAD',
      });
    if (!ref) throw notFound('NAME_UNKNOWN', `repository ${r.name}`);
    if (r.kind === 'tags') {
      if (r.rest !== 'list') throw new HttpError(404, 'NAME_UNKNOWN', 'no such endpoint');
      const p = page(await this.deps.store.listTags(ref), url);
      return sendJson(res, 200, { name: r.name, tags: p.items }, p.link ? { Link: p.link } : {}, head);
    }
    if (r.kind === 'manifests') return this.#manifest(ref, r.rest, res, head);
    return this.#blob(ref, r.rest, req, res, head);
  }

  async #manifest(repo: Reference, reference: string, res: ServerResponse, head: boolean): Promise<void> {
    const byDigest = reference.startsWith('sha256:');
    if (byDigest ? !DIGEST.test(reference) : !TAG.test(reference))
      throw new HttpError(400, byDigest ? 'DIGEST_INVALID' : 'TAG_INVALID', `invalid ${byDigest ? 'digest' : 'tag'}`);
    const ref: Reference = { ...repo, ...(byDigest ? { digest: reference } : { tag: reference }) };
    const m = await this.deps.store.headManifest(ref);
    if (!m) throw notFound('MANIFEST_UNKNOWN', 'manifest');
    const content = head ? undefined : await this.deps.store.getManifest(ref);
    res.writeHead(200, {
      'Content-Type': m.mediaType,
      'Content-Length': String(m.size),
      'Docker-Content-Digest': m.digest,
      ETag: `"${m.digest}"`,
    });
    res.end(content?.bytes);
  }

  async #blob(
    repo: Reference,
    digest: string,
    req: IncomingMessage,
    res: ServerResponse,
    head: boolean,
  ): Promise<void> {
    if (!DIGEST.test(digest)) throw new HttpError(400, 'DIGEST_INVALID', 'invalid digest');
    const d = await this.deps.store.headBlob(repo, digest as never);
    if (!d) throw notFound('BLOB_UNKNOWN', 'blob');
    let range: ByteRange | undefined;
    try {
      range = parseRange(req.headers.range, d.size);
    } catch {
      throw new HttpError(416, 'RANGE_INVALID', 'requested range not satisfiable', {
        'Content-Range': `bytes */${d.size}`,
      });
    }
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': d.digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${d.digest}"`,
    };
    if (range) {
      res.writeHead(206, {
        ...headers,
        'Content-Length': String(range.end - range.start),
        'Content-Range': `bytes ${range.start}-${range.end - 1}/${d.size}`,
      });
    } else res.writeHead(200, { ...headers, 'Content-Length': String(d.size) });
    if (head || (range && range.end === range.start)) return void res.end();
    const body = await this.deps.store.getBlob(
      repo,
      d,
      range ? { offset: range.start, length: range.end - range.start } : {},
    );
    await pipeline(body, res);
  }

  #log(req: IncomingMessage, res: ServerResponse, started: number): void {
    const log = this.deps.log;
    if (!log) return;
    const done = (): void =>
      log(
        `${req.socket.remoteAddress ?? '-'} ${req.method ?? '-'} ${pathOnly(req.url)} ${res.statusCode} ${Date.now() - started}ms`,
      );
    if (res.writableFinished || res.destroyed) done();
    else res.once('close', done);
  }
}

// The path and query of a request line for the log, at most 300 characters (no credentials travel in a URL here:
// they come in the Authorization header, which is never logged).
function pathOnly(url: string | undefined): string {
  const u = url ?? '-';
  return u.length > 300 ? `${u.slice(0, 300)}…` : u;
}

function internal(err: unknown): HttpError {
  if (isKkoError(err)) {
    if (err.code === 'MANIFEST_UNKNOWN') return new HttpError(404, 'MANIFEST_UNKNOWN', 'manifest not found');
    if (err.code === 'BLOB_UNKNOWN') return new HttpError(404, 'BLOB_UNKNOWN', 'blob not found');
  }
  return Object.assign(new HttpError(500, 'UNSUPPORTED', 'internal error reading the artifact'), { cause: err });
}
