import type { JsonObject } from '../ledger/decision-sink.js';

/**
 * What identifies a verified policy bundle, as its signed manifest and its signatures say: the
 * one shape of these facts the Git source, its verifier thread, its state, its status and its
 * ledger events share. `@tollgate/policy`'s `AcceptedBundle` is one (the verifier's answer).
 */
export interface BundleFacts {
  /** The manifest's monotonic revision. */
  readonly revision: number;
  /** Hex SHA-256 of the canonical manifest: the bundle's identity. */
  readonly digest: string;
  /** The commit the bundle was built from (its manifest's `git_commit`). */
  readonly gitCommit: string | null;
  /** Key ids of the trusted keys whose signatures verified, sorted. */
  readonly signers: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

/** A bundle the Git source activated: its facts, and where and when it was activated. */
export interface ActivatedBundle extends BundleFacts {
  /** The repository commit the bundle was read at (null when restored from an older state). */
  readonly commit: string | null;
  /** Epoch ms. */
  readonly activatedAt: number;
  /** `restored` from the state directory at start-up, or activated from the `repository`. */
  readonly via: 'restored' | 'repository';
}

/**
 * The `detail` of a bundle's `policy.activated` events: its digest, the commits it was built
 * from and read at, its signers, and where it was read (`<repo>@<ref>:<path>`).
 */
export function activationDetail(bundle: ActivatedBundle, source: string): JsonObject {
  return { bundle_digest: bundle.digest, git_commit: bundle.gitCommit, commit: bundle.commit, signers: [...bundle.signers], source };
}

/** The {@link BundleFacts} of a verifier's answer (`AcceptedBundle`, or the verifier thread's verdict), and nothing else of it. */
export function factsOf(accepted: BundleFacts): BundleFacts {
  const { revision, digest, gitCommit, signers, createdAt, expiresAt } = accepted;
  return { revision, digest, gitCommit, signers, createdAt, expiresAt };
}
