import { sign } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import { checkBundleHashes } from './bundle-content-hash.js';
import { BundleError } from './bundle-error.js';
import { BUNDLE_SIGNATURE_ALGORITHM, bundleShapeProblem, type BundleManifest, type BundleSignature, type PolicyBundle } from './bundle-format.js';
import { readPrivateKey, readPublicKey } from './signing-key.js';

/** The bytes every signature of a bundle covers: the UTF-8 of the manifest's canonical JSON. */
export function manifestSigningBytes(manifest: BundleManifest): Buffer {
  return Buffer.from(canonicalJson(manifest), 'utf8');
}

/**
 * Signs a bundle with an Ed25519 private key (PEM PKCS#8) and returns a new bundle with
 * that key's signature added, or replacing the key's earlier one; other signers'
 * signatures are kept, ordered by key id. The signature covers the canonical manifest,
 * which binds every file through its SHA-256; the content is checked against the manifest
 * first, so a signer never vouches for files that were changed after the build.
 *
 * @throws BundleError `bundle.malformed`, `bundle.hash_mismatch` or `key.invalid`.
 * @example
 * const signed = signBundle(bundle, readFileSync('release.key', 'utf8'));
 */
export function signBundle(bundle: PolicyBundle, privateKeyPem: string): PolicyBundle {
  const shape = bundleShapeProblem(bundle);
  if (shape) throw new BundleError('bundle.malformed', `cannot sign: not a well-formed bundle: ${shape}`);
  const hashes = checkBundleHashes(bundle);
  if (hashes.problem) throw new BundleError('bundle.hash_mismatch', `cannot sign: ${hashes.problem}; rebuild the bundle`);
  const privateKey = readPrivateKey(privateKeyPem);
  const publicKey = readPublicKey(privateKey);
  const signature: BundleSignature = {
    keyid: publicKey.keyid,
    algorithm: BUNDLE_SIGNATURE_ALGORITHM,
    public_key: publicKey.base64,
    signature: sign(null, manifestSigningBytes(bundle.manifest), privateKey).toString('base64'),
  };
  const signatures = [...bundle.signatures.filter((s) => s.keyid !== signature.keyid), signature].sort((a, b) =>
    a.keyid < b.keyid ? -1 : a.keyid > b.keyid ? 1 : 0,
  );
  return { format: bundle.format, manifest: bundle.manifest, files: bundle.files, signatures };
}
