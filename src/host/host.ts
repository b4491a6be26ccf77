// The settings of one host kko talks to (a registry, a registry mirror, a file server), for sources and
// destinations alike: regclient's config.Host. A mirror rule, kk's registry.auths and RegistryClient's options
// all speak this one shape; the HTTP transport (registry/http.ts) reads it.

// Who we are to a host.
export type Credential = {
  readonly username: string;
  readonly password: string;
};

export interface CredentialProvider {
  // Credentials for `host` ("127.0.0.1:5000", "docker.io"), or undefined to go anonymous.
  resolve(host: string): Promise<Credential | undefined>;
}

// How to trust a host's TLS, as kk spells it. certsPath is a certs.d folder: every *.crt is a CA added to the
// system roots, each *.cert + *.key pair a client certificate (registry/tls.ts reads it).
export type HostTls = {
  skipTLSVerify?: boolean;
  certsPath?: string;
};

export type Host = HostTls & {
  plainHTTP?: boolean; // http:// instead of https://: a per-host opt-in, never inferred from the name
  credentials?: CredentialProvider;
  maxConcurrency?: number; // requests in flight to the host's origin at once
};

// The connection part of a host (what decides the scheme and the TLS pool), e.g. from kk's registry.auths.
export type HostConnection = Pick<Host, 'plainHTTP' | 'skipTLSVerify' | 'certsPath'>;

// One host's settings from two places: an opt-in (plainHTTP, skipTLSVerify) set in either holds, and
// `primary`'s certsPath (a mirror rule's) wins over `fallback`'s (kk's registry.auths).
export function mergeHosts(primary: HostConnection, fallback: HostConnection): HostConnection {
  const certsPath = primary.certsPath ?? fallback.certsPath;
  return {
    plainHTTP: Boolean(primary.plainHTTP) || Boolean(fallback.plainHTTP),
    skipTLSVerify: Boolean(primary.skipTLSVerify) || Boolean(fallback.skipTLSVerify),
    ...(certsPath ? { certsPath } : {}),
  };
}

// Equal keys mean the same server reached the same way: one client (one connection pool) may serve both.
export function hostKey(name: string, host: HostConnection): string {
  return JSON.stringify([name, Boolean(host.plainHTTP), Boolean(host.skipTLSVerify), host.certsPath ?? '']);
}
