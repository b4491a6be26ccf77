import { withoutUserinfo } from '../download/index.js';

// Fields whose values are secrets wherever they appear (kk's registry.auths, docker config style entries).
const SECRET_KEYS = new Set([
  'username',
  'password',
  'auth',
  'token',
  'identitytoken',
  'registrytoken',
  'accesstoken',
  'refreshtoken',
  'secret',
  'privatekey',
  'key',
]);
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export type Redacted<T> = { value: T; removed: string[] };

// A copy of the manifests fit to travel inside an artifact: secret fields dropped (registry host keys and every
// other setting kept), inline private keys dropped, user:password@ taken out of URLs. `removed` lists the field
// paths, in document order, as `[0].spec.registry.auths["host:5000"].password` (deterministic for one input).
export function redactManifests<T>(manifests: readonly T[]): Redacted<T[]> {
  const removed: string[] = [];
  const value = manifests.map((m, i) => walk(m, `[${i}]`, removed) as T);
  return { value, removed };
}

function walk(v: unknown, path: string, removed: string[]): unknown {
  if (typeof v === 'string') {
    const bare = withoutUserinfo(v);
    if (bare !== v) removed.push(`${path} (URL user:password)`);
    return bare;
  }
  if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, removed));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const p = `${path}${/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`;
    if (
      (SECRET_KEYS.has(k.toLowerCase()) && x !== null && x !== undefined && x !== '') ||
      (typeof x === 'string' && PRIVATE_KEY.test(x))
    ) {
      removed.push(p);
      continue;
    }
    out[k] = walk(x, p, removed);
  }
  return out;
}
