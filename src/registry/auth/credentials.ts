// Who we are to a registry. A provider answers per registry host; the chain asks each in turn.
import type { Credential, CredentialProvider, HostConnection } from '../../host/index.js';

export type { Credential, CredentialProvider };

// kk's `spec.registry.auths.<host>` entry (manifest schema: every field optional, null allowed).
export type KkAuthEntry = {
  readonly username?: string | null;
  readonly password?: string | null;
  readonly skipTLSVerify?: boolean | null;
  readonly plainHTTP?: boolean | null;
  readonly certsPath?: string | null;
};

// Docker Hub's many spellings, and the legacy config key, all mean "docker.io".
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'docker.io']);

// A config key ("https://index.docker.io/v1/", "http://reg:5000/", "Reg:5000") reduced to a comparable host.
export function normalizeRegistryHost(key: string): string {
  const host =
    key
      .trim()
      .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
      .split('/')[0]
      ?.toLowerCase() ?? '';
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

// No credentials anywhere: every request goes anonymous.
export const anonymousCredentials: CredentialProvider = { resolve: async () => undefined };

// A fixed map of host → credential; keys are matched after normalizeRegistryHost, exactly (no suffix matching).
export class StaticCredentials implements CredentialProvider {
  readonly #byHost = new Map<string, Credential>();

  constructor(
    entries: Readonly<Record<string, { readonly username?: string | null; readonly password?: string | null }>>,
  ) {
    for (const [key, e] of Object.entries(entries)) {
      if (e.username)
        this.#byHost.set(normalizeRegistryHost(key), { username: e.username, password: e.password ?? '' });
    }
  }

  async resolve(host: string): Promise<Credential | undefined> {
    return this.#byHost.get(normalizeRegistryHost(host));
  }
}

// kk's registry.auths as a provider (the TLS fields are read by resolveRegistryHostOptions).
export function kkAuthsCredentials(
  auths: Readonly<Record<string, KkAuthEntry>> | null | undefined,
): CredentialProvider {
  return new StaticCredentials(auths ?? {});
}

// Transport settings for `host` from kk's registry.auths (plainHTTP, skipTLSVerify, certsPath).
export function resolveRegistryHostOptions(
  auths: Readonly<Record<string, KkAuthEntry>> | null | undefined,
  host: string,
): HostConnection {
  const want = normalizeRegistryHost(host);
  const entry = Object.entries(auths ?? {}).find(([key]) => normalizeRegistryHost(key) === want)?.[1];
  const out: HostConnection = {};
  if (entry?.plainHTTP) out.plainHTTP = true;
  if (entry?.skipTLSVerify) out.skipTLSVerify = true;
  if (entry?.certsPath) out.certsPath = entry.certsPath;
  return out;
}

// First provider with an answer wins (kk auths, then docker config, then containers auth.json by default).
export class ChainCredentials implements CredentialProvider {
  readonly #providers: readonly CredentialProvider[];

  constructor(providers: readonly CredentialProvider[]) {
    this.#providers = providers;
  }

  async resolve(host: string): Promise<Credential | undefined> {
    for (const p of this.#providers) {
      const c = await p.resolve(host);
      if (c) return c;
    }
    return undefined;
  }
}
