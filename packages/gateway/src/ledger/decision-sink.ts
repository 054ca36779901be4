import type {
  AppendOptions as LedgerAppendOptions,
  ApprovalRequestedEventInput,
  ApprovalResolvedEventInput,
  CountedEvent,
  DecisionEventInput,
  JsonObject,
  JsonValue,
  LedgerCallIdentity,
  LedgerEventInput,
  LedgerHealth,
  OutcomeEventInput,
  PolicyEventInput,
} from '@tollgate/ledger';
import type { LimitResult } from '@tollgate/policy';

export type { JsonObject, JsonValue };

/**
 * One of the ledger's events as the gateway hands it over: the ledger's own event input
 * (`@tollgate/ledger`'s `LedgerEventInput`), without `at` — the ledger's writer stamps the time
 * an event is recorded, so the gateway never chooses it.
 */
type Recorded<E extends LedgerEventInput> = Omit<E, 'at'>;

/** Which agent called which tool of which server, in which session: shared by a call's events. */
export type CallIdentity = LedgerCallIdentity;

/** The decision about one `tools/call`, written before an allowed call is forwarded. */
export type DecisionEvent = Recorded<DecisionEventInput>;

/** How a forwarded call ended, written after the upstream answered (or failed). */
export type OutcomeEvent = Recorded<OutcomeEventInput>;

/** A policy the gateway activated (at start-up, or when a new one was swapped in). */
export type PolicyActivatedEvent = Recorded<PolicyEventInput> & { type: 'policy.activated' };

/** A policy bundle the gateway refused (bad signature, rollback, failing tests, …); the last good one stays active. */
export type PolicyRejectedEvent = Recorded<PolicyEventInput> & { type: 'policy.rejected' };

/** A call held for a human approval: recorded before anyone is told of the request. */
export type ApprovalRequestedEvent = Recorded<ApprovalRequestedEventInput>;

/** An approver's grant or denial of a request, or its expiry: recorded before anyone is told. */
export type ApprovalResolvedEvent = Recorded<ApprovalResolvedEventInput>;

/** Every event the gateway records: the ledger's event vocabulary. */
export type GatewayEvent = DecisionEvent | OutcomeEvent | ApprovalRequestedEvent | ApprovalResolvedEvent | PolicyActivatedEvent | PolicyRejectedEvent;

/**
 * What {@link DecisionSink.health} answers: whether the sink can record events now, and if not,
 * why (naming where the events go, e.g. the ledger's database; null when ok). The part of the
 * ledger's `LedgerHealth` the gateway reads.
 */
export type SinkHealth = Readonly<Pick<LedgerHealth, 'ok' | 'reason'>>;

/**
 * Options of {@link DecisionSink.append}, the ledger's: `defer` — nobody waits for this event
 * before answering (an outcome), so the sink may hold it for a few milliseconds to commit it
 * with the next event someone does wait for; it keeps its place in `append()` order.
 */
export type AppendOptions = LedgerAppendOptions;

/**
 * A decision whose limits the sink counts itself (see {@link DecisionSink.appendCounted}): the
 * counters a policy left to acquire (`PendingDecision.limits` of @tollgate/policy), in groups
 * each checked and incremented all-or-nothing, and how to turn their results into the decision
 * event (called once, synchronously, inside the sink's transaction). The ledger's
 * `CountedEvent`, narrowed to a decision.
 */
export interface CountedDecision extends Omit<CountedEvent, 'event'> {
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
