import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, StaticCredentials, type RegistryError } from '../../src/registry/index.js';
import { fixtureSet, pushImage } from '../support/builders.js';
import { run } from '../support/exec.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

describe('TLS registry with a test CA (certsPath)', () => {
  let reg: TestRegistry;
  const clients: RegistryClient[] = [];
  const fx = fixtureSet({ baseSize: 32 * 1024 });
  const client = (opts: { certsPath?: string; skipTLSVerify?: boolean }): RegistryClient => {
    const c = new RegistryClient(reg.host, { ...opts, credentials: new StaticCredentials({ [reg.host]: reg.creds! }) });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'tls', tlsBasicAuth: true });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
  });

  it('pushes and pulls over https with the CA from a kk certs dir (*.crt)', async () => {
    const c = client({ certsPath: reg.certsDir! });
    await c.ping();
    const digest = await pushImage(c, 'kubesphere/kube-apiserver', 'v1.28.0', fx.apiserver);
    expect((await c.getManifest('kubesphere/kube-apiserver', 'v1.28.0')).digest).toBe(digest);
  });

  it('fails without the CA: NETWORK_ERROR, not retried, with a hint', async () => {
    const started = Date.now();
    const err = (await client({})
      .ping()
      .catch((e: unknown) => e)) as RegistryError;
    expect(err).toMatchObject({ code: 'NETWORK_ERROR', retryable: false });
    expect(err.message).toMatch(/SELF_SIGNED|CERT/);
    expect(err.hint).toMatch(/certsPath/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('connects with skipTLSVerify', async () => {
    await expect(client({ skipTLSVerify: true }).ping()).resolves.toBeUndefined();
  });

  it('fails on a missing certs dir with FILE_NOT_FOUND', async () => {
    await expect(client({ certsPath: `${reg.dir}/no-such-dir` }).ping()).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
  });

  it('serves skopeo with the same certs dir', async () => {
    const out = await run('skopeo', [
      'inspect',
      '--raw',
      '--cert-dir',
      reg.certsDir!,
      '--creds',
      `${reg.creds!.username}:${reg.creds!.password}`,
      `docker://${reg.host}/kubesphere/kube-apiserver:v1.28.0`,
    ]);
    expect(JSON.parse(out)).toMatchObject({ schemaVersion: 2 });
  });
});
