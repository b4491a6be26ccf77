import { KkoError, ValidationError, type Issue } from '../errors.js';
import type { Logger } from '../log.js';
import { parseRegistryLocation, type ClusterFacts, type RegistryFacts } from '../manifest/index.js';
import { defaultCredentials, resolveRegistryHostOptions, RegistryStore, type HttpOptions } from '../registry/index.js';

// What the command line says about the target registry, over the kk Cluster config's registry block.
export type TargetFlags = {
  readonly registry?: string; // --registry HOST[:PORT][/PATH]
  readonly namespaceOverride?: string;
  readonly plainHTTP?: boolean;
  readonly skipTLSVerify?: boolean;
  readonly certsPath?: string;
};

// The registry block push and check work with: -f's (privateRegistry, namespaceOverride, namespaceRewrite, auths),
// with --registry and the flags over it. Errors in the config's registry block are invalid input, each named.
export function targetRegistry(
  cluster: { file: string; facts: ClusterFacts } | undefined,
  flags: TargetFlags,
): RegistryFacts {
  const errors = (cluster?.facts.issues ?? []).filter(
    (i: Issue) => i.severity === 'error' && i.path?.startsWith('spec.registry'),
  );
  if (errors.length > 0)
    throw new ValidationError(
      'INVALID_INPUT',
      `reading the registry block of ${cluster?.file}: ${errors.length} error(s)`,
      errors,
    );
  const fromFile = cluster?.facts.registry;
  const privateRegistry = flags.registry ?? fromFile?.privateRegistry;
  if (!privateRegistry) {
    const where = cluster
      ? `${cluster.file} has no spec.registry.privateRegistry`
      : 'no --registry and no -f cluster config';
    throw new KkoError('INVALID_INPUT', `choosing the registry to push to: ${where}`, {
      hint: 'pass --registry HOST[:PORT][/PATH], or -f a kk Cluster config with registry.privateRegistry',
    });
  }
  if (flags.registry !== undefined) parseRegistryLocation(flags.registry, '--registry');
  if (flags.namespaceOverride !== undefined)
    parseRegistryLocation(`h.invalid/${flags.namespaceOverride}`, '--namespace-override');
  const override = flags.namespaceOverride ?? fromFile?.namespaceOverride;
  const host = privateRegistry.split('/')[0] as string;
  const tls = {
    ...resolveRegistryHostOptions(fromFile?.auths, host),
    ...definedOnly({ plainHTTP: flags.plainHTTP, skipTLSVerify: flags.skipTLSVerify, certsPath: flags.certsPath }),
  };
  return {
    privateRegistry: privateRegistry.trim().replace(/\/+$/, ''),
    ...(override ? { namespaceOverride: override } : {}),
    ...(fromFile?.namespaceRewrite ? { namespaceRewrite: fromFile.namespaceRewrite } : {}),
    ...(Object.keys(tls).length > 0 ? { auth: tls } : {}),
    ...(fromFile?.auths ? { auths: fromFile.auths } : {}),
  };
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false)) as Partial<T>;
}

export type TargetStoreOptions = {
  readonly env: NodeJS.ProcessEnv;
  readonly http?: HttpOptions;
  readonly logger?: Logger;
};

// The target as a RegistryStore: credentials from registry.auths, then docker's config.json, then containers'
// auth.json; TLS and plain HTTP (opt-in only) for the registry host as the registry block says.
export function registryTarget(reg: RegistryFacts, opts: TargetStoreOptions): RegistryStore {
  const credentials = defaultCredentials(reg.auths, { env: opts.env, ...(opts.logger ? { logger: opts.logger } : {}) });
  const host = reg.privateRegistry.split('/')[0] as string;
  return new RegistryStore({
    description: `registry ${host}`,
    hostOptions: (registry) => ({
      ...opts.http,
      credentials,
      ...(registry === host ? (reg.auth ?? {}) : resolveRegistryHostOptions(reg.auths, registry)),
      ...(opts.logger ? { logger: opts.logger } : {}),
    }),
  });
}
