import type { LimitRequest, LimitResult } from '@tollgate/policy';

/** A JSON value, as arguments and event details hold them. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** Which agent called which tool of which server, in which session: shared by a call's events. */
export interface CallIdentity {
  /** Links the decision and the outcome of one call. */
  callId: string;
  agentId: string;
  sessionId?: string | null;
  /** The upstream's name in the gateway configuration. */
  server: string;
  /** The tool's own name at the upstream (without a `<server>__` prefix). */
  tool: string;
}

/** The decision about one `tools/call`, written before an allowed call is forwarded. */
export interface DecisionEvent extends CallIdentity {
  type: 'decision';
  /** The arguments exactly as the agent sent them (the ledger redacts and digests them). */
  args: JsonValue;
  effect: 'allow' | 'deny' | 'approval_required' | 'hidden';
  rule: string | null;
  reason: string;
  policyRevision: string | null;
  /** Null only for a refusal made with no policy in force (`gateway.no_policy`). */
  policyDigest: string | null;
  approvalId?: string | null;
  /** What a policy or tool rule in shadow mode would have decided (`Decision.shadow.effect`), when one was evaluated. */
  shadowEffect?: 'allow' | 'deny' | 'approval_required' | 'hidden' | null;
  /** The rule that would have decided in shadow mode (`Decision.shadow.rule`). */
  shadowRule?: string | null;
  /** The decision's code, `retry_after` and limit counters. */
  detail?: JsonObject | null;
}

/** How a forwarded call ended, written after the upstream answered (or failed). */
export interface OutcomeEvent extends CallIdentity {
  type: 'outcome';
  status: 'ok' | 'error' | 'timeout' | 'cancelled';
  durationMs: number;
  resultSha256?: string | null;
  reason?: string | null;
  detail?: JsonObject | null;
}

/** A policy the gateway activated (at start-up, or when a new one was swapped in). */
export interface PolicyActivatedEvent {
  type: 'policy.activated';
  server?: string | null;
  policyRevision: string | null;
  policyDigest: string | null;
  reason?: string | null;
  detail?: JsonObject | null;
}

/** A policy bundle the gateway refused (bad signature, rollback, failing tests, …); the last good one stays active. */
export interface PolicyRejectedEvent {
  type: 'policy.rejected';
  /** Null: a bundle covers every upstream. */
  server?: string | null;
  /** The bundle's revision, when it could be read. */
  policyRevision: string | null;
  /** The bundle's manifest digest, when it could be read. */
  policyDigest: string | null;
  /** `<code>: <message>`. */
  reason?: string | null;
  detail?: JsonObject | null;
}

/** A call held for a human approval: recorded before anyone is told of the request. */
export interface ApprovalRequestedEvent extends CallIdentity {
  type: 'approval.requested';
  approvalId: string;
  /** The arguments to approve (the ledger redacts and digests them as a decision's). */
  args: JsonValue;
  rule: string | null;
  reason: string;
  policyRevision: string | null;
  policyDigest: string;
  expiresAt: Date;
  /** Who may decide and how many must grant it. */
  detail?: JsonObject | null;
}

/** An approver's grant or denial of a request, or its expiry: recorded before anyone is told. */
export interface ApprovalResolvedEvent {
  type: 'approval.granted' | 'approval.denied' | 'approval.expired';
  approvalId: string;
  callId?: string | null;
  /** The requesting agent. */
  agentId: string;
  sessionId?: string | null;
  server: string;
  tool: string;
  /** The digest of the arguments that were approved (the request's). */
  argsSha256: string;
  /** Who decided; null for an expiry. */
  approver: string | null;
  /** The approver's reason, or why it expired. */
  reason?: string | null;
  detail?: JsonObject | null;
}

/** Every event the gateway records. */
export type GatewayEvent = DecisionEvent | OutcomeEvent | ApprovalRequestedEvent | ApprovalResolvedEvent | PolicyActivatedEvent | PolicyRejectedEvent;

/** What {@link DecisionSink.health} answers: whether the sink can record events now, and if not, why. */
export interface SinkHealth {
  readonly ok: boolean;
  /** Why not, naming where the events go (e.g. the ledger's database); null when ok. */
  readonly reason: string | null;
}

/** Options of {@link DecisionSink.append}. */
export interface AppendOptions {
  /**
   * Nobody waits for this event before answering (an outcome): the sink may hold it for a few
   * milliseconds to commit it with the next event someone does wait for, rather than on its
   * own. It keeps its place in `append()` order.
   */
  readonly defer?: boolean;
}

/**
 * A decision whose limits the sink counts itself (see {@link DecisionSink.appendCounted}): the
 * counters a policy left to acquire (`PendingDecision.limits` of @tollgate/policy), and how to
 * turn their results into the decision event.
 */
export interface CountedDecision {
  /** The counters, in groups; each group is checked and incremented all-or-nothing. */
  readonly limits: readonly (readonly LimitRequest[])[];
  /** The decision event, given each group's result; called once, synchronously, inside the sink's transaction. */
  event(results: readonly LimitResult[]): DecisionEvent;
}

/**
 * Where the gateway records what it decided and what happened: the interface the gateway
 * owns and the ledger's writer implements (`@tollgate/ledger`'s `LedgerSink`).
 *
 * Contract: `append()` resolves once the event is durable and rejects (within a bounded
 * time) when it is not — the gateway forwards an allowed call only after its decision
 * resolved. Events of one sink are recorded in `append()` order. `close()` settles
 * everything appended so far.
 */
export interface DecisionSink {
  /** Records one event; resolves when it is committed. */
  append(event: GatewayEvent, options?: AppendOptions): Promise<unknown>;
  /**
   * Optional, for a sink that keeps the limit counters itself (the ledger's, when they live in
   * its PostgreSQL database): counts a decision's limits and records the decision event they
   * lead to in one transaction — one commit, and never a counter moved without its decision on
   * the record. Resolves once committed; rejects like `append` (then nothing was counted or
   * recorded). A gateway whose sink has it counts every decision's limits through it instead of
   * its limit store.
   */
  appendCounted?(decision: CountedDecision): Promise<unknown>;
  /** Settles everything appended so far, then refuses further events. */
  close(): Promise<void>;
  /**
   * Whether the sink can record events now, for `/readyz`. Should answer within a short,
   * bounded time and may cache its answer briefly (the gateway also gives up waiting after
   * `admin` readiness' own limit). Optional: a sink without it counts as able to record.
   */
  health?(): Promise<SinkHealth>;
}
