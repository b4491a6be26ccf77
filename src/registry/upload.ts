import { PassThrough, type Readable } from 'node:stream';
import type { Digest } from '../reference/index.js';
import { readErrorText } from './body.js';
import { redactUrl, RegistryError, statusError } from './errors.js';
import { discardBody } from './http.js';
import { abortableSleep } from './retry.js';
import { repoScope, type RegistrySession } from './session.js';

// The upload URL the registry handed out: relative or absolute, with its own query state kept verbatim.
function uploadLocation(location: string | null, from: URL, what: string): URL {
  if (!location)
    throw new RegistryError('REGISTRY_ERROR', `${what}: POST ${redactUrl(from)}: 202 without a Location header`, {
      method: 'POST',
      url: from,
    });
  return new URL(location, from);
}

// distribution-spec "Pushing a blob monolithically": POST opens a session, PUT <location>&digest= sends
// the whole body as one streamed request. The stream is sent once; on failure the caller re-opens it.
export async function putBlob(
  session: RegistrySession,
  repo: string,
  digest: Digest,
  size: number,
  body: Readable | Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const what = `pushing blob ${repo}@${digest}`;
  const scopes = [repoScope(repo, 'pull,push')];
  const put = (await openSession(session, repo, what, scopes, signal)).location;
  put.searchParams.append('digest', digest);
  const res = await session.send({
    method: 'PUT',
    target: put,
    what,
    scopes,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 201) throw statusError(what, 'PUT', put, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
  await discardBody(res);
}

// distribution-spec "Mounting a blob from another repository": 201 = mounted. A 202 means the registry
// opened an upload session instead; we cancel it and report false so the caller uploads normally.
export async function mountBlob(
  session: RegistrySession,
  repo: string,
  digest: Digest,
  fromRepo: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const what = `mounting blob ${digest} from ${fromRepo} into ${repo}`;
  const url = session.url(`/v2/${repo}/blobs/uploads/`);
  url.searchParams.set('mount', digest);
  url.searchParams.set('from', fromRepo);
  const scopes = [repoScope(repo, 'pull,push'), repoScope(fromRepo, 'pull')];
  const res = await session.send({
    method: 'POST',
    target: url,
    what,
    scopes,
    headers: { 'content-length': '0' },
    ...(signal ? { signal } : {}),
  });
  if (res.status === 201) {
    await discardBody(res);
    return true;
  }
  if (res.status !== 202) throw statusError(what, 'POST', url, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
  const location = res.headers.get('location');
  await discardBody(res);
  if (location) {
    const cancel = await session.send({ method: 'DELETE', target: new URL(location, res.url), what, scopes });
    await discardBody(cancel);
  }
  return false;
}

export type ResumableUploadOptions = {
  readonly signal?: AbortSignal;
  readonly chunkSize?: number; // bytes per PATCH; default: the whole rest of the blob in one streamed PATCH
  readonly attempts?: number; // sends of a body (each resumes where the registry's upload session stands); default 4
  readonly delayMs?: (attempt: number) => number; // wait before a resend
  readonly retryable?: (err: unknown) => boolean;
  readonly onResume?: (offset: number) => void;
};

// `bytes` of a stream, then the stream ends (the source is destroyed): one chunk's PATCH body.
function limited(source: Readable, bytes: number): Readable {
  let left = bytes;
  const out = new PassThrough();
  source.on('data', (chunk: Buffer) => {
    if (left <= 0) return;
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    if (!out.write(part)) source.pause();
    if (left <= 0) {
      out.end();
      source.destroy();
    }
  });
  out.on('drain', () => source.resume());
  source.once('error', (err) => out.destroy(err));
  source.once('end', () => (left > 0 ? out.destroy(new Error(`blob stream ended ${left} bytes early`)) : undefined));
  out.once('close', () => source.destroy());
  return out;
}

// "Range: 0-1023" of an upload session → the next offset (1024); "0-0" with nothing stored is registries' "0-0".
function nextOffset(range: string | null): number | undefined {
  const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim()) : null;
  return m ? Number(m[1]) + 1 : undefined;
}

type Session = { location: URL; offset: number };

async function openSession(
  session: RegistrySession,
  repo: string,
  what: string,
  scopes: string[],
  signal?: AbortSignal,
): Promise<Session> {
  const start = session.url(`/v2/${repo}/blobs/uploads/`);
  const res = await session.send({
    method: 'POST',
    target: start,
    what,
    scopes,
    headers: { 'content-length': '0' },
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 202) throw statusError(what, 'POST', start, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
  const location = uploadLocation(res.headers.get('location'), res.url, what);
  await discardBody(res);
  return { location, offset: 0 };
}

// distribution-spec "Resuming an upload" (docker registry API v2 "Upload Progress"): GET the upload location, 204
// with Range 0-<last byte stored>. A session the registry lost (404) is opened again from byte 0.
async function sessionStatus(
  session: RegistrySession,
  repo: string,
  s: Session,
  what: string,
  scopes: string[],
  signal?: AbortSignal,
): Promise<Session> {
  const res = await session.send({ method: 'GET', target: s.location, what, scopes, ...(signal ? { signal } : {}) });
  await discardBody(res);
  if (res.status === 404) return openSession(session, repo, what, scopes, signal);
  if (res.status !== 204 && res.status !== 200)
    throw statusError(what, 'GET', s.location, res.status, '', 'BLOB_UNKNOWN');
  const offset = nextOffset(res.headers.get('range')) ?? 0;
  const loc = res.headers.get('location');
  return { location: loc ? new URL(loc, res.url) : s.location, offset };
}

// PATCH bytes [offset, offset+len) with Content-Range (distribution-spec "Pushing a blob in chunks").
async function patchChunk(
  session: RegistrySession,
  s: Session,
  len: number,
  open: (offset: number, length?: number) => Promise<Readable>,
  what: string,
  scopes: string[],
  signal?: AbortSignal,
): Promise<Session> {
  const body = limited(await open(s.offset, len), len); // len: a source that can end early reads only the chunk
  const res = await session.send({
    method: 'PATCH',
    target: s.location,
    what,
    scopes,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(len),
      'content-range': `${s.offset}-${s.offset + len - 1}`,
    },
    body,
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 202)
    throw statusError(what, 'PATCH', s.location, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
  const loc = res.headers.get('location');
  await discardBody(res);
  return {
    location: loc ? new URL(loc, res.url) : s.location,
    offset: nextOffset(res.headers.get('range')) ?? s.offset + len,
  };
}

// A blob sent in PATCH chunks, then closed with PUT ?digest=. When a send fails on the way (reset, 5xx), the
// upload session's own Range says what the registry kept and the body is reopened there, not at byte 0.
export async function putBlobResumable(
  session: RegistrySession,
  repo: string,
  digest: Digest,
  size: number,
  open: (offset: number, length?: number) => Promise<Readable>,
  opts: ResumableUploadOptions = {},
): Promise<void> {
  const what = `pushing blob ${repo}@${digest}`;
  const scopes = [repoScope(repo, 'pull,push')];
  const signal = opts.signal;
  const attempts = opts.attempts ?? 4;
  const chunk = Math.max(1, opts.chunkSize ?? size);
  let s = await openSession(session, repo, what, scopes, signal);
  for (let failures = 0; s.offset < size;) {
    try {
      s = await patchChunk(session, s, Math.min(chunk, size - s.offset), open, what, scopes, signal);
    } catch (err) {
      signal?.throwIfAborted();
      if (++failures >= attempts || !(opts.retryable?.(err) ?? false)) throw err;
      if (opts.delayMs) await abortableSleep(opts.delayMs(failures), signal);
      s = await sessionStatus(session, repo, s, what, scopes, signal);
      opts.onResume?.(s.offset);
    }
  }
  const put = new URL(s.location);
  put.searchParams.append('digest', digest);
  const res = await session.send({
    method: 'PUT',
    target: put,
    what,
    scopes,
    headers: { 'content-length': '0' },
    body: Buffer.alloc(0),
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 201) throw statusError(what, 'PUT', put, res.status, await readErrorText(res), 'BLOB_UNKNOWN');
  await discardBody(res);
}
