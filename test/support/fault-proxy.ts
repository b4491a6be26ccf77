import { createServer, request as forward, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// An HTTP proxy on 127.0.0.1:0 in front of a (plain-HTTP) registry, with faults scripted per request.
// The Host header is forwarded unchanged, so the registry's absolute Location URLs point back at the proxy.

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'drop' } // reset the connection before any response
  | { kind: 'reset'; afterBytes: number } // send headers and N body bytes, then RST
  | { kind: 'truncate'; afterBytes: number } // send headers (full Content-Length) and N bytes, then close
  | { kind: 'corrupt'; at?: number } // flip one body byte (default: the middle one)
  | { kind: 'throttle'; bytesPerSecond: number }
  | { kind: 'stall'; ms: number; afterBytes?: number } // pause before the response, or after N body bytes
  | { kind: 'ignore-range' } // forward without the Range header, so the registry answers 200 with the whole blob
  | { kind: 'cut-upload'; afterBytes: number } // forward N bytes of the request body, then reset both connections
  | { kind: 'redirect'; to: string; status?: number; query?: string }; // 307 to `${to}${path}?${query}`

export type FaultRule = {
  method?: string;
  path?: string | RegExp; // substring or pattern of the request path (with query)
  range?: RegExp; // pattern of the request's Range header (a request without one never matches)
  times?: number; // how many matching requests get the fault (default 1; Infinity for all)
  fault: Fault;
};

export type SeenRequest = {
  method: string;
  path: string;
  hadAuthorization: boolean;
  range?: string;
  fault?: Fault['kind'];
  at: number; // when the request arrived (performance.now())
};

export type FaultProxy = {
  readonly host: string; // 127.0.0.1:PORT
  readonly url: string;
  readonly seen: SeenRequest[];
  // Most requests that were in flight at once since the last clear().
  readonly maxInFlight: number;
  add(rule: FaultRule): void;
  clear(): void;
  count(match: { method?: string; path?: string | RegExp }): number;
  stop(): Promise<void>;
};

export type FaultProxyOptions = {
  readonly upstream: string; // http://127.0.0.1:PORT
  // Headers added to every forwarded request (e.g. storage-side credentials behind a redirect).
  readonly injectHeaders?: Readonly<Record<string, string>>;
};

function matches(
  m: { method?: string; path?: string | RegExp; range?: RegExp },
  method: string,
  path: string,
  range?: string,
): boolean {
  if (m.method && m.method !== method) return false;
  if (m.range && (range === undefined || !m.range.test(range))) return false;
  if (m.path === undefined) return true;
  return typeof m.path === 'string' ? path.includes(m.path) : m.path.test(path);
}

// Take the first rule matching this request and use up one of its `times`.
function takeFault(rules: FaultRule[], method: string, path: string, range?: string): Fault | undefined {
  const i = rules.findIndex((r) => matches(r, method, path, range));
  if (i < 0) return undefined;
  const rule = rules[i] as FaultRule;
  const left = (rule.times ?? 1) - 1;
  if (left <= 0) rules.splice(i, 1);
  else rule.times = left;
  return rule.fault;
}

