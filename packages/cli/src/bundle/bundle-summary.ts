import type { BundleTestSummary } from '@tollgate/policy';

/** What `bundle build` and `bundle verify` report about a bundle. */
export interface BundleSummary {
  /** The bundle file, as shown to the user. */
  readonly file: string;
  readonly revision: number;
  readonly git_commit: string | null;
  /** The files differed from `git_commit` when the bundle was built. */
  readonly git_dirty: boolean;
  readonly created_at: string;
  readonly expires_at: string | null;
  /** Hex SHA-256 of the canonical manifest: what signers sign. */
  readonly digest: string;
  /** The servers with a policy in the bundle, sorted. */
  readonly servers: readonly string[];
  readonly tests: BundleTestSummary;
}
