import type { CompiledPolicy, PolicyRevision } from '@tollgate/policy';
import type { DecisionSink } from '../ledger/decision-sink.js';
import type { ActivatedBundle } from './bundle-facts.js';

/**
 * Where the gateway gets each upstream's compiled policy. The pipeline asks for the policy
 * once per call and decides the whole call with it, so a source that swaps in a new policy
 * never changes a call in flight. Implementations: `DirectoryPolicySource` (a policy
 * repository on disk) and `GitPolicySource` (signed bundles committed in a Git repository).
 *
 * A source speaks for itself to the rest of the gateway: it records in the ledger what it
 * activates ({@link start}), says where its policies come from ({@link status}) and stops
 * whatever it runs ({@link close}); the gateway treats every source alike.
 *
 * @example
 * const source = await openPolicySource(config.policy, { servers: ['ccxt'], logger });
 * await source.start?.(sink); // policy.activated per upstream, then follows its origin
 * source.policyFor('ccxt')?.decide({ tool: 'cancel_order', args: {} }).effect // 'deny'
 */
export interface PolicySource {
  /** The active policy of the upstream named `server`, or undefined when it has none. */
  policyFor(server: string): CompiledPolicy | undefined;
  /** Every active policy, by upstream name (for the admin API and the ledger). */
  active(): ReadonlyMap<string, ActivePolicy>;
  /**
   * Records what the source serves in the ledger (`policy.activated` per upstream), then
   * follows where its policies come from, when it follows anything: from then on the source
   * records each policy it activates or refuses itself. The gateway calls it once, when the
   * ledger is open and before the upstreams are connected. Optional: a fixed set of policies
   * (a unit test's) has nothing to record.
   * @throws GatewayError `policy.unavailable` when the source has nothing to serve.
   */
  start?(sink: DecisionSink): Promise<void>;
  /** Where the policies come from and, for a source that follows a repository, how the last check went. */
  status?(): PolicySourceStatus;
  /** Stops whatever the source runs (polling, watching, threads); its active policies stay readable. */
  close?(): Promise<void>;
}

/** A source's view of itself, for the admin API's `/policy` and `tollgate gateway status`. */
export type PolicySourceStatus = DirectorySourceStatus | GitSourceStatus;

/** A policy repository on disk: its policies were read once, at start-up. */
export interface DirectorySourceStatus {
  readonly kind: 'directory';
}

/**
 * The bundle revision a source serves (the `tollgate_policy_revision` gauge, telemetry's
 * resource): a Git source's active bundle; none for a directory source.
 */
export function servedRevision(source: PolicySource): number | undefined {
  const status = source.status?.();
  return status?.kind === 'git' ? status.bundle?.revision : undefined;
}

/** A Git source's view of itself: where it reads, what it serves, how its last check went. */
export interface GitSourceStatus {
  readonly kind: 'git';
  /** `<repo>@<ref>:<path>`. */
  readonly location: string;
  /** The active bundle, or null when none is served. */
  readonly bundle: ActivatedBundle | null;
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
