import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';

// A static file server on 127.0.0.1:0 serving a directory, with Range (206 + Content-Range, 416), HEAD,
// and faults scripted per request: the stand-in for dl.k8s.io, github.com, get.helm.sh … in download tests.

export type FileFault =
  | { kind: 'status'; status: number; headers?: Record<string, string> } // e.g. 500, or 429 with retry-after
  | { kind: 'reset'; afterBytes: number } // send headers and N body bytes, then RST
  | { kind: 'truncate'; afterBytes: number } // send headers (full Content-Length) and N bytes, then close
  | { kind: 'corrupt'; at?: number } // flip one body byte (default: the middle one)
  | { kind: 'slow'; bytesPerSecond: number }
  | { kind: 'stall'; ms: number; afterBytes?: number } // go silent for ms after N body bytes (default 0)
  | { kind: 'ignore-range' } // answer 200 with the whole file even to a Range request
  | { kind: 'redirect'; to: string; status?: number }; // Location: `${to}${path}`

export type FileRule = {
  path?: string | RegExp; // substring or pattern of the request path
  times?: number; // matching requests that get the fault (default 1; Infinity for all)
  fault: FileFault;
};

export type ServedRequest = {
  method: string;
  path: string;
  range?: string;
  status: number;
  bytes: number;
  fault?: FileFault['kind'];
  authorization?: string;
};

// basicAuth: every request must carry these credentials (401 with a Basic challenge otherwise), like a private mirror.
export type FileServerOptions = { basicAuth?: { username: string; password: string } };

export type FileServer = {
  readonly url: string; // http://127.0.0.1:PORT
  readonly root: string;
  readonly requests: ServedRequest[];
  add(rule: FileRule): void;
  clear(): void; // forget requests and rules
  count(path?: string | RegExp): number;
  bytesServed(path?: string | RegExp): number; // body bytes written, faults included
  stop(): Promise<void>;
};

const CHUNK = 16 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function matches(pattern: string | RegExp | undefined, path: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? path.includes(pattern) : pattern.test(path);
}

function takeFault(rules: FileRule[], path: string): FileFault | undefined {
  const i = rules.findIndex((r) => matches(r.path, path));
  if (i < 0) return undefined;
  const rule = rules[i] as FileRule;
  const left = (rule.times ?? 1) - 1;
  if (left <= 0) rules.splice(i, 1);
  else rule.times = left;
  return rule.fault;
}

// "bytes=N-" or "bytes=N-M" → [start, end] inclusive, clamped to the file; undefined for no or other ranges.
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return { start, end };
}

async function fileFor(root: string, urlPath: string): Promise<Buffer | undefined> {
  const rel = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  const file = resolve(join(root, rel));
  if (file !== root && !file.startsWith(root + sep)) return undefined;
  const st = await stat(file).catch(() => undefined);
  return st?.isFile() ? readFile(file) : undefined;
}

// Write the body in chunks, applying the body faults; counts what was written.
async function writeBody(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  fault: FileFault | undefined,
  seen: ServedRequest,
): Promise<void> {
  const limit = fault?.kind === 'reset' || fault?.kind === 'truncate' ? fault.afterBytes : body.length;
  const stallAt = fault?.kind === 'stall' ? (fault.afterBytes ?? 0) : -1;
  for (let pos = 0; pos < limit && !res.destroyed;) {
    if (pos === stallAt) await sleep((fault as { ms: number }).ms);
    const end = Math.min(pos + CHUNK, limit, stallAt > pos ? stallAt : Infinity);
    const piece = body.subarray(pos, end);
    await write(res, piece, seen);
    pos = end;
    if (fault?.kind === 'slow') await sleep((piece.length / fault.bytesPerSecond) * 1000);
  }
  if (res.destroyed) return;
  if (fault?.kind === 'reset' || fault?.kind === 'truncate') {
    // Let the client consume what was sent: a failing WHATWG stream drops the chunks it has not read yet.
    await sleep(30);
    if (fault.kind === 'reset') req.socket.resetAndDestroy();
    else req.socket.destroy();
  } else {
    res.end();
  }
}

function write(res: ServerResponse, chunk: Buffer, seen: ServedRequest): Promise<void> {
  return new Promise((done) => {
    if (chunk.length === 0 || res.destroyed) return done();
    const onClose = (): void => done();
    res.once('close', onClose);
    res.write(chunk, () => {
      res.off('close', onClose);
      done();
    });
    seen.bytes += chunk.length;
  });
}

async function handle(
  root: string,
  rules: FileRule[],
  requests: ServedRequest[],
  opts: FileServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = req.url ?? '/';
  const method = req.method ?? 'GET';
  const seen: ServedRequest = {
    method,
    path,
    status: 0,
    bytes: 0,
    ...(req.headers.range ? { range: req.headers.range } : {}),
    ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
  };
  requests.push(seen);
  req.resume();
  const want = opts.basicAuth
    ? `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}`
    : undefined;
  if (want !== undefined && req.headers.authorization !== want) {
    seen.status = 401;
    res.writeHead(401, { 'www-authenticate': 'Basic realm="files"', 'content-type': 'text/plain' }).end('unauthorized');
    return;
  }
  const fault = takeFault(rules, path);
  if (fault) seen.fault = fault.kind;
  if (fault?.kind === 'status') {
    seen.status = fault.status;
    res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers }).end('injected');
    return;
  }
  if (fault?.kind === 'redirect') {
    seen.status = fault.status ?? 302;
    res.writeHead(seen.status, { location: `${fault.to}${path}`, 'content-length': '0' }).end();
    return;
  }
  const data = await fileFor(root, path);
  if (!data) {
    seen.status = 404;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  let body = data;
  if (fault?.kind === 'corrupt') {
    body = Buffer.from(data);
    const at = fault.at ?? Math.floor(body.length / 2);
    body[at] = (body[at] ?? 0) ^ 0xff;
  }
  const range = fault?.kind === 'ignore-range' ? undefined : parseRange(req.headers.range, body.length);
  if (range && range.start >= body.length) {
    seen.status = 416;
    res.writeHead(416, { 'content-range': `bytes */${body.length}`, 'content-length': '0' }).end();
    return;
  }
  const part = range ? body.subarray(range.start, range.end + 1) : body;
  seen.status = range ? 206 : 200;
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(part.length),
    'accept-ranges': 'bytes',
  };
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${body.length}`;
  res.writeHead(seen.status, headers);
  if (method === 'HEAD') {
    res.end();
    return;
  }
  await writeBody(req, res, part, fault, seen);
}

// Start serving `root` on 127.0.0.1 with a free port.
export async function startFileServer(root: string, opts: FileServerOptions = {}): Promise<FileServer> {
  const absRoot = resolve(root);
  const rules: FileRule[] = [];
  const requests: ServedRequest[] = [];
  const server: Server = createServer((req, res) => {
    handle(absRoot, rules, requests, opts, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const pick = (path?: string | RegExp): ServedRequest[] => requests.filter((r) => matches(path, r.path));
  return {
    url: `http://127.0.0.1:${port}`,
    root: absRoot,
    requests,
    add: (rule) => rules.push({ ...rule }),
    clear: () => {
      requests.length = 0;
      rules.length = 0;
    },
    count: (path) => pick(path).length,
    bytesServed: (path) => pick(path).reduce((n, r) => n + r.bytes, 0),
    stop: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
