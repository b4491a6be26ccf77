import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { TarEntry } from '../archive/tar.js';
import { INVENTORY_NAME, SIGNATURE_NAME } from '../artifact-format/index.js';
import { KkoError } from '../errors.js';

// The artifact signature (#12): what `cosign sign-blob --key cosign.key kko/inventory.json` writes, the base64 (one
// line, no newline) of an ASN.1 DER ECDSA P-256 signature over the SHA-256 of kko/inventory.json. It is stored as
// kko/inventory.json.sig, so `openssl dgst -sha256 -verify pub.pem -signature <(base64 -d sig) kko/inventory.json`
// and `cosign verify-blob --key cosign.pub --signature sig kko/inventory.json` check it too.

// Signs bytes with one key; returns the DER signature (sigstore's Signer role, for one key).
export interface Signer {
  sign(data: Buffer): Buffer;
}

// The Signer of a P-256 private key (node:crypto: OpenSSL's ECDSA, a fresh nonce per signature).
export class KeySigner implements Signer {
  readonly #key: KeyObject;
  constructor(key: KeyObject) {
    this.#key = key;
  }
  sign(data: Buffer): Buffer {
    return cryptoSign('sha256', data, { key: this.#key, dsaEncoding: 'der' });
  }
}

// The file content of a signature: base64 without a newline (cosign sign-blob's output).
export function encodeSignature(der: Buffer): Buffer {
  return Buffer.from(der.toString('base64'));
}

// The DER bytes of a signature file: base64, whitespace and line breaks allowed (`openssl … | base64` wraps lines).
export function decodeSignature(file: Buffer): Buffer {
  const text = file.toString('latin1').replace(/\s+/g, '');
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0)
    throw new KkoError('INVALID_INPUT', 'not base64 (cosign sign-blob writes the base64 of a DER signature)');
  const der = Buffer.from(text, 'base64');
  if (der[0] !== 0x30 || der.length < 8 || der.length > 80)
    throw new KkoError('INVALID_INPUT', `not a DER ECDSA signature (${der.length} bytes after base64)`);
  return der;
}

// The kko/inventory.json.sig entry for the inventory among `meta` (written first, next to the inventory).
export function signatureEntry(meta: readonly TarEntry[], signer: Signer): TarEntry {
  const inventory = meta.find((e) => e.name === INVENTORY_NAME);
  if (!inventory || !('data' in inventory))
    throw new KkoError('INTERNAL', `signing: no ${INVENTORY_NAME} among the metadata`);
  return { name: SIGNATURE_NAME, data: encodeSignature(signer.sign(inventory.data)), first: true };
}

// Checks a signature file against the inventory bytes with one public key; `keyName` (the key's path) goes into
// the message. Throws INVALID_INPUT for an unreadable signature, ARTIFACT_CORRUPT when it does not verify.
export function inventoryVerifier(
  publicKey: KeyObject,
  keyName: string,
): (inventory: Buffer, signature: Buffer) => void {
  return (inventory, signature) => {
    if (!verifySignature(publicKey, inventory, signature))
      throw new KkoError(
        'ARTIFACT_CORRUPT',
        `does not verify with ${keyName}: ${INVENTORY_NAME} was changed after signing, or another key signed it`,
      );
  };
}

// True when `signature` (base64 of DER ECDSA, cosign's form) is the key's signature over SHA-256 of `data`; the one
// check of artifact signatures and cosign image signatures (cosign.ts). Throws INVALID_INPUT when it is not DER base64.
export function verifySignature(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  const der = decodeSignature(signature);
  try {
    return cryptoVerify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, der);
  } catch (err) {
    throw new KkoError('INVALID_INPUT', `not a DER ECDSA signature (${(err as Error).message})`, { cause: err });
  }
}
