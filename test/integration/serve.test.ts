import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/artifact-store/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { startServer, type RunningServer } from '../../src/serve/index.js';
import { exportServeFixture, type ServeFixture } from '../support/serve-fixture.js';
import { TEST_PASSWORD, TEST_USER, writeTls } from '../support/registry.js';

// `kko artifact serve` against real clients: skopeo (containers/image, what kk uses) inspects and copies from it,
// node's fetch checks the protocol edges, and every digest is compared with the artifact's and the registry's.

const sh = promisify(execFile);
let fixture: ServeFixture;
let client: RegistryClient;
let env: ServeFixture['env'];
let dir: string;
let store: ArtifactStore;
let srv: RunningServer;

beforeAll(async () => {
  fixture = await exportServeFixture('kko-serve-');
  ({ client, env, dir } = fixture);
  store = await ArtifactStore.open(fixture.artifact);
  srv = await startServer(store, { listen: { host: '127.0.0.1', port: 0 } });
}, 180_000);

afterAll(async () => {
  await srv?.close();
  await store?.close();
  await fixture?.stop();
});

const host = () => srv.url.slice('http://'.length);
const get = (path: string, init: RequestInit = {}) => fetch(`${srv.url}${path}`, init);
const skopeo = (...args: string[]) => sh('skopeo', args, { maxBuffer: 1 << 26 });
const errorCode = async (r: Response) => ((await r.json()) as { errors: Array<{ code: string }> }).errors[0]?.code;

describe('kko artifact serve: skopeo', () => {
  it("inspects every name: the upstream index (registry's digest), the synthesized one, the per-arch manifests", async () => {
    const raw = async (ref: string) =>
      (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${host()}/${ref}`)).stdout;
    const upstream = await client.getManifest('calico/node', 'v3.27.3');
    expect(Buffer.from(await raw('calico/node:v3.27.3')).equals(upstream.bytes)).toBe(true);
    const inspected = JSON.parse(
      (await skopeo('inspect', '--tls-verify=false', `docker://${host()}/calico/node:v3.27.3-arm64`)).stdout,
    ) as { Architecture: string; Digest: string };
    expect(inspected.Architecture).toBe('arm64');
    expect(inspected.Digest).toBe(
      (await store.headManifest({ registry: 'docker.io', repository: 'calico/node', tag: 'v3.27.3-arm64' }))?.digest,
    );
    const api = JSON.parse(await raw('kubesphere/kube-apiserver:v1.28.12')) as { manifests: unknown[] };
    expect(api.manifests).toHaveLength(2);
    // the names kk pushes and containerd sends (?ns) and the full name all answer
    expect(JSON.parse(await raw('docker.io/kubesphere/pause-docker:3.9-amd64')).schemaVersion).toBe(2);
  });

  it('copies whole images (all arches) into an OCI layout with the digests unchanged', async () => {
    const out = join(dir, 'copied');
    await skopeo(
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${host()}/calico/node:v3.27.3`,
      `oci:${out}:node`,
    );
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests[0]?.digest).toBe((await client.getManifest('calico/node', 'v3.27.3')).digest);
    await skopeo(
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${host()}/kubesphere/kube-apiserver:v1.28.12`,
      `oci:${out}:api`,
    );
    // and into the real registry again: what arrives is byte-identical to what the artifact holds
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${host()}/kubesphere/pause-docker:3.9-arm64`,
      `docker://${env.reg.host}/again/pause:3.9-arm64`,
    );
    const again = await client.getManifest('again/pause', '3.9-arm64');
    expect(again.digest).toBe(
      (await store.headManifest({ registry: 'docker.io', repository: 'kubesphere/pause-docker', tag: '3.9-arm64' }))
        ?.digest,
    );
  });
});

