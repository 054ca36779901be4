import type { PGlite } from '@electric-sql/pglite';
import type { Kysely } from 'kysely';
import { LedgerError } from '../ledger-error.js';
import type { LedgerBackend, StatementResult } from './ledger-backend.js';
import type { LedgerDatabase } from './ledger-schema.js';
import type { StoreSessionOptions, StoreSessions } from './store-sessions.js';

export type { LedgerBackend, StatementResult } from './ledger-backend.js';

/** Where the embedded ledger lives when no database URL is given (DESIGN §3). */
export const DEFAULT_EMBEDDED_DIR = '.tollgate/ledger';

/** How to reach the ledger's database. */
export interface LedgerConnectionOptions {
  /**
   * A `postgres://` URL. Without one the embedded PGlite ledger in {@link dataDir} is used.
   * @example 'postgres://tollgate@db.internal:5432/tollgate'
   */
  databaseUrl?: string;
  /**
   * The embedded ledger's data directory (default `.tollgate/ledger` under the working
   * directory); `memory://` keeps it in memory for the life of the process.
   */
  dataDir?: string;
  /**
   * Whether to create the embedded ledger when {@link dataDir} holds none (default true). Read-only
   * callers pass false: without a ledger they fail with `ledger.not_found` and create nothing,
   * not even the directory's parent.
   */
  create?: boolean;
  /**
   * An open PGlite instance to use instead of opening {@link dataDir}. It stays the caller's:
   * closing the connection does not close it.
   */
  pglite?: PGlite;
  /** How long to wait for a PostgreSQL connection before giving up (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * How long one write may take before it is abandoned (default 5000 ms): the server cancels
   * it (`statement_timeout`) and the client drops the connection shortly after, so
   * `append()` never hangs on a stopped or unreachable database.
   */
  statementTimeoutMs?: number;
  /** `statement_timeout` of audit queries, verify and export (default 0: no limit). */
  queryTimeoutMs?: number;
  /** The most PostgreSQL connections the query pool opens (default 4). */
  maxConnections?: number;
  /** `application_name` of the connections (default `tollgate-ledger`). */
  applicationName?: string;
}

/**
 * An open ledger database: Kysely for queries and migrations, and a bounded-time statement
 * path for the writer. Both backends (PostgreSQL and PGlite) speak through `pg`, so every
 * ledger function works the same on either.
 */
export interface LedgerConnection {
  /** Which database this is. */
  readonly backend: LedgerBackend;
  /** Where it is, for messages: a URL without its password, or the data directory. */
  readonly location: string;
  /** Kysely over the ledger's tables. */
  readonly db: Kysely<LedgerDatabase>;
  /**
   * Runs one statement in its own transaction within `statementTimeoutMs`. On PostgreSQL a
   * connection that fails or times out is discarded rather than reused.
   */
  execute<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<StatementResult<R>>;
  /**
   * Whether {@link copyFrom} is available: PostgreSQL's COPY FROM STDIN, its fastest way to
   * insert many rows in one statement. (PGlite's pg adapter cannot stream COPY data.)
   */
  readonly supportsCopy: boolean;
  /**
   * Opens a transaction on a write connection of its own, runs `prelude` (when given) and one
   * `COPY … FROM STDIN` statement with `data` (COPY text format) in it, and hands back the open
   * transaction to commit or roll back. Every step is bounded by `statementTimeoutMs`; a
   * failed step discards the connection, which rolls the transaction back. PostgreSQL only
   * ({@link supportsCopy}).
   */
  copyInTransaction(copyStatement: string, data: string, prelude?: { text: string; values: readonly unknown[] }): Promise<OpenTransaction>;
  /**
   * Whether {@link pipeline} and {@link pipelineInTransaction} are available (PostgreSQL):
   * several statements sent in one round trip of the extended protocol.
   */
  readonly supportsPipeline: boolean;
  /**
   * Runs `statements` in one round trip on a write connection of its own (extended protocol:
   * each statement's Bind and Execute — and its Parse the first time a named one is used on
   * that session — then one Sync): they form one implicit transaction that commits when the
   * last succeeds, and one failure rolls all of them back. Bounded by `statementTimeoutMs`; a
   * failed or late connection is discarded. PostgreSQL only ({@link supportsPipeline}).
   */
  pipeline(statements: readonly PipelinedStatement[]): Promise<PipelinedResult[]>;
  /**
   * Opens a transaction and runs `statements` in it, in one round trip, and hands it back open
   * with their results; {@link OpenPipelineTransaction.commit} sends more statements and the
   * COMMIT in one more. Bounded like {@link pipeline}. PostgreSQL only.
   */
  pipelineInTransaction(statements: readonly PipelinedStatement[]): Promise<OpenPipelineTransaction>;
  /**
   * Checks within `timeoutMs` that the database would take the writer's inserts now: it
   * answers, is neither a standby nor read-only, has `ledger_events` (not held by a lock that
   * blocks it) and lets this user insert into it. Runs on a query connection, never one of the
   * writer's. One probe at a time: while an earlier one is still unanswered (a stalled server),
   * another fails at once instead of opening more connections.
   *
   * @throws LedgerError `ledger.unavailable` (unreachable, no answer in time, standby,
   * read-only), `ledger.not_migrated`, `ledger.write_failed` (no INSERT privilege),
   * `ledger.closed`.
   */
  probe(timeoutMs: number): Promise<void>;
  /**
   * Opens sessions of a store's own on this database (the approval and limit stores), apart
   * from the writer's, with the write path's time bounds: PostgreSQL a pool and a LISTEN
   * session per `listen()`; PGlite its one session and in-process notifications. Close them
   * when done; closing this connection closes any still open.
   * @throws LedgerError `ledger.closed`, or `ledger.invalid_options` naming a bad option.
   */
  openStoreSessions(options?: StoreSessionOptions): StoreSessions;
  /** Closes pools and, when this connection opened it, the embedded database. */
  close(): Promise<void>;
}

