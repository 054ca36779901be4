import { BundleError, verifyBundleText, type BundleRefusal } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { readBundleText } from './bundle-file-store.js';
import type { BundleSummary } from './bundle-summary.js';
import { readTrustedKeyFiles } from './signing-key-files.js';

/** Options of {@link verifyBundleFile}: the flags of `tollgate bundle verify`. */
export interface BundleVerifyOptions {
  readonly file: string;
  /** Public key files (`<prefix>.pub`) to trust. */
  readonly trust: readonly string[];
  /** Distinct trusted signers needed (default 1). */
  readonly threshold?: number;
  /** Refuse a lower revision. */
  readonly minRevision?: number;
  readonly cwd?: string;
  /** The time expiry is checked against (default now). */
  readonly now?: number;
}

/** One trusted key that signed. */
export interface BundleSigner {
  readonly keyid: string;
  /** The `--trust` file it came from. */
  readonly file: string;
}

/** What `tollgate bundle verify` found: accepted, with what it holds, or refused, with why. */
export type BundleVerifyResult =
  | (BundleSummary & {
      readonly ok: true;
      readonly signers: readonly BundleSigner[];
      readonly threshold: number;
    })
  | { readonly ok: false; readonly file: string; readonly refusal: BundleRefusal };

/**
 * Verifies a bundle file against trusted public key files: shape, signatures (k of n
 * distinct trusted keys), hashes, expiry, rollback (`minRevision`), schema and compile, and
 * the bundle's own tests — exactly what a gateway checks before it activates a bundle.
 *
 * @throws CliError exit 2 for unreadable files, invalid keys or an impossible threshold
 *   (`trust.invalid`); a refused bundle is a result, not an error.
 */
export async function verifyBundleFile(options: BundleVerifyOptions): Promise<BundleVerifyResult> {
  const cwd = options.cwd ?? process.cwd();
  if (options.trust.length === 0) {
    throw new CliError('usage', 'give at least one --trust <prefix>.pub', { exit: ExitCode.input, hint: 'The public keys of the signers you trust, as `tollgate keys generate` writes them.' });
  }
  const keys = await readTrustedKeyFiles(options.trust, cwd);
  const read = await readBundleText(options.file, cwd);
  const threshold = options.threshold ?? 1;
  let verification;
  try {
    verification = verifyBundleText(
      read.text,
      {
        trust: keys.map((k) => ({ public_key: k.public_key })),
        threshold,
        now: options.now ?? Date.now(),
        ...(options.minRevision !== undefined ? { minRevision: options.minRevision } : {}),
      },
      read.file,
    );
  } catch (error) {
    if (error instanceof BundleError) {
      throw new CliError(error.code, error.message, { exit: ExitCode.input, hint: 'Pass --threshold at most the number of distinct --trust keys.', cause: error });
    }
    throw error;
  }
  if (!verification.ok) return { ok: false, file: read.file, refusal: verification.refusal };
  const fileOf = new Map(keys.map((k) => [k.keyid, k.file]));
  return {
    ok: true,
    file: read.file,
    revision: verification.revision,
    git_commit: verification.gitCommit,
    git_dirty: verification.bundle.manifest.git_dirty === true,
    created_at: verification.createdAt,
    expires_at: verification.expiresAt,
    digest: verification.digest,
    signers: verification.signers.map((keyid) => ({ keyid, file: fileOf.get(keyid) ?? '' })),
    threshold,
    servers: [...verification.policies.keys()].sort(),
    tests: verification.testSummary,
  };
}
