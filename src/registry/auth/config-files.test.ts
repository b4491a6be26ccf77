import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContainersAuthCredentials,
  DockerConfigCredentials,
  runCredentialHelper,
  type HelperRunner,
} from './config-files.js';
import { defaultCredentials } from './default.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('credential files', () => {
  let dir: string;
  const calls: Array<[string, string]> = [];
  const fakeHelper: HelperRunner = async (name, server) => {
    calls.push([name, server]);
    if (server === 'helped.local' || server === 'https://index.docker.io/v1/')
      return JSON.stringify({ ServerURL: server, Username: `${name}-user`, Secret: 's3cret' });
    if (server === 'token.local') return JSON.stringify({ ServerURL: server, Username: '<token>', Secret: 'identity' });
    return undefined;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kko-creds-'));
    await mkdir(join(dir, 'docker'));
    await writeFile(
      join(dir, 'docker', 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
          'reg.local:5000': { auth: b64('user:pa:ss') },
          'http://split.local': { username: 'split', password: 'pw' },
          'helped.local': { auth: b64('file-user:file-pass') },
          'fallback.local': { auth: b64('fb-user:fb-pass') },
          'identity.local': { identitytoken: 'refresh' },
        },
        credHelpers: { 'helped.local': 'kkotest', 'fallback.local': 'kkotest', 'token.local': 'kkotest' },
      }),
    );
    await mkdir(join(dir, 'run', 'containers'), { recursive: true });
    await writeFile(
      join(dir, 'run', 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'podman.local': { auth: b64('pod:man') } } }),
    );
    await writeFile(
      join(dir, 'explicit-auth.json'),
      JSON.stringify({ auths: { 'explicit.local': { auth: b64('ex:plicit') } } }),
    );
    await writeFile(join(dir, 'store.json'), JSON.stringify({ credsStore: 'kkotest', auths: { 'x.local': {} } }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const docker = (): DockerConfigCredentials =>
    new DockerConfigCredentials({ env: { DOCKER_CONFIG: join(dir, 'docker') }, runHelper: fakeHelper });

  it.each([
    ['docker.io', { username: 'hubuser', password: 'hubpass' }],
    ['reg.local:5000', { username: 'user', password: 'pa:ss' }],
    ['split.local', { username: 'split', password: 'pw' }],
    ['nowhere.local', undefined],
    ['identity.local', undefined],
  ])('docker config.json auths: %s', async (host, want) => {
    expect(await docker().resolve(host)).toEqual(want);
  });

  it('asks credHelpers first, falls back to auths when the helper has nothing, ignores identity tokens', async () => {
    expect(await docker().resolve('helped.local')).toEqual({ username: 'kkotest-user', password: 's3cret' });
    expect(await docker().resolve('fallback.local')).toEqual({ username: 'fb-user', password: 'fb-pass' });
    expect(await docker().resolve('token.local')).toBeUndefined();
  });

  it('uses credsStore for every host, with the legacy URL for Docker Hub', async () => {
    const p = new DockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, homeDir: dir, runHelper: fakeHelper });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'kkotest' }));
    calls.length = 0;
    expect(await p.resolve('docker.io')).toEqual({ username: 'kkotest-user', password: 's3cret' });
    expect(calls).toEqual([['kkotest', 'https://index.docker.io/v1/']]);
  });

  it('finds ~/.docker/config.json when DOCKER_CONFIG is unset, and a missing file means anonymous', async () => {
    expect(new DockerConfigCredentials({ env: {}, homeDir: '/home/u' }).path).toBe('/home/u/.docker/config.json');
    expect(
      await new DockerConfigCredentials({ env: {}, homeDir: join(dir, 'none') }).resolve('docker.io'),
    ).toBeUndefined();
  });

  it('rejects a broken config file without echoing it', async () => {
    await writeFile(join(dir, 'broken.json'), '{"auths": {"x": {"auth": "c2VjcmV0"}');
    const p = new ContainersAuthCredentials({ env: { REGISTRY_AUTH_FILE: join(dir, 'broken.json') } });
    const err = await p.resolve('x').catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'INVALID_INPUT' });
    expect((err as Error).message).not.toContain('c2VjcmV0');
  });

  it.each([
    [
      'a 1 MB helper name',
      `h${'x'.repeat(1024 * 1024)}!`,
      /^credential helper name "hx+"… \(1048578 characters\) is not valid$/,
    ],
    [
      'control characters',
      'ev\u001b]0;pwned\u0007\r\n\u009bil',
      /^credential helper name "ev\\u001b\]0;pwned\\u0007\\r\\n\\u009bil" is not valid$/,
    ],
  ])('refuses %s in credsStore, quoted, cut and escaped', async (_what, helper, want) => {
    const sub = join(dir, `bad-helper-${helper.length}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'config.json'), JSON.stringify({ credsStore: helper }));
    const err = await new DockerConfigCredentials({ env: { DOCKER_CONFIG: sub }, runHelper: fakeHelper })
      .resolve('x.local')
      .catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'INVALID_INPUT' });
    expect((err as Error).message).toMatch(want);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
    expect((err as Error).message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('reads containers auth.json from REGISTRY_AUTH_FILE, else XDG_RUNTIME_DIR', async () => {
    const explicit = new ContainersAuthCredentials({
      env: { REGISTRY_AUTH_FILE: join(dir, 'explicit-auth.json'), XDG_RUNTIME_DIR: join(dir, 'run') },
    });
    expect(await explicit.resolve('explicit.local')).toEqual({ username: 'ex', password: 'plicit' });
    expect(await explicit.resolve('podman.local')).toBeUndefined();
    const xdg = new ContainersAuthCredentials({ env: { XDG_RUNTIME_DIR: join(dir, 'run') }, homeDir: dir });
    expect(await xdg.resolve('podman.local')).toEqual({ username: 'pod', password: 'man' });
    expect(xdg.paths).toEqual([
      join(dir, 'run', 'containers', 'auth.json'),
      join(dir, '.config', 'containers', 'auth.json'),
    ]);
  });

  it('chains kk auths → docker → containers by default', async () => {
    const env = { DOCKER_CONFIG: join(dir, 'docker'), XDG_RUNTIME_DIR: join(dir, 'run') };
    const p = defaultCredentials(
      { 'reg.local:5000': { username: 'kk', password: 'wins' } },
      { env, homeDir: dir, runHelper: fakeHelper },
    );
    expect(await p.resolve('reg.local:5000')).toEqual({ username: 'kk', password: 'wins' });
    expect(await p.resolve('split.local')).toEqual({ username: 'split', password: 'pw' });
    expect(await p.resolve('podman.local')).toEqual({ username: 'pod', password: 'man' });
  });

  describe('runCredentialHelper (a real executable on PATH)', () => {
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      const bin = join(dir, 'bin');
      await mkdir(bin);
      const script = [
        '#!/bin/sh',
        'read -r server',
        'if [ "$1" != get ]; then exit 3; fi',
        'case "$server" in',
        '  good.local) printf \'{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\' "$server" ;;',
        '  broken.local) echo "helper-secret leaked on failure" >&2; echo "helper-secret"; exit 2 ;;',
        '  *) echo "credentials not found in native keychain"; exit 1 ;;',
        'esac',
      ].join('\n');
      await writeFile(join(bin, 'docker-credential-kkotest'), script);
      await chmod(join(bin, 'docker-credential-kkotest'), 0o755);
      env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    });

    it('returns stdout on success and undefined for "credentials not found"', async () => {
      expect(JSON.parse((await runCredentialHelper('kkotest', 'good.local', env)) ?? '{}')).toMatchObject({
        Username: 'helper-user',
      });
      expect(await runCredentialHelper('kkotest', 'other.local', env)).toBeUndefined();
    });

    it('fails with IO_ERROR and never repeats what the helper printed', async () => {
      const err = (await runCredentialHelper('kkotest', 'broken.local', env).catch((e: unknown) => e)) as Error & {
        code: string;
      };
      expect(err.code).toBe('IO_ERROR');
      expect(err.message).not.toContain('helper-secret');
      const missing = (await runCredentialHelper('does-not-exist', 'x', env).catch((e: unknown) => e)) as Error & {
        code: string;
      };
      expect(missing).toMatchObject({ code: 'IO_ERROR' });
      expect(missing.message).toContain('ENOENT');
    });

    it('works end to end through DockerConfigCredentials', async () => {
      await writeFile(join(dir, 'bin', 'config.json'), JSON.stringify({ credHelpers: { 'good.local': 'kkotest' } }));
      const p = new DockerConfigCredentials({ env: { ...env, DOCKER_CONFIG: join(dir, 'bin') } });
      expect(await p.resolve('good.local')).toEqual({ username: 'helper-user', password: 'helper-secret' });
    });
  });
});
