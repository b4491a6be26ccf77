import type { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient, StaticCredentials, type RegistryError } from '../../src/registry/index.js';
import { fixtureSet, pushImage } from '../support/builders.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const REPO = 'kubesphere/pause';
const SIGNATURE = 'X-Amz-Signature=sig-do-not-print';

// front (the registry origin the client talks to) → 307 → storage (another origin, like S3 with a pre-signed URL).
describe('redirects to blob storage', () => {
  let reg: TestRegistry;
  let front: FaultProxy;
  let storage: FaultProxy;
  let client: RegistryClient;
  const fx = fixtureSet({ baseSize: 16 * 1024 });
  const layer = fx.apiserver.layers[1]!;

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'basic' });
    const basic = `Basic ${Buffer.from(`${reg.creds!.username}:${reg.creds!.password}`).toString('base64')}`;
    front = await startFaultProxy({ upstream: reg.url });
    // The storage side authenticates to the registry on its own, as a pre-signed URL would.
    storage = await startFaultProxy({ upstream: reg.url, injectHeaders: { authorization: basic } });
    client = new RegistryClient(front.host, {
      plainHTTP: true,
      retries: 0,
      credentials: new StaticCredentials({ [front.host]: reg.creds! }),
    });
    await pushImage(client, REPO, '3.9', fx.apiserver);
  });
  beforeEach(() => {
    front.clear();
    storage.clear();
  });
  afterAll(async () => {
    await client?.close();
    await front?.stop();
    await storage?.stop();
    await reg?.stop();
  });

  it('follows a cross-origin redirect without sending Authorization there', async () => {
    front.add({ method: 'GET', path: '/blobs/', fault: { kind: 'redirect', to: storage.url, query: SIGNATURE } });
    const bytes = await readAll(await client.getBlob(REPO, layer.descriptor.digest));
    expect(bytes.equals(layer.bytes)).toBe(true);
    expect(front.seen.filter((s) => s.path.includes('/blobs/'))).toMatchObject([
      { hadAuthorization: true, fault: 'redirect' },
    ]);
    expect(storage.seen).toMatchObject([{ method: 'GET', hadAuthorization: false }]);
    expect(storage.seen[0]?.path).toContain(SIGNATURE);
  });

  it('keeps Authorization on a same-origin redirect', async () => {
    front.add({ method: 'GET', path: '/blobs/', fault: { kind: 'redirect', to: front.url, query: 'hop=2' } });
    const bytes = await readAll(await client.getBlob(REPO, layer.descriptor.digest));
    expect(bytes.equals(layer.bytes)).toBe(true);
    expect(front.seen.filter((s) => s.path.includes('/blobs/')).map((s) => s.hadAuthorization)).toEqual([true, true]);
  });

  it('redacts the pre-signed query string from errors', async () => {
    front.add({ method: 'GET', path: '/blobs/', fault: { kind: 'redirect', to: storage.url, query: SIGNATURE } });
    storage.add({
      method: 'GET',
      path: '/blobs/',
      fault: { kind: 'status', status: 403, body: '{"errors":[{"code":"DENIED","message":"signature expired"}]}' },
    });
    const err = (await client.getBlob(REPO, layer.descriptor.digest).catch((e: unknown) => e)) as RegistryError;
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 403 });
    expect(err.message).toContain(`${storage.url}/v2/${REPO}/blobs/${layer.descriptor.digest}?…`);
    expect(`${err.message} ${err.url} ${err.stack}`).not.toContain('sig-do-not-print');
  });
});
