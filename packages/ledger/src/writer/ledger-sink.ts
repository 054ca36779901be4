import type { AppendedEvent, LedgerEventInput } from '../event/ledger-event.js';

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
  /** Records one event; resolves when it is committed. */
  append(event: LedgerEventInput): Promise<AppendedEvent>;
  /** Settles everything appended so far, then refuses further events. */
  close(): Promise<void>;
}

/** The gateway's name for a {@link LedgerSink} (DESIGN §1: "a `DecisionSink`-style interface"). */
export type DecisionSink = LedgerSink;
