import type { Readable } from 'node:stream';
import type { Digest } from '../reference/index.js';
import { readErrorText } from './body.js';
import { redactUrl, RegistryError, statusError } from './errors.js';
import { discardBody } from './http.js';
import { repoScope, type RegistrySession } from './session.js';

// The upload URL the registry handed out: relative or absolute, with its own query state kept verbatim.
function uploadLocation(location: string | null, from: URL, what: string): URL {
  if (!location) throw new RegistryError('REGISTRY_ERROR', `${what}: POST ${redactUrl(from)}: 202 without a Location header`, { method: 'POST', url: from });
  return new URL(location, from);
}

// distribution-spec "Pushing a blob monolithically": POST opens a session, PUT <location>&digest= sends
// the whole body as one streamed request. The stream is sent once; on failure the caller re-opens it.
export async function putBlob(session: RegistrySession, repo: string, digest: Digest, size: number, body: Readable | Buffer, signal?: AbortSignal): Promise<void> {
  const what = `pushing blob ${repo}@${digest}`;
  const scopes = [repoScope(repo, 'pull,push')];
  const start = session.url(`/v2/${repo}/blobs/uploads/`);
  const opened = await session.send({ method: 'POST', target: start, what, scopes, headers: { 'content-length': '0' }, ...(signal ? { signal } : {}) });
  if (opened.status !== 202) throw statusError(what, 'POST', start, opened.status, await readErrorText(opened), 'BLOB_UNKNOWN');
  const put = uploadLocation(opened.headers.get('location'), opened.url, what);
  await discardBody(opened);
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
export async function mountBlob(session: RegistrySession, repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
  const what = `mounting blob ${digest} from ${fromRepo} into ${repo}`;
  const url = session.url(`/v2/${repo}/blobs/uploads/`);
  url.searchParams.set('mount', digest);
  url.searchParams.set('from', fromRepo);
  const scopes = [repoScope(repo, 'pull,push'), repoScope(fromRepo, 'pull')];
  const res = await session.send({ method: 'POST', target: url, what, scopes, headers: { 'content-length': '0' }, ...(signal ? { signal } : {}) });
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
