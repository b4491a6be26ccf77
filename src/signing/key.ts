import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KkoError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { pathExists } from '../util/path-exists.js';

// Keys for artifact signatures (#12): ECDSA P-256, as cosign makes them. The public key is SPKI PEM
// ("-----BEGIN PUBLIC KEY-----", what `cosign generate-key-pair` writes to cosign.pub); the private key is
// unencrypted PKCS#8 PEM (SEC1 "EC PRIVATE KEY" is read too). cosign's encrypted "SIGSTORE PRIVATE KEY" is not read.

const CURVE = 'prime256v1'; // OpenSSL's name of NIST P-256
const MAX_KEY_BYTES = 64 * 1024;

export type KeyPairPem = { readonly privatePem: string; readonly publicPem: string };

// A fresh P-256 key pair as PEM text.
export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: CURVE });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

async function readKeyFile(path: string, what: string): Promise<Buffer> {
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_KEY_BYTES)
      throw new KkoError('INVALID_INPUT', `reading ${what} ${path}: ${bytes.length} bytes is not a PEM key`);
    return bytes;
  } catch (err) {
    if (err instanceof KkoError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new KkoError('FILE_NOT_FOUND', `reading ${what} ${path}: no such file`, {
        hint: 'make a key pair with `kko key generate`',
      });
    throw new KkoError('INVALID_INPUT', `reading ${what} ${path}: ${code ?? String(err)}`, { cause: err });
  }
}

function assertP256(key: KeyObject, path: string, what: string): KeyObject {
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
  if (curve !== CURVE)
    throw new KkoError(
      'INVALID_INPUT',
      `${what} ${path}: a ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''} key, not ECDSA P-256`,
      { hint: 'kko signs with ECDSA P-256 keys (`kko key generate`, or cosign generate-key-pair for the public key)' },
    );
  return key;
}

// The private key of PATH (PKCS#8 or SEC1 PEM, unencrypted, P-256). Its bytes are never part of an error message.
export async function loadPrivateKey(path: string): Promise<KeyObject> {
  const bytes = await readKeyFile(path, 'the private key');
  const text = bytes.toString('utf8');
  if (text.includes('ENCRYPTED'))
    throw new KkoError('INVALID_INPUT', `the private key ${path}: it is encrypted`, {
      hint: 'kko reads unencrypted PKCS#8 or SEC1 PEM keys (`kko key generate`); cosign.key files are not read',
    });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: bytes, format: 'pem' });
  } catch {
    throw new KkoError(
      'INVALID_INPUT',
      `the private key ${path}: not a PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY")`,
      { hint: 'pass the .key file `kko key generate` wrote' },
    );
  }
  return assertP256(key, path, 'the private key');
}

// The public key of PATH (SPKI PEM, as cosign.pub; P-256).
export async function loadPublicKey(path: string): Promise<KeyObject> {
  const bytes = await readKeyFile(path, 'the public key');
  if (!bytes.toString('utf8').includes('-----BEGIN PUBLIC KEY-----')) {
    throw new KkoError('INVALID_INPUT', `the public key ${path}: not a PEM public key ("-----BEGIN PUBLIC KEY-----")`, {
      hint: 'pass the .pub file `kko key generate` (or cosign generate-key-pair) wrote, not the private key',
    });
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: bytes, format: 'pem' });
  } catch {
    throw new KkoError('INVALID_INPUT', `the public key ${path}: not a readable SPKI PEM public key`);
  }
  return assertP256(key, path, 'the public key');
}

// Write PREFIX.key (mode 0600) and PREFIX.pub; an existing file is kept unless `force`. Each goes to a temp name first.
export async function writeKeyPair(
  prefix: string,
  pair: KeyPairPem,
  force = false,
): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  for (const p of [privatePath, publicPath]) {
    if (!force && (await pathExists(p)))
      throw new KkoError('FILE_EXISTS', `writing ${p}: it exists`, {
        hint: 'pass --force to replace the key pair, or choose another --output-key-prefix',
      });
  }
  // Each fsynced before its rename and the folder after (util/atomic-write.ts): a key pair that comes back empty after
  // a power loss would sign nothing, or worse, be replaced by the next `--force`.
  const put = async (path: string, text: string, mode: number): Promise<void> => writeFileAtomic(path, text, { mode });
  await put(privatePath, pair.privatePem, 0o600);
  await put(publicPath, pair.publicPem, 0o644);
  return { privatePath, publicPath };
}
