import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, StaticCredentials } from '../../src/registry/index.js';
import { fixtureSet, pushIndex, seededBytes } from '../support/builders.js';
import { startFileServer, type FileServer } from '../support/file-server.js';
import { startRegistry, TEST_PASSWORD, type TestRegistry } from '../support/registry.js';
import { runCli, tempDir } from '../cli/run-cli.js';

// No secret travels inside an artifact or into any message: kk's registry.auths passwords are removed from
// kko/manifest.json (and the removal recorded), and an ISO URL's user:password@ becomes Basic auth for that
// origin only: a redirect to another origin gets no Authorization header.
const sh = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const ISO_USER = 'iso-user';
const ISO_PW = 'iso-pw-Xq9-never-print-me';
const ISO_A = seededBytes('iso-a', 120_000);
const ISO_B = seededBytes('iso-b', 90_000);
const fx = fixtureSet({ baseSize: 64 * 1024 });

let reg: TestRegistry;
let files: FileServer; // needs Basic auth
let other: FileServer; // another origin, reached by a redirect
let work: { dir: string; cleanup: () => Promise<void> };
let dir: string;

beforeAll(async () => {
  reg = await startRegistry({ mode: 'basic' });
  work = await tempDir('kko-secrets-');
  files = await startFileServer(join(work.dir, 'srv-a'), { basicAuth: { username: ISO_USER, password: ISO_PW } });
  other = await startFileServer(join(work.dir, 'srv-b'));
  const c = new RegistryClient(reg.host, {
    plainHTTP: true,
    credentials: new StaticCredentials({ [reg.host]: reg.creds as { username: string; password: string } }),
  });
  await pushIndex(c, 'kubesphere/pause', '3.9', fx.pause);
  await c.close();
  await mkdir(join(files.root, 'isos'), { recursive: true });
  await writeFile(join(files.root, 'isos/a.iso'), ISO_A);
  await mkdir(join(other.root, 'moved'), { recursive: true });
  await writeFile(join(other.root, 'moved/b.iso'), ISO_B);
  const withCreds = (path: string) => `http://${ISO_USER}:${ISO_PW}@${new URL(files.url).host}${path}`;
  dir = join(work.dir, 'm');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'm.yaml'),
    `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata: {name: s}
spec:
  arches: [amd64]
  operatingSystems:
  - {arch: amd64, type: linux, id: ubuntu, version: "20.04", repository: {iso: {url: "${withCreds('/isos/a.iso')}", checksum: "${sha(ISO_A)}"}}}
  - {arch: amd64, type: linux, id: ubuntu, version: "22.04", repository: {iso: {url: "${withCreds('/moved/b.iso')}", checksum: "${sha(ISO_B)}"}}}
  images:
  - ${reg.host}/kubesphere/pause:3.9
  registry:
    auths:
      "${reg.host}": {username: ${reg.creds?.username}, password: "${TEST_PASSWORD}", plainHTTP: true}
`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([files?.stop(), other?.stop(), reg?.stop()]);
  await work?.cleanup();
});

const SECRETS = [TEST_PASSWORD, ISO_PW];
const exportArgs = [
  'artifact',
  'export',
  '-m',
  'm.yaml',
  '--cache',
  'cache',
  '-o',
  'out.tar.gz',
  '--json',
  '--retries',
  '0',
];

describe('credentials never reach the artifact or the output', () => {
  it('exports with registry.auths and user:password@ ISO URLs; the artifact holds no secret and records what was removed', async () => {
    files.clear();
    other.clear();
    files.add({ path: '/moved/', fault: { kind: 'redirect', to: other.url } });
    const r = await runCli(exportArgs, { cwd: dir, env: { HOME: dir } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const s of [...SECRETS, `${ISO_USER}:`]) expect(r.stdout + r.stderr).not.toContain(s);
    // Basic auth went to the URL's origin, and not to the other origin the redirect led to
    const basic = `Basic ${Buffer.from(`${ISO_USER}:${ISO_PW}`).toString('base64')}`;
    expect(files.requests.filter((q) => q.path === '/isos/a.iso').map((q) => q.authorization)).toEqual([basic]);
    expect(files.requests.find((q) => q.path === '/moved/b.iso')?.authorization).toBe(basic);
    expect(other.requests.map((q) => [q.path, q.authorization])).toEqual([['/moved/b.iso', undefined]]);
    // not one byte of the (uncompressed) artifact is a secret
    const tar = gunzipSync(await readFile(join(dir, 'out.tar.gz')));
    for (const s of [...SECRETS, `${ISO_USER}:`]) expect(tar.includes(s), s).toBe(false);
    const out = join(dir, 'x');
    await mkdir(out);
    await sh('tar', ['xzf', 'out.tar.gz', '-C', out], { cwd: dir });
    const stored = JSON.parse(await readFile(join(out, 'kko/manifest.json'), 'utf8'));
    expect(stored[0].spec.registry.auths).toEqual({ [reg.host]: { plainHTTP: true } }); // host key and settings kept
    expect(stored[0].spec.operatingSystems[0].repository.iso.url).toBe(`${files.url}/isos/a.iso`);
    const inv = JSON.parse(await readFile(join(out, 'kko/inventory.json'), 'utf8'));
    expect(inv.credentialsRemoved).toEqual([
      '[0].spec.operatingSystems[0].repository.iso.url (URL user:password)',
      '[0].spec.operatingSystems[1].repository.iso.url (URL user:password)',
      `[0].spec.registry.auths["${reg.host}"].username`,
      `[0].spec.registry.auths["${reg.host}"].password`,
    ]);
    expect(inv.isos.map((i: { url: string }) => i.url)).toEqual([
      `${files.url}/isos/a.iso`,
      `${files.url}/moved/b.iso`,
    ]);
    const { stdout } = await sh('sha256sum', ['--quiet', '-c', 'kko/SHA256SUMS'], { cwd: out });
    expect(stdout).toBe('');
    // the reader says so: inspect reads what export recorded
    const inspected = await runCli(['artifact', 'inspect', 'out.tar.gz', '--json'], { cwd: dir, env: { HOME: dir } });
    expect(JSON.parse(inspected.stdout).manifest).toEqual({ present: true, redacted: true });
    // deterministic: a second export (all cached) writes the same bytes
    const again = await runCli([...exportArgs.slice(0, -5), '-o', 'again.tar.gz', '--json', '--retries', '0'], {
      cwd: dir,
      env: { HOME: dir },
    });
    expect(again.code).toBe(0);
    expect((await readFile(join(dir, 'again.tar.gz'))).equals(await readFile(join(dir, 'out.tar.gz')))).toBe(true);
  }, 60_000);

  it('--dry-run (text and --json) prints ISO URLs without their user:password', async () => {
    for (const extra of [[], ['--json']]) {
      const r = await runCli(['artifact', 'export', '-m', 'm.yaml', '--dry-run', ...extra], {
        cwd: dir,
        env: { HOME: dir },
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${files.url}/isos/a.iso`);
      for (const s of [...SECRETS, `${ISO_USER}:`]) expect(r.stdout + r.stderr).not.toContain(s);
    }
  });
});
