import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DockerConfigCredentials,
  RegistryClient,
  StaticCredentials,
  type RegistryError,
} from '../../src/registry/index.js';
import { fixtureSet, pushImage } from '../support/builders.js';
import { startRegistry, TEST_PASSWORD, TEST_USER, type TestRegistry } from '../support/registry.js';

// The password must not leak through message, stack, cause chain or inspect output.
function expectNoSecret(err: unknown): void {
  const text = [String(err), (err as Error).stack ?? '', inspect(err, { depth: 10 }), JSON.stringify(err)].join('\n');
  expect(text).not.toContain(TEST_PASSWORD);
  expect(text).not.toContain(Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64'));
}

async function caught(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    return err as RegistryError;
  }
  throw new Error('expected a rejection');
}

const fx = fixtureSet({ baseSize: 32 * 1024 });

// Plain-HTTP clients of the block's registry (no retries), optionally with credentials; closed in afterAll.
function clientFactory(registry: () => TestRegistry) {
  const clients: RegistryClient[] = [];
  const client = (creds?: { username: string; password: string }): RegistryClient => {
    const r = registry();
    const c = new RegistryClient(r.host, {
      plainHTTP: true,
      retries: 0,
      ...(creds ? { credentials: new StaticCredentials({ [r.host]: creds }) } : {}),
    });
    clients.push(c);
    return c;
  };
  return { client, clients };
}

describe('basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  const { client, clients } = clientFactory(() => reg);

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'basic' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
  });

  it('pushes and pulls with good credentials', async () => {
    const c = client(reg.creds);
    await c.ping();
    const digest = await pushImage(c, 'kubesphere/kube-apiserver', 'v1.28.0', fx.apiserver);
    expect((await c.getManifest('kubesphere/kube-apiserver', 'v1.28.0')).digest).toBe(digest);
  });

  it('refuses anonymous access with UNAUTHORIZED', async () => {
    const err = await caught(client().getManifest('kubesphere/kube-apiserver', 'v1.28.0'));
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });

  it('refuses a wrong password with UNAUTHORIZED, and no secret appears anywhere in the error', async () => {
    const bad = client({ username: TEST_USER, password: `${TEST_PASSWORD}-wrong` });
    const err = await caught(bad.ping());
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expectNoSecret(err);
    const err2 = await caught(bad.getManifest('kubesphere/kube-apiserver', 'v1.28.0'));
    expect(err2.code).toBe('UNAUTHORIZED');
    expectNoSecret(err2);
  });

  it('reads credentials from a docker config.json (base64 auth)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kko-docker-'));
    try {
      const auth = Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64');
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
      const c = new RegistryClient(reg.host, {
        plainHTTP: true,
        credentials: new DockerConfigCredentials({ env: { DOCKER_CONFIG: dir } }),
      });
      clients.push(c);
      expect((await c.headManifest('kubesphere/kube-apiserver', 'v1.28.0'))?.digest).toBe(
        fx.apiserver.manifest.descriptor.digest,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bearer token auth', () => {
  let reg: TestRegistry;
  const { client, clients } = clientFactory(() => reg);

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'token' });
    await pushImage(client(reg.creds), 'kubesphere/kube-apiserver', 'v1.28.0', fx.apiserver);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
  });

  it('pulls anonymously (the token server grants pull)', async () => {
    const c = client();
    await c.ping();
    const m = await c.getManifest('kubesphere/kube-apiserver', 'v1.28.0');
    expect(m.digest).toBe(fx.apiserver.manifest.descriptor.digest);
  });

  it('refuses an anonymous push with UNAUTHORIZED', async () => {
    const err = await caught(pushImage(client(), 'anon/push', 'v1', fx.scheduler));
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401, method: 'POST' });
    expect(err.ociErrors.map((e) => e.code)).toEqual(['UNAUTHORIZED']);
  });

  it('pushes with credentials', async () => {
    const digest = await pushImage(client(reg.creds), 'kubesphere/kube-scheduler', 'v1.28.0', fx.scheduler);
    expect(digest).toBe(fx.scheduler.manifest.descriptor.digest);
  });

  it('reuses one token per scope set (token server hits counted)', async () => {
    const c = client(reg.creds);
    const before = reg.token!.requests.length;
    const repo = 'kubesphere/kube-apiserver';
    await c.getManifest(repo, 'v1.28.0');
    await c.headManifest(repo, 'v1.28.0');
    for (const l of fx.apiserver.layers) await c.headBlob(repo, l.descriptor.digest);
    const blob = await c.getBlob(repo, fx.apiserver.config.descriptor.digest);
    for await (const _ of blob) void _;
    const hits = reg.token!.requests.slice(before);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ user: TEST_USER, scopes: [`repository:${repo}:pull`] });
  });

  it('shares one token exchange between concurrent requests', async () => {
    const c = client(reg.creds);
    await c.ping();
    const before = reg.token!.requests.length;
    const repo = 'kubesphere/kube-apiserver';
    await Promise.all([...fx.apiserver.layers, fx.apiserver.config].map((b) => c.headBlob(repo, b.descriptor.digest)));
    expect(reg.token!.requests.slice(before)).toHaveLength(1);
  });

  it('fails bad credentials at the token server with UNAUTHORIZED and no secret in the error', async () => {
    const err = await caught(
      client({ username: TEST_USER, password: `${TEST_PASSWORD}-bad` }).getManifest(
        'kubesphere/kube-apiserver',
        'v1.28.0',
      ),
    );
    expect(err.code).toBe('UNAUTHORIZED');
    expectNoSecret(err);
  });
});
