import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpGet } from 'node:http';
import { request as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, stopChild } from './exec.js';
import { freePort } from './ports.js';
import { startTokenServer, type TokenServer } from './token-server.js';

// The real CNCF distribution registry (Debian's docker-registry 2.8.2) on a free 127.0.0.1 port.
export type RegistryMode = 'plain' | 'basic' | 'tls' | 'token';

export type StartRegistryOptions = {
  readonly mode: RegistryMode;
  // tls mode: also require htpasswd basic auth (like the fixture's :5443).
  readonly tlsBasicAuth?: boolean;
  // token mode: lifetime of issued tokens in seconds.
  readonly tokenExpiresIn?: number;
};

export type TestRegistry = {
  readonly mode: RegistryMode;
  readonly host: string; // "127.0.0.1:PORT"
  readonly url: string; // "http(s)://127.0.0.1:PORT"
  readonly dir: string;
  readonly caCertPath?: string;
  readonly certsDir?: string; // holds ca.crt (kk certsPath / skopeo --cert-dir)
  readonly creds?: { readonly username: string; readonly password: string };
  readonly token?: TokenServer;
  stop(): Promise<void>;
};

const REGISTRY_BIN = '/usr/bin/docker-registry';
export const TEST_USER = 'kko-tester';
// Distinctive so tests can assert that it never shows up in an error message or stack.
export const TEST_PASSWORD = 'pw-Zq7-never-print-me';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// A self-signed cert for 127.0.0.1 (and its certs.d/ca.crt, as skopeo --cert-dir and containerd want it).
export async function writeTls(dir: string): Promise<{ cert: string; key: string; certsDir: string }> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '30',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  const certsDir = join(dir, 'certs.d');
  await mkdir(certsDir);
  await copyFile(cert, join(certsDir, 'ca.crt'));
  return { cert, key, certsDir };
}

// The config.yml body (JSON is YAML): storage in the temp dir, loopback only, plus the mode's auth/TLS block.
function registryConfig(dir: string, port: number, extra: { http?: object; auth?: object }): string {
  return JSON.stringify({
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: { addr: `127.0.0.1:${port}`, secret: 'kko-test-not-secret', ...extra.http },
    ...(extra.auth ? { auth: extra.auth } : {}),
  });
}

// Status of GET /v2/ once the server answers, or undefined while it does not.
function probe(url: string, ca: Buffer | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const get = url.startsWith('https') ? httpsGet : httpGet;
    const req = get(`${url}/v2/`, { method: 'GET', timeout: 1000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

type Spawned = { child: ChildProcess; stderr: () => string };

function spawnRegistry(configPath: string): Spawned {
  const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8192)));
  child.on('exit', () => running.delete(child));
  return { child, stderr: () => err };
}

// Poll /v2/ until it answers; 'busy' when the child died because the port was taken meanwhile.
async function waitReady(s: Spawned, url: string, ca: Buffer | undefined): Promise<'ok' | 'busy'> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (s.child.exitCode !== null) {
      if (/address already in use/i.test(s.stderr())) return 'busy';
      throw new Error(`docker-registry exited (${s.child.exitCode}): ${s.stderr()}`);
    }
    const status = await probe(url, ca);
    if (status === 200 || status === 401) return 'ok';
    await new Promise((r) => setTimeout(r, 25));
  }
  s.child.kill('SIGKILL');
  throw new Error(`docker-registry did not answer on ${url}/v2/ within 15 s: ${s.stderr()}`);
}

type ModeSetup = {
  http?: object;
  auth?: object;
  tls?: { cert: string; certsDir: string };
  token?: TokenServer;
  creds?: TestRegistry['creds'];
};

async function setupMode(opts: StartRegistryOptions, dir: string): Promise<ModeSetup> {
  const creds = { username: TEST_USER, password: TEST_PASSWORD };
  const htpasswd = async (): Promise<object> => {
    await writeFile(join(dir, 'htpasswd'), await run('htpasswd', ['-Bbn', creds.username, creds.password]));
    return { htpasswd: { realm: 'kko-test', path: join(dir, 'htpasswd') } };
  };
  switch (opts.mode) {
    case 'plain':
      return {};
    case 'basic':
      return { auth: await htpasswd(), creds };
    case 'tls': {
      const tls = await writeTls(dir);
      const auth = opts.tlsBasicAuth ? await htpasswd() : undefined;
      return { http: { tls: { certificate: tls.cert, key: tls.key } }, tls, ...(auth ? { auth, creds } : {}) };
    }
    case 'token': {
      const token = await startTokenServer({
        dir,
        users: { [creds.username]: creds.password },
        ...(opts.tokenExpiresIn ? { expiresIn: opts.tokenExpiresIn } : {}),
      });
      const auth = {
        token: { realm: token.realm, service: token.service, issuer: token.issuer, rootcertbundle: token.certPath },
      };
      return { auth, token, creds };
    }
  }
}

// Start a registry in a fresh temp dir; stop() kills it and removes the dir.
export async function startRegistry(opts: StartRegistryOptions): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), `kko-reg-${opts.mode}-`));
  const setup = await setupMode(opts, dir);
  const ca = setup.tls ? await readFile(setup.tls.cert) : undefined;
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, registryConfig(dir, port, setup));
    const url = `${setup.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const spawned = spawnRegistry(configPath);
    if ((await waitReady(spawned, url, ca)) === 'busy') continue;
    return {
      mode: opts.mode,
      host: `127.0.0.1:${port}`,
      url,
      dir,
      ...(setup.tls ? { caCertPath: setup.tls.cert, certsDir: setup.tls.certsDir } : {}),
      ...(setup.creds ? { creds: setup.creds } : {}),
      ...(setup.token ? { token: setup.token } : {}),
      stop: async () => {
        await stopChild(spawned.child, 3000);
        await setup.token?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error('docker-registry: no free port after 5 tries');
}
