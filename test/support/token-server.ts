import { generateKeyPairSync, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { run } from './exec.js';

// A distribution `auth: token` server on 127.0.0.1: ES256 JWTs with the signing cert in `x5c`
// (tooling.md §2). Basic-auth users get the actions they ask for; anonymous callers get pull only.
export type TokenServer = {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certPath: string;
  // Token requests seen, newest last (user undefined = anonymous).
  readonly requests: Array<{ user: string | undefined; scopes: string[]; status: number }>;
  stop(): Promise<void>;
};

export type TokenServerOptions = {
  readonly dir: string;
  readonly users: Readonly<Record<string, string>>;
  readonly service?: string;
  readonly issuer?: string;
  readonly expiresIn?: number;
};

const b64u = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

// Key from node:crypto, self-signed certificate from openssl (the registry's rootcertbundle).
async function makeSigningKey(dir: string): Promise<{ key: KeyObject; certPath: string; x5c: string }> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-days',
    '30',
    '-subj',
    '/CN=kko-test-token-issuer',
    '-out',
    certPath,
  ]);
  const x5c = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  return { key: privateKey, certPath, x5c };
}

// user name for a good Basic header, null for a bad one, undefined for none.
function basicUser(req: IncomingMessage, users: Readonly<Record<string, string>>): string | null | undefined {
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Basic ')) return undefined;
  const s = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = s.indexOf(':');
  const user = s.slice(0, i);
  return i > 0 && users[user] === s.slice(i + 1) ? user : null;
}

function grants(scopes: string[], user: string | undefined): Array<{ type: string; name: string; actions: string[] }> {
  return scopes
    .flatMap((s) => s.split(' '))
    .filter(Boolean)
    .map((s) => {
      const parts = s.split(':');
      const actions = (parts.pop() ?? '').split(',');
      const type = parts.shift() ?? '';
      return { type, name: parts.join(':'), actions: user ? actions : actions.filter((a) => a === 'pull') };
    });
}

// Start the token server on a free loopback port.
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = opts.service ?? 'kko-test-registry';
  const issuer = opts.issuer ?? 'kko-test-issuer';
  const { key, certPath, x5c } = await makeSigningKey(opts.dir);
  const requests: TokenServer['requests'] = [];
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = u.searchParams.getAll('scope');
    const user = basicUser(req, opts.users);
    if (u.pathname !== '/token' || user === null) {
      requests.push({ user: undefined, scopes, status: user === null ? 401 : 404 });
      res.writeHead(user === null ? 401 : 404, { 'www-authenticate': 'Basic realm="token"' }).end();
      return;
    }
    requests.push({ user, scopes, status: 200 });
    const t = Math.floor(Date.now() / 1000);
    const expiresIn = opts.expiresIn ?? 300;
    const header = b64u(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }));
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: u.searchParams.get('service'),
      exp: t + expiresIn,
      nbf: t - 10,
      iat: t,
      jti: randomUUID(),
      access: grants(scopes, user),
    };
    const body = `${header}.${b64u(JSON.stringify(claims))}`;
    const token = `${body}.${b64u(sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' }))}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: expiresIn }));
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
