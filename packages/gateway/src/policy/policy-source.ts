import type { CompiledPolicy, PolicyRevision } from '@tollgate/policy';

/**
 * Where the gateway gets each upstream's compiled policy. The pipeline asks for the policy
 * once per call and decides the whole call with it, so a source that swaps in a new policy
 * never changes a call in flight. Implementations: `DirectoryPolicySource` (a policy
 * repository on disk); a signed-bundle source plugs in here too.
 */
export interface PolicySource {
  /** The active policy of the upstream named `server`, or undefined when it has none. */
  policyFor(server: string): CompiledPolicy | undefined;
  /** Every active policy, by upstream name (for the admin API and the ledger). */
  active(): ReadonlyMap<string, ActivePolicy>;
  /** Where the policies come from and how the last check went (a source that follows a repository). */
  status?(): PolicySourceStatus;
}

/** A source's view of itself, for the admin API's `/policy` and `tollgate gateway status`. */
export interface PolicySourceStatus {
  readonly kind: 'git';
  /** `<repo>@<ref>:<path>`. */
  readonly location: string;
  /** The active bundle, or null when none is served. */
  readonly bundle: {
    readonly revision: number;
    /** The commit the bundle was built from (its manifest's `git_commit`). */
    readonly gitCommit: string | null;
    /** The repository commit the bundle was read at (null when restored from an older state). */
    readonly commit: string | null;
    /** Hex SHA-256 of the canonical manifest. */
    readonly digest: string;
    /** Key ids of the trusted keys that signed it. */
    readonly signers: readonly string[];
    readonly createdAt: string | null;
    readonly expiresAt: string | null;
    /** Epoch ms. */
    readonly activatedAt: number;
    /** `restored` from the state directory at start-up, or activated from the `repository`. */
    readonly via: 'restored' | 'repository';
  } | null;
  /** The highest revision ever activated here (the rollback floor). */
  readonly highestRevision: number | null;
  /** The last time the repository was checked. */
  readonly lastCheck: { readonly at: number; readonly outcome: 'activated' | 'unchanged' | 'refused' | 'error'; readonly commit: string | null; readonly error?: string } | null;
  /** The last bundle refused. */
  readonly lastRefusal: SourceRefusal | null;
}

/** A bundle the source refused, and why. */
export interface SourceRefusal {
  /** e.g. `signature.untrusted`, `bundle.rollback`, `tests.failed`. */
  readonly code: string;
  readonly message: string;
  /** Epoch ms. */
  readonly at: number;
  readonly revision: PolicyRevision;
  readonly digest: string | null;
  /** The commit it was read at, when known. */
  readonly commit: string | null;
  /** For `policy.invalid`: the codes of lint's error findings that refused it (`TG101`, `TG004`, …), in order. */
  readonly diagnosticCodes?: readonly string[];
}

/** An active policy and where it came from. */
export interface ActivePolicy {
  readonly policy: CompiledPolicy;
  /** The file or bundle it was read from. */
  readonly source: string;
  /** When it was activated (epoch ms). */
  readonly activatedAt: number;
}
