import { describe, expect, it } from 'vitest';
import { redactManifests } from './redact.js';

describe('redactManifests', () => {
  it('drops secret fields anywhere, inline private keys and URL userinfo; keeps hosts, settings and order; leaves the input alone', () => {
    const input = [
      {
        spec: {
          registry: {
            auths: {
              'r.example:5000': { username: 'u', password: 'p', plainHTTP: true },
              'q.example': { auth: 'dTpw', identityToken: 't', certsPath: '/etc/certs' },
            },
          },
          tls: { keyPem: '-----BEGIN EC PRIVATE KEY-----\nMHc…', caPem: '-----BEGIN CERTIFICATE-----' },
          url: 'https://a:b@h/x',
          empty: { password: '' },
        },
      },
    ];
    const copy = structuredClone(input);
    const r = redactManifests(input);
    expect(r.value).toEqual([
      {
        spec: {
          registry: { auths: { 'r.example:5000': { plainHTTP: true }, 'q.example': { certsPath: '/etc/certs' } } },
          tls: { caPem: '-----BEGIN CERTIFICATE-----' },
          url: 'https://h/x',
          empty: { password: '' },
        },
      },
    ]);
    expect(r.removed).toEqual([
      '[0].spec.registry.auths["r.example:5000"].username',
      '[0].spec.registry.auths["r.example:5000"].password',
      '[0].spec.registry.auths["q.example"].auth',
      '[0].spec.registry.auths["q.example"].identityToken',
      '[0].spec.tls.keyPem',
      '[0].spec.url (URL user:password)',
    ]);
    expect(input).toEqual(copy);
  });
});
