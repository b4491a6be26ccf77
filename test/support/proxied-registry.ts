import { RegistryClient } from '../../src/registry/index.js';
import { tempDir } from '../cli/run-cli.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startRegistry, type TestRegistry } from './registry.js';

// A plain docker-registry with the fault proxy in front of it (the push tests' target); stop() ends both.
export type RegistryBehindProxy = { reg: TestRegistry; proxy: FaultProxy; stop: () => Promise<void> };

export async function startRegistryBehindProxy(): Promise<RegistryBehindProxy> {
  const reg = await startRegistry({ mode: 'plain' });
  const proxy = await startFaultProxy({ upstream: reg.url });
  return {
    reg,
    proxy,
    stop: async () => {
      await proxy.stop();
      await reg.stop();
    },
  };
}

// What the export integration tests share: a plain docker-registry behind the fault proxy, a temp dir, and a
// client to seed the registry with; stop() ends the proxy and the registry (by pid) and removes the dir.
export type ProxiedRegistry = {
  reg: TestRegistry;
  proxy: FaultProxy;
  work: { dir: string; cleanup: () => Promise<void> };
  stop: () => Promise<void>;
};

export async function startProxiedRegistry(
  prefix: string,
  seed: (c: RegistryClient) => Promise<void>,
): Promise<ProxiedRegistry> {
  const { reg, proxy, stop } = await startRegistryBehindProxy();
  const work = await tempDir(prefix);
  const c = new RegistryClient(reg.host, { plainHTTP: true });
  try {
    await seed(c);
  } finally {
    await c.close();
  }
  return {
    reg,
    proxy,
    work,
    stop: async () => {
      await stop();
      await work.cleanup();
    },
  };
}
