import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { sha256Hex } from '../canonical-json.js';
import { BundleError } from './bundle-error.js';

/** A new Ed25519 key pair, as `tollgate keys generate` writes it. */
export interface GeneratedSigningKey {
  /** PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`): keep it secret (mode 0600, a CI secret). */
  readonly privateKeyPem: string;
  /** PEM SPKI (`-----BEGIN PUBLIC KEY-----`): what gateways and verifiers trust. */
  readonly publicKeyPem: string;
  /** Hex SHA-256 of the DER SPKI public key. */
  readonly keyid: string;
}

/** A public key ready to verify with, and its key id. */
export interface PublicSigningKey {
  readonly key: KeyObject;
  readonly keyid: string;
  /** Base64 DER SPKI: how bundles carry a signer's public key. */
  readonly base64: string;
}

/**
 * Generates an Ed25519 key pair for signing bundles.
 *
 * @example
 * const { privateKeyPem, publicKeyPem, keyid } = generateSigningKey();
 */
export function generateSigningKey(): GeneratedSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyid: sha256Hex(publicKey.export({ type: 'spki', format: 'der' })),
  };
}

/**
 * Reads an Ed25519 public key given as PEM SPKI (`-----BEGIN PUBLIC KEY-----`), as base64
 * DER SPKI (how bundles and gateway configs carry it), or as a `KeyObject`.
 *
 * @throws BundleError `key.invalid` saying what the text is instead.
 */
export function readPublicKey(publicKey: string | KeyObject): PublicSigningKey {
  let key: KeyObject;
  if (publicKey instanceof KeyObject) {
    key = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  } else {
    const text = publicKey.trim();
    try {
      if (text.startsWith('-----BEGIN')) {
        if (/PRIVATE KEY-----/.test(text)) throw new Error('it is a private key; give the public key (<prefix>.pub) instead');
        key = createPublicKey(text);
      } else {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error('it is neither PEM nor base64');
        key = createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
      }
    } catch (error) {
      throw new BundleError('key.invalid', `not an Ed25519 public key (PEM SPKI or base64 DER SPKI): ${(error as Error).message}`, { cause: error });
    }
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new BundleError('key.invalid', `the key is ${key.asymmetricKeyType ?? 'of an unknown type'}, not Ed25519; create one with \`tollgate keys generate\``);
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, keyid: sha256Hex(der), base64: der.toString('base64') };
}

/**
 * Reads an Ed25519 private key (PEM PKCS#8, as `<prefix>.key` holds it).
 *
 * @throws BundleError `key.invalid` when the text is not an Ed25519 private key.
 */
export function readPrivateKey(privateKeyPem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new BundleError('key.invalid', `not a PEM private key (${(error as Error).message}); create one with \`tollgate keys generate --out <prefix>\``, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new BundleError('key.invalid', `the private key is ${key.asymmetricKeyType ?? 'of an unknown type'}, not Ed25519; create one with \`tollgate keys generate\``);
  }
  return key;
}

/**
 * The key id of a public key: hex SHA-256 of its DER SPKI encoding, the id Tollgate uses
 * for bundle signers and ledger checkpoints alike.
 *
 * @throws BundleError `key.invalid` when the key is not an Ed25519 public key.
 * @example keyIdOf(readFileSync('release.pub', 'utf8')) // '3f2a…'
 */
export function keyIdOf(publicKey: string | KeyObject): string {
  return readPublicKey(publicKey).keyid;
}
