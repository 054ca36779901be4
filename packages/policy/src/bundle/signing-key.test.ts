import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BundleError } from './bundle-error.js';
import { generateSigningKey, keyIdOf, readPrivateKey, readPublicKey } from './signing-key.js';

describe('signing keys', () => {
  it('generates Ed25519 PEM keys whose id is the SHA-256 of the DER SPKI public key', () => {
    const key = generateSigningKey();
    expect(key.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const der = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(key.keyid).toBe(createHash('sha256').update(der).digest('hex'));
    expect(generateSigningKey().keyid).not.toBe(key.keyid);
  });

  it('reads a public key as PEM, base64 DER or a KeyObject (public or private) to the same id', () => {
    const key = generateSigningKey();
    const base64 = readPublicKey(key.publicKeyPem).base64;
    expect(keyIdOf(base64)).toBe(key.keyid);
    expect(keyIdOf(`  ${key.publicKeyPem}\n`)).toBe(key.keyid);
    expect(keyIdOf(createPublicKey(key.publicKeyPem))).toBe(key.keyid);
    expect(keyIdOf(readPrivateKey(key.privateKeyPem))).toBe(key.keyid);
  });

  it('refuses keys that are not Ed25519, private keys given as public ones, and garbage', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const codeOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(BundleError);
        return `${(error as BundleError).code}: ${(error as Error).message}`;
      }
      return 'no error';
    };
    expect(codeOf(() => keyIdOf(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()))).toMatch(/^key\.invalid: the key is rsa, not Ed25519/);
    expect(codeOf(() => readPrivateKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()))).toMatch(/^key\.invalid: the private key is rsa, not Ed25519/);
    expect(codeOf(() => keyIdOf(generateSigningKey().privateKeyPem))).toMatch(/^key\.invalid: .*it is a private key/);
    expect(codeOf(() => keyIdOf('hello world'))).toMatch(/^key\.invalid: .*neither PEM nor base64/);
    expect(codeOf(() => readPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'))).toMatch(/^key\.invalid: not a PEM private key/);
  });
});
