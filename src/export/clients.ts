import { hostKey, mergeHosts } from '../host/index.js';
import type { Logger } from '../log.js';
import type { KkManifest } from '../manifest/index.js';
import type { ImageSource } from '../mirror/index.js';
import {
  defaultCredentials,
  RegistryClient,
  resolveRegistryHostOptions,
  type CredentialProvider,
  type HttpOptions,
  type KkAuthEntry,
} from '../registry/index.js';

export type ClientPoolOptions = {
  auths?: Readonly<Record<string, KkAuthEntry>> | null;
  env: NodeJS.ProcessEnv;
  logger?: Logger;
  http?: HttpOptions; // retries, backoff, per-host concurrency (tests shorten them)
  credentials?: CredentialProvider;
};

// kk's registry.auths of every manifest (a later manifest's entry for a host wins).
export function manifestAuths(manifests: readonly KkManifest[]): Record<string, KkAuthEntry> {
  return Object.assign({}, ...manifests.map((m) => m.spec.registry?.auths ?? {})) as Record<string, KkAuthEntry>;
}

// One RegistryClient per endpoint and transport setting, shared by every image of a run.
export class ClientPool {
  readonly #clients = new Map<string, RegistryClient>();
  readonly #opts: ClientPoolOptions;
  readonly #credentials: CredentialProvider;

  constructor(opts: ClientPoolOptions) {
    this.#opts = opts;
    this.#credentials =
      opts.credentials ??
      defaultCredentials(opts.auths, { env: opts.env, ...(opts.logger ? { logger: opts.logger } : {}) });
  }

  // The client for a source: the mirror rule's transport settings, else kk's registry.auths for that host.
  clientFor(source: ImageSource): RegistryClient {
    const host = mergeHosts(source, resolveRegistryHostOptions(this.#opts.auths, source.registry));
    const key = hostKey(source.registry, host);
    let client = this.#clients.get(key);
    if (!client) {
      client = new RegistryClient(source.registry, {
        ...this.#opts.http,
        ...host,
        credentials: this.#credentials,
        ...(this.#opts.logger ? { logger: this.#opts.logger } : {}),
      });
      this.#clients.set(key, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((c) => c.close()));
    this.#clients.clear();
  }
}
