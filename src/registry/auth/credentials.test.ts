import { describe, expect, it } from 'vitest';
import {
  anonymousCredentials,
  ChainCredentials,
  kkAuthsCredentials,
  normalizeRegistryHost,
  resolveRegistryHostOptions,
  StaticCredentials,
} from './credentials.js';

describe('normalizeRegistryHost', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['http://Reg.Example.com:5000/', 'reg.example.com:5000'],
    ['dockerhub.kubekey.local', 'dockerhub.kubekey.local'],
    ['127.0.0.1:5000/some/path', '127.0.0.1:5000'],
  ])('%s → %s', (key, want) => {
    expect(normalizeRegistryHost(key)).toBe(want);
  });
});

describe('static kk registry.auths', () => {
  const auths = {
    'dockerhub.kubekey.local': {
      username: 'admin',
      password: 'Harbor12345',
      skipTLSVerify: true,
      certsPath: '/etc/certs/kk',
    },
    'https://plain.local:5000': { username: 'u', password: null, plainHTTP: true },
    'anon.local': { skipTLSVerify: true },
  };

  it('matches hosts exactly after normalization (no suffix matching)', async () => {
    const p = kkAuthsCredentials(auths);
    expect(await p.resolve('dockerhub.kubekey.local')).toEqual({ username: 'admin', password: 'Harbor12345' });
    expect(await p.resolve('plain.local:5000')).toEqual({ username: 'u', password: '' });
    expect(await p.resolve('evil.dockerhub.kubekey.local')).toBeUndefined();
    expect(await p.resolve('plain.local')).toBeUndefined();
    expect(await p.resolve('anon.local')).toBeUndefined();
  });

  it('gives the transport settings of a host', () => {
    expect(resolveRegistryHostOptions(auths, 'dockerhub.kubekey.local')).toEqual({
      skipTLSVerify: true,
      certsPath: '/etc/certs/kk',
    });
    expect(resolveRegistryHostOptions(auths, 'plain.local:5000')).toEqual({ plainHTTP: true });
    expect(resolveRegistryHostOptions(null, 'x')).toEqual({});
  });
});

describe('ChainCredentials', () => {
  it('returns the first provider that answers', async () => {
    const a = new StaticCredentials({ 'a.local': { username: 'from-a', password: '1' } });
    const b = new StaticCredentials({
      'a.local': { username: 'from-b', password: '2' },
      'b.local': { username: 'only-b', password: '3' },
    });
    const chain = new ChainCredentials([anonymousCredentials, a, b]);
    expect((await chain.resolve('a.local'))?.username).toBe('from-a');
    expect((await chain.resolve('b.local'))?.username).toBe('only-b');
    expect(await chain.resolve('c.local')).toBeUndefined();
  });
});
