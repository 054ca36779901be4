import type { LimitRequest, LimitResult } from '@tollgate/policy';
import type { AppendedEvent, LedgerEventInput } from '../event/ledger-event.js';
import type { LedgerErrorCode } from '../ledger-error.js';

/** Options of {@link LedgerSink.append} ({@link LedgerWriter.append}). */
export interface AppendOptions {
  /**
   * The caller does not wait for this event before it answers anyone (an outcome): it is held
   * up to `maxDeferMs` to be committed with the next event that someone does wait for. Events
   * keep their `append()` order either way.
   */
  readonly defer?: boolean;
}

/**
 * A decision that depends on limit counters kept in the ledger's database: the writer counts
 * them and records the decision they lead to in one transaction (see {@link LedgerWriter.appendCounted}).
 */
export interface CountedEvent {
  /** The counters, in groups; each group is checked and incremented all-or-nothing, as `LimitStore.acquire`. */
  readonly limits: readonly (readonly LimitRequest[])[];
  /**
   * The event to record, given each group's result. Called once, synchronously, inside the
   * transaction that counted them; if it throws (or returns a malformed event) the whole batch
   * is rolled back and every append in it rejects.
   */
  event(results: readonly LimitResult[]): LedgerEventInput;
}

/**
 * Whether a sink can record events now: what readiness probes ask. It rests on the latest
 * evidence — the last batch committed or failed, or an active probe of the database — and is
 * never older than the probe cache (1 s by default) unless a batch is newer.
 */
export interface LedgerHealth {
  /** True when the latest evidence is that the ledger takes events. */
  ok: boolean;
  /** Why not, naming the ledger's database; null when ok. */
  reason: string | null;
  /** The code of what failed (`ledger.unavailable`, `ledger.not_migrated`, …); null when ok. */
  code: LedgerErrorCode | null;
  /** What the answer rests on: the last batch, a probe, or the sink being closed. */
  source: 'batch' | 'probe' | 'closed';
  /** How old that evidence is, in milliseconds. */
  ageMs: number;
}

/**
 * Where the gateway records what it decides and what happened (its `DecisionSink`). The
 * ledger's {@link LedgerWriter} implements it; the gateway depends only on this interface.
 *
 * Contract:
 * - `append()` resolves once the event is durable (its batch committed) and rejects with a
 *   `LedgerError` otherwise, within a bounded time. A caller that must fail closed (the
 *   gateway, before forwarding an allowed call) waits for it.
 * - Events of one sink are recorded in the order `append()` was called.
 * - `close()` waits for everything appended so far to settle, then refuses new events.
 *
 * @example
 * const sink: LedgerSink = await openLedgerSink({ databaseUrl })
 * const recorded = await sink.append({ type: 'decision', … })
 * await sink.close()
 */
export interface LedgerSink {
  /** Records one event; resolves when it is committed (`defer`: see {@link AppendOptions}). */
  append(event: LedgerEventInput, options?: AppendOptions): Promise<AppendedEvent>;
  /**
   * Counts a decision's limits in the ledger's database and records the decision in the same
   * transaction ({@link LedgerWriter.appendCounted}); present only on a sink that keeps the
   * limit counters (limits in PostgreSQL).
   */
  appendCounted?(counted: CountedEvent): Promise<AppendedEvent>;
  /** Settles everything appended so far, then refuses further events. */
  close(): Promise<void>;
  /**
   * Whether the sink can record events now, answered within a bounded time (optional: a sink
   * without it is taken as able to). {@link LedgerWriter.health} is the ledger's.
   */
  health?(): Promise<LedgerHealth>;
}

/** The gateway's name for a {@link LedgerSink} (DESIGN §1: "a `DecisionSink`-style interface"). */
export type DecisionSink = LedgerSink;