describe('kko artifact serve: the protocol (node fetch)', () => {
  let layer: { digest: string; size: number };
  beforeAll(async () => {
    const m = JSON.parse(
      (
        await store.getManifest({ registry: 'docker.io', repository: 'calico/node', tag: 'v3.27.3-amd64' })
      ).bytes.toString(),
    ) as { layers: Array<{ digest: string; size: number }> };
    layer = m.layers.reduce((a, b) => (b.size > a.size ? b : a));
  });
  const blob = (range?: string) =>
    get(`/v2/calico/node/blobs/${layer.digest}`, range ? { headers: { Range: range } } : {});

  it('answers /v2/ and manifests with the distribution headers', async () => {
    const v2 = await get('/v2/');
    expect(v2.status).toBe(200);
    expect(v2.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const head = await get('/v2/calico/node/manifests/v3.27.3', { method: 'HEAD' });
    const upstream = await client.getManifest('calico/node', 'v3.27.3');
    expect([
      head.status,
      head.headers.get('docker-content-digest'),
      head.headers.get('content-length'),
      head.headers.get('content-type'),
    ]).toEqual([200, upstream.digest, String(upstream.bytes.length), upstream.mediaType]);
    const byDigest = await get(`/v2/calico/node/manifests/${upstream.digest}`);
    expect(Buffer.from(await byDigest.arrayBuffer()).equals(upstream.bytes)).toBe(true);
    // containerd's mirror request: the upstream path and ?ns=<upstream host>
    expect((await get('/v2/calico/kko-cni/manifests/v1?ns=quay.io')).status).toBe(200);
    expect((await get('/v2/calico/kko-cni/manifests/v1?ns=docker.io')).status).toBe(200); // no docker.io one: the short path serves
    expect((await get('/v2/quay.io/calico/kko-cni/manifests/v1-amd64')).status).toBe(200);
  });

  it('serves blob ranges: 206 with Content-Range, suffix ranges, an end past the blob cut, 416 past the end', async () => {
    const whole = Buffer.from(await (await blob()).arrayBuffer());
    expect(whole.length).toBe(layer.size);
    const r = await blob('bytes=70000-200000');
    expect([r.status, r.headers.get('content-range'), r.headers.get('content-length')]).toEqual([
      206,
      `bytes 70000-200000/${layer.size}`,
      '130001',
    ]);
    expect(Buffer.from(await r.arrayBuffer()).equals(whole.subarray(70000, 200001))).toBe(true);
    const suffix = await blob('bytes=-10');
    expect(Buffer.from(await suffix.arrayBuffer()).equals(whole.subarray(-10))).toBe(true);
    const open = await blob(`bytes=${layer.size - 5}-99999999999999`);
    expect([open.status, open.headers.get('content-range')]).toEqual([
      206,
      `bytes ${layer.size - 5}-${layer.size - 1}/${layer.size}`,
    ]);
    await open.arrayBuffer();
    const past = await blob(`bytes=${layer.size}-`);
    expect([past.status, past.headers.get('content-range')]).toEqual([416, `bytes */${layer.size}`]);
    expect((await blob('bytes=0-1,5-9')).status).toBe(416);
    const head = await get(`/v2/calico/node/blobs/${layer.digest}`, { method: 'HEAD' });
    expect([
      head.status,
      head.headers.get('content-length'),
      head.headers.get('docker-content-digest'),
      head.headers.get('accept-ranges'),
    ]).toEqual([200, String(layer.size), layer.digest, 'bytes']);
  });

  it('lists the catalog and tags with n/last pagination and a Link to the next page', async () => {
    const all = (await (await get('/v2/_catalog')).json()) as { repositories: string[] };
    expect(all.repositories).toEqual([
      'calico/kko-cni',
      'calico/node',
      'kubesphere/kube-apiserver',
      'kubesphere/pause-docker',
    ]);
    const p1 = await get('/v2/_catalog?n=2');
    expect(((await p1.json()) as { repositories: string[] }).repositories).toEqual(['calico/kko-cni', 'calico/node']);
    expect(p1.headers.get('link')).toBe('</v2/_catalog?n=2&last=calico%2Fnode>; rel="next"');
    const p2 = await get('/v2/_catalog?n=2&last=calico%2Fnode'.replace('%2F', '/'));
    expect(((await p2.json()) as { repositories: string[] }).repositories).toEqual([
      'kubesphere/kube-apiserver',
      'kubesphere/pause-docker',
    ]);
    expect(p2.headers.get('link')).toBeNull();
    const tags = await get('/v2/calico/node/tags/list?n=1');
    expect(await tags.json()).toEqual({ name: 'calico/node', tags: ['v3.27.3'] });
    expect(tags.headers.get('link')).toBe('</v2/calico/node/tags/list?n=1&last=v3.27.3>; rel="next"');
    expect(((await (await get('/v2/calico/node/tags/list?last=v3.27.3')).json()) as { tags: string[] }).tags).toEqual([
      'v3.27.3-amd64',
      'v3.27.3-arm64',
    ]);
  });

  it('answers hostile and wrong requests with 4xx and OCI error JSON, never 500', async () => {
    const cases: Array<[string, RequestInit, number, string?]> = [
      ['/v2/nope/nope/manifests/v1', {}, 404, 'NAME_UNKNOWN'],
      ['/v2/calico/node/manifests/v9', {}, 404, 'MANIFEST_UNKNOWN'],
      [`/v2/calico/node/blobs/sha256:${'0'.repeat(64)}`, {}, 404, 'BLOB_UNKNOWN'],
      ['/v2/calico/node/blobs/sha256:1234', {}, 400, 'DIGEST_INVALID'],
      ['/v2/calico/node/manifests/sha256:zz', {}, 400, 'DIGEST_INVALID'],
      ['/v2/calico/node/manifests/-bad', {}, 400, 'TAG_INVALID'],
      ['/v2/../../etc/passwd/manifests/v1', {}, 404, 'NAME_UNKNOWN'], // fetch resolves the dot segments first
      ['/v2/calico/n%6fde/manifests/v1', {}, 400, 'NAME_INVALID'],
      ['/v2/Calico/Node/manifests/v1', {}, 400, 'NAME_INVALID'],
      ['/v2/_catalog?n=-1', {}, 400, 'PAGINATION_NUMBER_INVALID'],
      ['/v2/_catalog?n=99999999', {}, 400, 'PAGINATION_NUMBER_INVALID'],
      ['/v2/calico/node/manifests/v3.27.3', { method: 'PUT', body: '{}' }, 405, 'UNSUPPORTED'],
      ['/v2/calico/node/blobs/uploads/', { method: 'POST' }, 405, 'UNSUPPORTED'],
      ['/v2/calico/node/blobs/uploads/x', {}, 405, 'UNSUPPORTED'],
      ['/v2/calico/node/manifests/v3.27.3', { method: 'DELETE' }, 405, 'UNSUPPORTED'],
      ['/etc/passwd', {}, 404, 'NAME_UNKNOWN'],
    ];
    for (const [path, init, status, code] of cases) {
      const r = await get(path, init);
      expect([path, r.status]).toEqual([path, status]);
      if (code) expect([path, await errorCode(r)]).toEqual([path, code]);
    }
    // a raw request line fetch would normalise: dot segments and a huge Range
    const rawReq = async (line: string, extra = ''): Promise<string> => {
      const { connect } = await import('node:net');
      return new Promise((resolve, reject) => {
        const s = connect(srv.port, '127.0.0.1', () =>
          s.end(`${line} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`),
        );
        let out = '';
        s.on('data', (d) => (out += d.toString('latin1')))
          .on('end', () => resolve(out))
          .on('error', reject);
      });
    };
    expect(await rawReq('GET /v2/../../../etc/passwd')).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect(await rawReq('GET /v2/calico/%2e%2e/%2e%2e/manifests/v1')).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawReq('GET /v2/calico/node/blobs/../../../../etc/passwd')).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect(await rawReq(`GET /v2/calico/node/blobs/${layer.digest}`, `Range: bytes=${'9'.repeat(40)}-\r\n`)).toMatch(
      /^HTTP\/1\.1 416/,
    );
  });
});