function answerDirectly(req: IncomingMessage, res: ServerResponse, fault: Fault): void {
  req.resume();
  if (fault.kind === 'drop') {
    req.socket.resetAndDestroy();
    return;
  }
  if (fault.kind === 'status') {
    res
      .writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
      .end(fault.body ?? '{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
    return;
  }
  if (fault.kind === 'redirect') {
    const location = `${fault.to}${req.url ?? '/'}${fault.query ? `${req.url?.includes('?') ? '&' : '?'}${fault.query}` : ''}`;
    res.writeHead(fault.status ?? 307, { location, 'content-length': '0' }).end();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Write one piece; `lastByte` runs synchronously just before the piece that completes the body,
// so the in-flight count drops before the client can possibly start its next request.
function writer(res: ServerResponse, length: number, lastByte: () => void): (buf: Buffer) => Promise<void> {
  let written = 0;
  return (buf) => {
    written += buf.length;
    if (written >= length) lastByte();
    return new Promise<void>((r) => res.write(buf, () => r()));
  };
}

// Copy the upstream body to the client, applying a body fault on the way.
async function relayBody(
  up: IncomingMessage,
  res: ServerResponse,
  bodyFault: Fault | undefined,
  lastByte: () => void,
): Promise<void> {
  let fault = bodyFault;
  const length = Number(up.headers['content-length'] ?? 0);
  const write = writer(res, length, lastByte);
  const flipAt = fault?.kind === 'corrupt' ? (fault.at ?? Math.floor(length / 2)) : -1;
  let sent = 0;
  for await (const raw of up) {
    let chunk = Buffer.from(raw as Buffer);
    if (flipAt >= sent && flipAt < sent + chunk.length) chunk[flipAt - sent] = (chunk[flipAt - sent] as number) ^ 0xff;
    if (fault?.kind === 'stall' && fault.afterBytes !== undefined && sent + chunk.length >= fault.afterBytes) {
      const cut = fault.afterBytes - sent;
      await write(chunk.subarray(0, cut));
      await sleep(fault.ms);
      sent += cut;
      chunk = chunk.subarray(cut);
      fault = undefined;
    }
    if ((fault?.kind === 'reset' || fault?.kind === 'truncate') && sent + chunk.length >= fault.afterBytes) {
      await write(chunk.subarray(0, fault.afterBytes - sent));
      if (fault.kind === 'reset') res.socket?.resetAndDestroy();
      else res.socket?.end();
      up.destroy();
      return;
    }
    const slice = fault?.kind === 'throttle' ? Math.max(1, Math.floor(fault.bytesPerSecond / 20)) : chunk.length;
    for (let i = 0; i < chunk.length; i += slice) {
      await write(chunk.subarray(i, i + slice));
      if (fault?.kind === 'throttle') await sleep(50);
    }
    sent += chunk.length;
  }
  lastByte();
  res.end();
}

async function relay(
  req: IncomingMessage,
  res: ServerResponse,
  opts: FaultProxyOptions,
  fault: Fault | undefined,
  lastByte: () => void,
): Promise<void> {
  if (fault?.kind === 'stall' && fault.afterBytes === undefined) await sleep(fault.ms);
  if (res.destroyed) return;
  const upstream = new URL(opts.upstream);
  const headers = { ...req.headers, ...opts.injectHeaders };
  if (fault?.kind === 'ignore-range') delete headers.range;
  const up = forward(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      relayBody(upRes, res, fault, lastByte).catch(() => res.destroy());
    },
  );
  up.on('error', () => res.destroy());
  if (fault?.kind === 'cut-upload') cutUpload(req, up, fault.afterBytes);
  else req.pipe(up);
}

// The request body reaches the registry only up to `afterBytes`; then the registry's side is aborted and the
// client's connection reset, as when the link drops in the middle of an upload.
function cutUpload(req: IncomingMessage, up: ReturnType<typeof forward>, afterBytes: number): void {
  let sent = 0;
  req.on('data', (chunk: Buffer) => {
    if (sent >= afterBytes) return;
    const part = chunk.subarray(0, afterBytes - sent);
    sent += part.length;
    up.write(part);
    if (sent >= afterBytes) {
      req.pause();
      setTimeout(() => {
        up.destroy();
        req.socket.resetAndDestroy();
      }, 200);
    }
  });
}

// Start a proxy in front of `upstream`.
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const rules: FaultRule[] = [];
  const seen: SeenRequest[] = [];
  const flight = { now: 0, max: 0 };
  const server: Server = createServer((req, res) => {
    flight.max = Math.max(flight.max, ++flight.now);
    let done = false;
    const leave = (): void => {
      if (!done) flight.now--;
      done = true;
    };
    res.once('finish', leave);
    res.once('close', leave);
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const range = req.headers.range;
    const fault = takeFault(rules, method, path, range);
    seen.push({
      at: performance.now(),
      method,
      path,
      hadAuthorization: req.headers.authorization !== undefined,
      ...(range !== undefined ? { range } : {}),
      ...(fault ? { fault: fault.kind } : {}),
    });
    if (fault && (fault.kind === 'status' || fault.kind === 'drop' || fault.kind === 'redirect'))
      answerDirectly(req, res, fault);
    else void relay(req, res, opts, fault, leave);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    get maxInFlight() {
      return flight.max;
    },
    add: (rule) => rules.push({ ...rule }),
    clear: () => {
      rules.length = 0;
      seen.length = 0;
      flight.max = flight.now;
    },
    count: (m) => seen.filter((s) => matches(m, s.method, s.path)).length,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
