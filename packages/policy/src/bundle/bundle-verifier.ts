import { verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../canonical-json.js';
import type { Diagnostic } from '../diagnostic.js';
import type { LimitStore } from '../evaluate/limit-store.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import type { TestFileResult } from '../test-runner.js';
import { compileBundle, type BundleTestSummary } from './bundle-compiler.js';
import { checkBundleHashes } from './bundle-content-hash.js';
import { BundleError } from './bundle-error.js';
import { BUNDLE_SIGNATURE_ALGORITHM, bundleShapeProblem, parseBundle, type PolicyBundle } from './bundle-format.js';
import { readPublicKey } from './signing-key.js';
import type { PolicyRevision } from '../policy-revision.js';

/** A public key a verifier trusts. `keyid`, when given, must be the key's own id. */
export interface TrustedKey {
  readonly keyid?: string;
  /** PEM SPKI or base64 DER SPKI. */
  readonly public_key: string;
}

/** Options of {@link verifyBundle}. */
export interface VerifyBundleOptions {
  /** The keys whose signatures count. */
  readonly trust: readonly TrustedKey[];
  /** How many distinct trusted keys must have signed (k of n), at least 1. */
  readonly threshold: number;
  /** Refuse bundles with a lower revision (the active one, to stop rollbacks). */
  readonly minRevision?: number;
  /** The current time, epoch milliseconds, for the expiry check. */
  readonly now: number;
  /** Run the bundle's own tests (default true). */
  readonly runTests?: boolean;
  /** Where the compiled policies count limits (default: an in-memory store per policy). */
  readonly limits?: LimitStore;
  /** The compiled policies' clock (default `Date.now`). */
  readonly clock?: () => number;
}

/**
 * Why a bundle was refused, one code per reason:
 * - `bundle.malformed` — not a well-formed `tollgate.bundle/v1` document;
 * - `signature.missing` — no signatures at all;
 * - `signature.invalid` — a trusted key's signature does not verify (the manifest changed after signing);
 * - `signature.untrusted` — signed only by keys the verifier does not trust;
 * - `signature.threshold` — fewer distinct trusted keys signed than the threshold;
 * - `bundle.hash_mismatch` — a file's content does not match its manifest SHA-256, or a file is unlisted/missing;
 * - `bundle.expired` — `expires_at` has passed (a frozen bundle);
 * - `bundle.rollback` — its revision is lower than the minimum (the active revision);
 * - `policy.invalid` — a policy, catalog or test file fails its schema, or lint finds an error in a policy (its findings are in `diagnostics`);
 * - `tests.failed` — the bundle's own tests fail.
 */
export type BundleRefusalCode =
  | 'bundle.malformed'
  | 'signature.missing'
  | 'signature.invalid'
  | 'signature.untrusted'
  | 'signature.threshold'
  | 'bundle.hash_mismatch'
  | 'bundle.expired'
  | 'bundle.rollback'
  | 'policy.invalid'
  | 'tests.failed';

/** A refused bundle: the reason's code, a precise human message, and what is known of the bundle. */
export interface BundleRefusal {
  readonly code: BundleRefusalCode;
  readonly message: string;
  /** The manifest's revision, when the bundle was well-formed enough to say. */
  readonly revision: PolicyRevision;
  /** Hex SHA-256 of the canonical manifest, when the bundle was well-formed enough to say. */
  readonly digest: string | null;
  /**
   * For `policy.invalid`: the error findings that refused it, with lint's codes (TG101, TG004, …)
   * and places (see {@link compileBundle}). Plain data, so a refusal can cross threads.
   */
  readonly diagnostics?: readonly Diagnostic[];
}

/** An accepted bundle: who signed it, what it enforces, and its tests' outcome. */
export interface AcceptedBundle {
  readonly ok: true;
  readonly bundle: PolicyBundle;
  readonly revision: number;
  readonly gitCommit: string | null;
  /** Hex SHA-256 of the canonical manifest: the bundle's identity. */
  readonly digest: string;
  /** The trusted key ids whose signatures verified, sorted. */
  readonly signers: string[];
  /** Compiled policies by server, each carrying the bundle's revision. */
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  readonly testSummary: BundleTestSummary;
  readonly testResults: readonly TestFileResult[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

/** The outcome of {@link verifyBundle}. */
export type BundleVerification = AcceptedBundle | { readonly ok: false; readonly refusal: BundleRefusal };

/** A validated trust configuration: the trusted keys by key id, and the threshold. */
export interface ResolvedTrust {
  readonly keys: ReadonlyMap<string, KeyObject>;
  readonly threshold: number;
}

/**
 * Reads a trust configuration once (the gateway does it when it loads its config).
 *
 * @throws BundleError `trust.invalid` naming the key or the threshold that is wrong: a key
 *   that is not Ed25519, a `keyid` that is not the key's, a threshold below 1 or above the
 *   number of distinct trusted keys (no bundle could ever be accepted).
 */
export function resolveTrust(trust: readonly TrustedKey[], threshold: number): ResolvedTrust {
  const keys = new Map<string, KeyObject>();
  trust.forEach((entry, i) => {
    let key;
    try {
      key = readPublicKey(entry.public_key);
    } catch (error) {
      throw new BundleError('trust.invalid', `trusted key ${i + 1}${entry.keyid ? ` (${entry.keyid})` : ''}: ${(error as Error).message}`, { cause: error });
    }
    if (entry.keyid !== undefined && entry.keyid !== key.keyid) {
      throw new BundleError('trust.invalid', `trusted key ${i + 1}: keyid ${entry.keyid} is not the id of its public key (${key.keyid})`);
    }
    keys.set(key.keyid, key.key);
  });
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new BundleError('trust.invalid', `the threshold must be a whole number >= 1 (got ${threshold})`);
  if (threshold > keys.size) {
    throw new BundleError('trust.invalid', `the threshold ${threshold} is more than the ${keys.size} distinct trusted key${keys.size === 1 ? '' : 's'}: no bundle could be accepted`);
  }
  return { keys, threshold };
}

function short(keyid: string): string {
  return `${keyid.slice(0, 16)}…`;
}

/**
 * Verifies a bundle and prepares it for enforcement, in this order: shape -> signatures ->
 * hashes -> expiry -> rollback -> schema/compile -> tests. The first failing check refuses
 * the bundle with its own {@link BundleRefusalCode}; an accepted bundle comes back with its
 * compiled policies (carrying its revision), signers and digest.
 *
 * Signatures: a trusted key's signature that does not verify refuses the bundle (even when
 * enough others do); signatures by untrusted keys are ignored; the same key signing twice
 * counts once towards the threshold.
 *
 * @throws BundleError `trust.invalid` when the trust configuration itself is unusable (see {@link resolveTrust}).
 * @example
 * const v = verifyBundle(parseBundle(text), { trust: [{ public_key: pem }], threshold: 1, now: Date.now() });
 * if (!v.ok) console.error(v.refusal.code, v.refusal.message);
 */
export function verifyBundle(bundle: PolicyBundle, options: VerifyBundleOptions): BundleVerification {
  const trust = resolveTrust(options.trust, options.threshold);
  const shape = bundleShapeProblem(bundle);
  if (shape) return refuse('bundle.malformed', `not a well-formed bundle: ${shape}`, null, null);

  const manifest = bundle.manifest;
  const manifestText = canonicalJson(manifest);
  const digest = sha256Hex(manifestText);
  const revision = manifest.revision;
  const no = (code: BundleRefusalCode, message: string): BundleVerification => refuse(code, message, revision, digest);

  // Signatures.
  if (bundle.signatures.length === 0) return no('signature.missing', 'the bundle has no signatures; sign it with `tollgate bundle sign <file> --key <prefix>.key`');
  const bytes = Buffer.from(manifestText, 'utf8');
  const verified = new Set<string>();
  const untrusted = new Set<string>();
  for (let i = 0; i < bundle.signatures.length; i++) {
    const s = bundle.signatures[i]!;
    const key = trust.keys.get(s.keyid);
    if (!key) {
      untrusted.add(s.keyid);
      continue;
    }
    if (s.algorithm !== BUNDLE_SIGNATURE_ALGORITHM) {
      return no('signature.invalid', `signatures[${i}] by trusted key ${s.keyid} uses the algorithm ${JSON.stringify(s.algorithm)}; only "${BUNDLE_SIGNATURE_ALGORITHM}" is accepted`);
    }
    let ok = false;
    try {
      ok = verify(null, bytes, key, Buffer.from(s.signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) {
      return no(
        'signature.invalid',
        `signatures[${i}] by trusted key ${s.keyid} does not verify against the manifest: the manifest was changed after it was signed, or the signature is corrupt`,
      );
    }
    verified.add(s.keyid);
  }
  if (verified.size === 0) {
    return no(
      'signature.untrusted',
      `signed only by untrusted keys (${[...untrusted].map(short).join(', ')}); the trusted keys are ${[...trust.keys.keys()].map(short).join(', ')}`,
    );
  }
  const signers = [...verified].sort();
  if (verified.size < trust.threshold) {
    return no(
      'signature.threshold',
      `${verified.size} distinct trusted key${verified.size === 1 ? '' : 's'} signed (${signers.map(short).join(', ')}), but the threshold is ${trust.threshold}; more trusted signers must sign the bundle`,
    );
  }

  // Content.
  const hashes = checkBundleHashes(bundle);
  if (hashes.problem) return no('bundle.hash_mismatch', hashes.problem);

  if (manifest.expires_at !== null && Date.parse(manifest.expires_at) <= options.now) {
    return no('bundle.expired', `the bundle expired at ${manifest.expires_at} (now ${new Date(options.now).toISOString()}); build and sign a new one`);
  }
  if (options.minRevision !== undefined && revision < options.minRevision) {
    return no('bundle.rollback', `revision ${revision} is lower than ${options.minRevision}, the lowest acceptable (active) revision: refusing a rollback`);
  }

  const compiled = compileBundle(bundle, {
    revision,
    canonicalTexts: hashes.canonicalTexts,
    ...(options.runTests !== undefined ? { runTests: options.runTests } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  if (!compiled.ok) {
    const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
    return { ok: false, refusal: { code: compiled.code, message: compiled.message, revision, digest, ...(errors.length > 0 ? { diagnostics: errors } : {}) } };
  }
  return {
    ok: true,
    bundle,
    revision,
    gitCommit: manifest.git_commit,
    digest,
    signers,
    policies: compiled.policies,
    testSummary: compiled.testSummary,
    testResults: compiled.testResults,
    createdAt: manifest.created_at,
    expiresAt: manifest.expires_at,
  };
}

function refuse(code: BundleRefusalCode, message: string, revision: PolicyRevision, digest: string | null): BundleVerification {
  return { ok: false, refusal: { code, message, revision, digest } };
}

/**
 * Parses and verifies a bundle's text in one step: a text that is not a well-formed bundle
 * is refused with `bundle.malformed` instead of throwing.
 *
 * @throws BundleError `trust.invalid` when the trust configuration is unusable.
 */
export function verifyBundleText(text: string, options: VerifyBundleOptions, file = 'bundle.json'): BundleVerification {
  let bundle: PolicyBundle;
  try {
    bundle = parseBundle(text, file);
  } catch (error) {
    if (error instanceof BundleError && error.code === 'bundle.malformed') {
      resolveTrust(options.trust, options.threshold);
      return refuse('bundle.malformed', error.message, null, null);
    }
    throw error;
  }
  return verifyBundle(bundle, options);
}
