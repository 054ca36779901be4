import { LedgerError } from '../ledger-error.js';
import type { LedgerBackend, StatementResult } from './ledger-backend.js';

/** Options of {@link LedgerConnection.openStoreSessions}. */
export interface StoreSessionOptions {
  /** `application_name` of its PostgreSQL sessions, for `pg_stat_activity` (default `tollgate-store`). */
  readonly applicationName?: string;
  /** The most PostgreSQL sessions its pool opens (default 4). PGlite has one session. */
  readonly maxConnections?: number;
  /**
   * How often the LISTEN session is probed (default 5000 ms), so that a connection that went
   * silent (a stopped server, a network that drops packets) is noticed and reopened.
   */
  readonly heartbeatMs?: number;
}

/** The statements of one {@link StoreSessions.exclusive} section. */
export interface StoreStatements {
  /** Runs one statement within the section, bounded in time like {@link StoreSessions.execute}. */
  query<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<StatementResult<R>>;
}

/** What a {@link StoreSessions.listen} session tells its owner. */
export interface StoreListenHandlers {
  /** A notification on the channel arrived, with its payload. */
  notify(payload: string): void;
  /**
   * The listening session was lost and is listening again after `outageMs`: notifications
   * sent in between were missed, so whatever they would have woken should look again.
   */
  resync?(outageMs: number): void;
}

/**
 * Sessions a store of operational state (the approval store, the limit store) keeps for
 * itself on the ledger's database, apart from the ledger writer's: a store's transaction never
 * waits for a ledger batch, nor holds one up — the approval store appends a ledger event while
 * its own transaction is open. Every statement is bounded in time (the connection's
 * `statementTimeoutMs`, on the server and on the client).
 *
 * PostgreSQL: a pool of sessions of its own and a dedicated session for LISTEN that reopens
 * itself after the connection drops. PGlite: the database's one session, and its in-process
 * notifications.
 */
export interface StoreSessions {
  readonly backend: LedgerBackend;
  /** Where the database is, for messages (a URL without its password, or the data directory). */
  readonly location: string;
  /** Runs one statement in its own transaction. */
  execute<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<StatementResult<R>>;
  /**
   * Runs `work` exclusively with respect to every other exclusive section on the database.
   *
   * PostgreSQL: one transaction on a session of the pool. A row read with `FOR UPDATE` stays
   * locked until the section ends, so two replicas working on one row take turns; when `work`
   * throws, the transaction is rolled back.
   *
   * PGlite (one process, one session): under the database's in-process lock, each statement
   * committed as it runs — so `work` must make its change in at most one statement, which is
   * then atomic on both backends. The session stays free while `work` waits for something
   * else (e.g. the ledger writer, which shares it).
   *
   * `work` must not start another exclusive section: on PGlite it would wait for itself.
   */
  exclusive<T>(work: (statements: StoreStatements) => Promise<T>): Promise<T>;
  /**
   * Listens on `channel` (a lowercase SQL identifier); resolves once listening, so every
   * notification committed after that is delivered, and with a function that stops. On
   * PostgreSQL it is a session of its own that is reopened (and LISTENs again) whenever it is
   * lost, calling `handlers.resync` each time it is back.
   * @throws LedgerError `ledger.unavailable` when the first session cannot be opened.
   */
  listen(channel: string, handlers: StoreListenHandlers): Promise<() => Promise<void>>;
  /** Stops listening and closes the sessions (not the ledger connection they came from). */
  close(): Promise<void>;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a LISTEN channel name, which is spliced into SQL.
 * @throws LedgerError `ledger.invalid_options`.
 */
export function checkChannel(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new LedgerError(
      'ledger.invalid_options',
      `LISTEN channel ${JSON.stringify(channel)} must be a lowercase SQL identifier (letters, digits and _, at most 63)`,
    );
  }
}