describe('kko artifact serve: TLS and htpasswd (skopeo --cert-dir, --creds)', () => {
  let tls: RunningServer;
  let certsDir: string;
  beforeAll(async () => {
    const tdir = join(dir, 'tls');
    await mkdir(tdir, { recursive: true });
    const t = await writeTls(tdir);
    certsDir = t.certsDir;
    const htpasswd = join(tdir, 'htpasswd');
    await sh('htpasswd', ['-Bbc', htpasswd, TEST_USER, TEST_PASSWORD]);
    tls = await startServer(store, {
      listen: { host: '127.0.0.1', port: 0 },
      tls: { cert: t.cert, key: t.key },
      htpasswd,
    });
  });
  afterAll(async () => tls?.close());

  it('serves skopeo over TLS with the CA and the credentials, and refuses without them', async () => {
    const h = tls.url.slice('https://'.length);
    const ok = await skopeo(
      'inspect',
      '--cert-dir',
      certsDir,
      '--creds',
      `${TEST_USER}:${TEST_PASSWORD}`,
      '--raw',
      `docker://${h}/calico/node:v3.27.3`,
    );
    expect(sha256Of(ok.stdout)).toBe((await client.getManifest('calico/node', 'v3.27.3')).digest);
    const out = join(dir, 'tls-copied');
    await skopeo(
      'copy',
      '--quiet',
      '--src-cert-dir',
      certsDir,
      '--src-creds',
      `${TEST_USER}:${TEST_PASSWORD}`,
      `docker://${h}/kubesphere/kube-apiserver:v1.28.12-amd64`,
      `oci:${out}:api`,
    );
    const noCreds = await skopeo('inspect', '--cert-dir', certsDir, '--raw', `docker://${h}/calico/node:v3.27.3`).catch(
      (e: { stderr: string }) => e,
    );
    expect((noCreds as { stderr: string }).stderr).toMatch(/unauthorized|authentication required/i);
    const wrong = await skopeo(
      'inspect',
      '--cert-dir',
      certsDir,
      '--creds',
      `${TEST_USER}:nope`,
      '--raw',
      `docker://${h}/calico/node:v3.27.3`,
    ).catch((e: { stderr: string }) => e);
    expect((wrong as { stderr: string }).stderr).toMatch(/unauthorized|authentication required/i);
    const noCa = await skopeo(
      'inspect',
      '--creds',
      `${TEST_USER}:${TEST_PASSWORD}`,
      '--raw',
      `docker://${h}/calico/node:v3.27.3`,
    ).catch((e: { stderr: string }) => e);
    expect((noCa as { stderr: string }).stderr).toMatch(/x509|certificate/i);
  });
});

function sha256Of(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
