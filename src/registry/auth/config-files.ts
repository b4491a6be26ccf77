import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KkoError } from '../../errors.js';
import { noopLogger, type Logger } from '../../log.js';
import { quoteValue } from '../../util/safe-text.js';
import { normalizeRegistryHost, type Credential, type CredentialProvider } from './credentials.js';

// Runs `docker-credential-<name> get` with `serverUrl` on stdin; resolves stdout, or undefined when not found.
export type HelperRunner = (name: string, serverUrl: string, env: NodeJS.ProcessEnv) => Promise<string | undefined>;

export type ConfigFileOptions = {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  runHelper?: HelperRunner;
  logger?: Logger;
};

// The part of docker's config.json and containers' auth.json that holds credentials (same shape in both).
type AuthFile = {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
};

const HELPER_TIMEOUT_MS = 10_000;
const MAX_HELPER_OUTPUT = 64 * 1024;

// Read and parse an auth file; a missing file is "no credentials", a broken one is an error (never echoing its content).
async function loadAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KkoError('IO_ERROR', `reading credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const doc = JSON.parse(text) as unknown;
    return typeof doc === 'object' && doc !== null ? (doc as AuthFile) : {};
  } catch {
    throw new KkoError('INVALID_INPUT', `reading credentials file ${path}: not valid JSON`);
  }
}

// Value of a map whose keys are registry spellings, matched on the normalized host.
function lookupHost<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  const want = normalizeRegistryHost(host);
  return Object.entries(map ?? {}).find(([key]) => normalizeRegistryHost(key) === want)?.[1];
}

// An `auths` entry: base64 "user:pass" in `auth`, or explicit username/password. identitytoken is not supported.
function credentialFromEntry(entry: NonNullable<AuthFile['auths']>[string] | undefined): Credential | undefined {
  if (!entry) return undefined;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (entry.username) return { username: entry.username, password: entry.password ?? '' };
  return undefined;
}

// docker passes the legacy index URL for Docker Hub and the bare host for everything else.
function helperServerUrl(host: string): string {
  return normalizeRegistryHost(host) === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

// Default HelperRunner: spawn the helper with a timeout and bounded output; errors never include its output.
export const runCredentialHelper: HelperRunner = (name, serverUrl, env) =>
  new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown): void =>
      reject(
        new KkoError('IO_ERROR', `running docker-credential-${name} get for ${serverUrl}: ${why}`, {
          cause,
          hint: `check the "${name}" credential helper, or remove it from the docker config`,
        }),
      );
    const child = spawn(`docker-credential-${name}`, ['get'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: HELPER_TIMEOUT_MS,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      if (out.length < MAX_HELPER_OUTPUT) out += d.toString('utf8');
    });
    child.stderr.resume();
    child.on('error', (err) => fail((err as NodeJS.ErrnoException).code ?? 'spawn failed', err));
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      if (/credentials not found/i.test(out)) return resolve(undefined);
      fail(`exit code ${String(code)}`);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
  });

// Parse a helper's `{"ServerURL","Username","Secret"}`; "<token>" usernames (identity tokens) are not supported.
function credentialFromHelper(name: string, out: string | undefined, logger: Logger): Credential | undefined {
  if (out === undefined) return undefined;
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(out) as typeof doc;
  } catch {
    throw new KkoError('IO_ERROR', `running docker-credential-${name} get: output is not JSON`);
  }
  if (typeof doc.Username !== 'string' || typeof doc.Secret !== 'string' || doc.Username === '') return undefined;
  if (doc.Username === '<token>') {
    logger.warn(
      `docker-credential-${name} returned an identity token; kko does not support those yet, going anonymous`,
    );
    return undefined;
  }
  return { username: doc.Username, password: doc.Secret };
}

// Shared reading of one auth file: credHelpers[host], then credsStore, then auths[host].
async function resolveFromFile(
  file: AuthFile,
  host: string,
  opts: Required<ConfigFileOptions>,
): Promise<Credential | undefined> {
  const helper = lookupHost(file.credHelpers, host) ?? file.credsStore;
  if (helper) {
    if (!/^[A-Za-z0-9_.-]+$/.test(helper))
      throw new KkoError('INVALID_INPUT', `credential helper name ${quoteValue(helper)} is not valid`);
    const fromHelper = credentialFromHelper(
      helper,
      await opts.runHelper(helper, helperServerUrl(host), opts.env),
      opts.logger,
    );
    if (fromHelper) return fromHelper;
  }
  return credentialFromEntry(lookupHost(file.auths, host));
}

function resolveOptions(opts: ConfigFileOptions): Required<ConfigFileOptions> {
  return {
    env: opts.env ?? process.env,
    homeDir: opts.homeDir ?? homedir(),
    runHelper: opts.runHelper ?? runCredentialHelper,
    logger: opts.logger ?? noopLogger,
  };
}

// docker's `$DOCKER_CONFIG/config.json` (default ~/.docker/config.json): auths, credHelpers, credsStore.
export class DockerConfigCredentials implements CredentialProvider {
  readonly #opts: Required<ConfigFileOptions>;

  constructor(opts: ConfigFileOptions = {}) {
    this.#opts = resolveOptions(opts);
  }

  get path(): string {
    return join(this.#opts.env.DOCKER_CONFIG ?? join(this.#opts.homeDir, '.docker'), 'config.json');
  }

  async resolve(host: string): Promise<Credential | undefined> {
    const file = await loadAuthFile(this.path);
    return file ? resolveFromFile(file, host, this.#opts) : undefined;
  }
}

// containers' auth.json: $REGISTRY_AUTH_FILE alone when set, else $XDG_RUNTIME_DIR/containers/auth.json,
// then ~/.config/containers/auth.json (containers-auth.json(5)).
export class ContainersAuthCredentials implements CredentialProvider {
  readonly #opts: Required<ConfigFileOptions>;

  constructor(opts: ConfigFileOptions = {}) {
    this.#opts = resolveOptions(opts);
  }

  get paths(): string[] {
    const env = this.#opts.env;
    if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
    const out: string[] = [];
    if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
    out.push(join(env.XDG_CONFIG_HOME ?? join(this.#opts.homeDir, '.config'), 'containers', 'auth.json'));
    return out;
  }

  async resolve(host: string): Promise<Credential | undefined> {
    for (const path of this.paths) {
      const file = await loadAuthFile(path);
      if (file) return resolveFromFile(file, host, this.#opts);
    }
    return undefined;
  }
}
