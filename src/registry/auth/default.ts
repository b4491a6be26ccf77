import { ContainersAuthCredentials, DockerConfigCredentials, type ConfigFileOptions } from './config-files.js';
import { ChainCredentials, kkAuthsCredentials, type CredentialProvider, type KkAuthEntry } from './credentials.js';

// The usual order: the manifest's registry.auths, then docker's config.json, then containers' auth.json.
export function defaultCredentials(
  auths: Readonly<Record<string, KkAuthEntry>> | null | undefined,
  opts: ConfigFileOptions = {},
): CredentialProvider {
  return new ChainCredentials([
    kkAuthsCredentials(auths),
    new DockerConfigCredentials(opts),
    new ContainersAuthCredentials(opts),
  ]);
}
