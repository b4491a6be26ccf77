// The host module's only public door: the settings of one host, for sources and destinations alike.
export { mergeHosts, hostKey } from './host.js';
export type { Credential, CredentialProvider, Host, HostConnection, HostTls } from './host.js';