/** A transaction left open by {@link LedgerConnection.copyInTransaction}. */
export interface OpenTransaction {
  /** Commits; rejects (and discards the connection) when the commit fails or times out. */
  commit(): Promise<void>;
  /** Rolls back and returns the connection. */
  rollback(): Promise<void>;
}

/** One statement of {@link LedgerConnection.pipeline}. */
export interface PipelinedStatement {
  /** A name parses the statement once per session and reuses it; '' parses it every time. */
  readonly name: string;
  readonly text: string;
  /** The parameters in PostgreSQL's text form; null is SQL NULL. */
  readonly values: readonly (string | null)[];
}

/** What one pipelined statement returned: its rows in text form, by column name. */
export interface PipelinedResult {
  readonly rows: ReadonlyArray<Readonly<Record<string, string | null>>>;
  readonly rowCount: number;
}

/** A transaction left open by {@link LedgerConnection.pipelineInTransaction}. */
export interface OpenPipelineTransaction {
  /** What the statements that opened it returned, in order. */
  readonly results: readonly PipelinedResult[];
  /** Runs `statements`, then COMMIT, in one round trip; rejects (and discards the connection) when any fails. */
  commit(statements?: readonly PipelinedStatement[]): Promise<PipelinedResult[]>;
  /** Rolls back and returns the connection. */
  rollback(): Promise<void>;
}

/** {@link StoreSessionOptions} with defaults applied. */
export interface ResolvedStoreSessionOptions {
  applicationName: string;
  maxConnections: number;
  heartbeatMs: number;
}

/** Applies defaults to store session options and checks them, naming the bad option. */
export function resolveStoreSessionOptions(options: StoreSessionOptions = {}): ResolvedStoreSessionOptions {
  const resolved = {
    applicationName: options.applicationName ?? 'tollgate-store',
    maxConnections: options.maxConnections ?? 4,
    heartbeatMs: options.heartbeatMs ?? 5000,
  };
  if (!Number.isInteger(resolved.maxConnections) || resolved.maxConnections < 1) {
    throw new LedgerError('ledger.invalid_options', `store sessions: "maxConnections" must be an integer >= 1 (got ${String(resolved.maxConnections)})`);
  }
  if (!Number.isInteger(resolved.heartbeatMs) || resolved.heartbeatMs < 100) {
    throw new LedgerError('ledger.invalid_options', `store sessions: "heartbeatMs" must be an integer >= 100 (got ${String(resolved.heartbeatMs)})`);
  }
  if (typeof resolved.applicationName !== 'string' || resolved.applicationName === '') {
    throw new LedgerError('ledger.invalid_options', 'store sessions: "applicationName" must be a non-empty string');
  }
  return resolved;
}

/** Resolved connection settings with defaults applied. */
export interface ResolvedConnectionSettings {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  queryTimeoutMs: number;
  maxConnections: number;
  applicationName: string;
}

/** Applies defaults to the timing options and checks them, naming the bad option. */
export function resolveConnectionSettings(options: LedgerConnectionOptions): ResolvedConnectionSettings {
  const settings = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    statementTimeoutMs: options.statementTimeoutMs ?? 5000,
    queryTimeoutMs: options.queryTimeoutMs ?? 0,
    maxConnections: options.maxConnections ?? 4,
    applicationName: options.applicationName ?? 'tollgate-ledger',
  };
  for (const key of ['connectTimeoutMs', 'statementTimeoutMs', 'queryTimeoutMs', 'maxConnections'] as const) {
    const value = settings[key];
    const min = key === 'queryTimeoutMs' ? 0 : 1;
    if (!Number.isInteger(value) || value < min) {
      throw new LedgerError('ledger.invalid_options', `ledger connection: "${key}" must be an integer >= ${min} (got ${String(value)})`);
    }
  }
  return settings;
}
