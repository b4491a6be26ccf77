import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, StaticCredentials } from '../../src/registry/index.js';
import { fixtureSet, pushIndex } from '../support/builders.js';
import { startRegistry, TEST_PASSWORD, type TestRegistry } from '../support/registry.js';
import { runCli, tempDir } from '../cli/run-cli.js';

const fx = fixtureSet({ baseSize: 64 * 1024 });
let basic: TestRegistry;
let tls: TestRegistry;
let token: TestRegistry;
let work: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  [basic, tls, token] = await Promise.all([
    startRegistry({ mode: 'basic' }),
    startRegistry({ mode: 'tls' }),
    startRegistry({ mode: 'token' }),
  ]);
  work = await tempDir('kko-export-auth-');
  for (const r of [basic, tls, token]) {
    const creds = r.creds ? new StaticCredentials({ [r.host]: r.creds }) : undefined;
    const c = new RegistryClient(r.host, {
      plainHTTP: r.mode !== 'tls',
      ...(r.certsDir ? { certsPath: r.certsDir } : {}),
      ...(creds ? { credentials: creds } : {}),
    });
    await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
    await c.close();
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([basic?.stop(), tls?.stop(), token?.stop()]);
  await work?.cleanup();
});

// A manifest that names the private registry directly, with kk's registry.auths entry for it.
async function manifestFor(name: string, r: TestRegistry, auth: string): Promise<string> {
  const dir = join(work.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: a}
spec:
  arches: [amd64, arm64]
  images:
  - ${r.host}/kubesphere/pause:3.9
  registry:
    auths:
      "${r.host}": ${auth}
`,
  );
  return dir;
}

const exportIn = (dir: string) =>
  runCli(['artifact', 'export', '-m', 'm.yaml', '--cache', 'cache', '-o', 'out.tar.gz', '--json', '--retries', '0'], {
    cwd: dir,
    env: { HOME: dir },
  });

describe('export with kk registry.auths (real registry)', () => {
  it('basic auth over plain HTTP with the manifest credentials; a wrong password fails without printing it', async () => {
    const ok = await manifestFor(
      'basic-ok',
      basic,
      `{username: ${basic.creds?.username}, password: "${TEST_PASSWORD}", plainHTTP: true}`,
    );
    const good = await exportIn(ok);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    const bad = await manifestFor(
      'basic-bad',
      basic,
      `{username: ${basic.creds?.username}, password: "wrong-${TEST_PASSWORD}", plainHTTP: true}`,
    );
    const r = await exportIn(bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNAUTHORIZED|401|unauthorized/i);
    expect(r.stdout + r.stderr).not.toContain(TEST_PASSWORD);
  });

  it('TLS with a test CA from certsPath (kk *.crt rule); without it the TLS error is reported', async () => {
    const ok = await manifestFor('tls-ok', tls, `{certsPath: "${tls.certsDir}"}`);
    expect((await exportIn(ok)).code).toBe(0);
    const bad = await manifestFor('tls-bad', tls, '{}');
    const r = await exportIn(bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/certificate|self.signed|TLS/i);
  });

  it('bearer token auth: anonymous pull through the token server works', async () => {
    const dir = await manifestFor('token', token, '{plainHTTP: true}');
    expect((await exportIn(dir)).code).toBe(0);
  });
});
