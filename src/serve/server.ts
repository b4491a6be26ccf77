import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ImageStore } from '../artifact-store/index.js';
import { KkoError } from '../errors.js';
import { fsError } from '../util/fs-errors.js';
import { quoteValue } from '../util/safe-text.js';
import { Htpasswd } from './auth.js';
import { DistributionHandler } from './handler.js';
import { ServedNames } from './names.js';

// `kko artifact serve`: an HTTP(S) server of the read-only distribution API over an opened image store (an artifact file or an imported directory).

export type ServeOptions = {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls?: { readonly cert: string; readonly key: string }; // PEM file paths
  readonly htpasswd?: string; // file path
  readonly namespaceOverride?: string;
  readonly log?: (line: string) => void; // one access-log line per request
  readonly drainMs?: number; // how long close() waits for requests in flight (default 10 s)
};

export type RunningServer = {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
};

// "127.0.0.1:5000", "[::1]:5000", ":5000" (all interfaces), "5000".
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (!m || !(port >= 0 && port <= 65535))
    throw new KkoError('INVALID_INPUT', `--listen ${quoteValue(value, 200)}: expected HOST:PORT`, {
      hint: 'e.g. --listen 127.0.0.1:5000 (port 0 picks a free one)',
    });
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

async function pem(path: string, what: string): Promise<Buffer> {
  return readFile(path).catch((err: unknown) => Promise.reject(fsError(`reading ${what}`, path, err)));
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new KkoError(
          err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL'
            ? 'INVALID_INPUT'
            : 'IO_ERROR',
          `listening on ${host}:${port}: ${err.code ?? err.message}`,
          { cause: err, hint: 'pick another --listen address or port' },
        ),
      ),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

// Start serving; close() stops accepting, lets requests in flight finish (up to drainMs), then ends the rest.
export async function startServer(store: ImageStore, opts: ServeOptions): Promise<RunningServer> {
  const auth = opts.htpasswd ? await Htpasswd.load(opts.htpasswd) : undefined;
  const handler = new DistributionHandler({
    store,
    names: new ServedNames(store, opts.namespaceOverride ? { namespaceOverride: opts.namespaceOverride } : {}),
    ...(auth ? { auth } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  let stopping = false;
  // While stopping, every response ends its connection, so close() need not wait out keep-alive timeouts.
  const onRequest = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    if (stopping) res.shouldKeepAlive = false;
    res.once('finish', () => stopping && server.closeIdleConnections());
    void handler.handle(req, res);
  };
  const server: Server = opts.tls
    ? createHttpsServer(
        { cert: await pem(opts.tls.cert, 'TLS certificate'), key: await pem(opts.tls.key, 'TLS key') },
        onRequest,
      )
    : createHttpServer(onRequest);
  server.keepAliveTimeout = 30_000;
  const addr = await listen(server, opts.listen.host, opts.listen.port);
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${shown}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        stopping = true;
        const timer = setTimeout(() => server.closeAllConnections(), opts.drainMs ?? 10_000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}
