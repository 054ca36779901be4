import { PolicyError, type Diagnostic } from '../diagnostic.js';

/**
 * Why a bundle could not be built, read or signed. Codes are stable:
 * - `bundle.invalid` — a file given to {@link buildBundle} does not parse or validate
 *   (every finding is in `diagnostics`, each at file:line:col);
 * - `bundle.malformed` — a bundle's text is not a well-formed `tollgate.bundle/v1` document;
 * - `bundle.hash_mismatch` — asked to sign a bundle whose content no longer matches its manifest;
 * - `key.invalid` — a signing or public key is not an Ed25519 key;
 * - `trust.invalid` — a trust configuration is unusable (bad key, key id mismatch, threshold).
 *
 * A verified bundle is never refused by throwing: {@link verifyBundle} returns a
 * {@link BundleRefusal} instead.
 */
export class BundleError extends PolicyError {
  constructor(code: BundleErrorCode, message: string, options: { diagnostics?: readonly Diagnostic[]; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'BundleError';
  }
}

/** The codes a {@link BundleError} carries. */
export type BundleErrorCode = 'bundle.invalid' | 'bundle.malformed' | 'bundle.hash_mismatch' | 'key.invalid' | 'trust.invalid';
