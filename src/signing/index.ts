// Artifact signatures (#12): P-256 keys, cosign sign-blob signatures of kko/inventory.json, signing an artifact.
export { generateKeyPair, loadPrivateKey, loadPublicKey, writeKeyPair } from './key.js';
export type { KeyPairPem } from './key.js';
export {
  decodeSignature,
  encodeSignature,
  inventoryVerifier,
  KeySigner,
  signatureEntry,
  verifySignature,
} from './signature.js';
export type { Signer } from './signature.js';
export { signArtifact } from './sign-artifact.js';
export type { SignOptions, SignReport } from './sign-artifact.js';
export {
  COSIGN_SIGNATURE_ANNOTATION,
  MAX_PAYLOAD_BYTES,
  signatureTag,
  SIMPLE_SIGNING_MEDIA_TYPE,
  simpleSigningPayload,
  verifyCosignSignature,
} from './cosign.js';
