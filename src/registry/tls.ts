import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Agent } from 'undici';
import { KkoError } from '../errors.js';
import type { HostTls } from '../host/index.js';
import { undici } from './undici.js';

export type CertsDir = { ca: string[]; cert: string[]; key: string[] };

function certError(dir: string, why: string, cause?: unknown): KkoError {
  return new KkoError('INVALID_INPUT', `loading registry certificates from ${dir}: ${why}`, {
    cause,
    hint: 'certsPath holds *.crt (CA certificates) and *.cert + *.key pairs with the same base name (client certificates)',
  });
}

// kk / containers/image certs.d rules: every *.crt is a CA; each *.cert needs a *.key of the same base name and vice versa.
export async function loadCertsDir(dir: string): Promise<CertsDir> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'IO_ERROR';
    throw new KkoError(code, `loading registry certificates from ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const out: CertsDir = { ca: [], cert: [], key: [] };
  for (const name of names) {
    if (name.endsWith('.crt')) out.ca.push(await readFile(join(dir, name), 'utf8'));
    if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) throw certError(dir, `client certificate ${name} has no key ${keyName}`);
      out.cert.push(await readFile(join(dir, name), 'utf8'));
      out.key.push(await readFile(join(dir, keyName), 'utf8'));
    }
    if (name.endsWith('.key') && !names.includes(`${name.slice(0, -'.key'.length)}.cert`)) {
      throw certError(dir, `key ${name} has no client certificate ${name.slice(0, -'.key'.length)}.cert`);
    }
  }
  return out;
}

export type AgentTimeouts = {
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
};

// An undici Agent for one TLS setting: CA roots = system roots + certsPath *.crt (added, never replacing).
async function createAgent(tls: HostTls, t: AgentTimeouts): Promise<Agent> {
  const certs = tls.certsPath ? await loadCertsDir(tls.certsPath) : { ca: [], cert: [], key: [] };
  const connect: Record<string, unknown> = { timeout: t.connectTimeoutMs };
  if (certs.ca.length > 0) connect.ca = [...rootCertificates, ...certs.ca];
  if (certs.cert.length > 0) {
    connect.cert = certs.cert;
    connect.key = certs.key;
  }
  if (tls.skipTLSVerify) connect.rejectUnauthorized = false;
  const { Agent } = await undici();
  return new Agent({
    connect,
    headersTimeout: t.headersTimeoutMs,
    bodyTimeout: t.idleTimeoutMs,
    keepAliveTimeout: 4_000,
  });
}

// One connection pool per TLS setting, made on first use: reading certsPath is async, and its errors
// (FILE_NOT_FOUND, a key without its certificate) belong to the first request that needs it.
export class AgentPool {
  readonly #timeouts: AgentTimeouts;
  readonly #agents = new Map<string, Promise<Agent>>();

  constructor(timeouts: AgentTimeouts) {
    this.#timeouts = timeouts;
  }

  get(tls: HostTls = {}): Promise<Agent> {
    const key = `${tls.skipTLSVerify === true}|${tls.certsPath ?? ''}`;
    let agent = this.#agents.get(key);
    if (!agent) this.#agents.set(key, (agent = createAgent(tls, this.#timeouts)));
    return agent;
  }

  async close(): Promise<void> {
    const agents = await Promise.allSettled(this.#agents.values());
    this.#agents.clear();
    await Promise.all(agents.map((a) => (a.status === 'fulfilled' ? a.value.close() : undefined)));
  }
}
