import pg from 'pg';
import { LedgerError, describeError } from '../ledger-error.js';
import type { LedgerConnection, ResolvedConnectionSettings } from './ledger-connection.js';
import { LEDGER_PG_TYPES, PoolLedgerConnection, quietPool } from './pool-ledger-connection.js';
import { PostgresStoreSessions } from './postgres-store-sessions.js';
import type { LedgerBackend } from './ledger-connection.js';

/** A database URL with its password removed, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable database URL>';
  }
}

/**
 * Opens pools to a PostgreSQL ledger and probes the server once.
 * @throws LedgerError `ledger.invalid_options` for a malformed URL, `ledger.unavailable` when
 * the server cannot be reached within `connectTimeoutMs`.
 */
export async function connectPostgres(databaseUrl: string, settings: ResolvedConnectionSettings): Promise<LedgerConnection> {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch (error) {
    throw new LedgerError(
      'ledger.invalid_options',
      `database URL is not a URL (${describeError(error)}); expected postgres://user[:password]@host[:port]/database`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new LedgerError(
      'ledger.invalid_options',
      `database URL ${redactDatabaseUrl(databaseUrl)} must start with postgres:// or postgresql://`,
    );
  }
  const location = redactDatabaseUrl(databaseUrl);
  const base: pg.PoolConfig = {
    connectionString: databaseUrl,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: settings.applicationName,
    types: LEDGER_PG_TYPES,
  };
  const { connection, queryPool } = openPgConnection({
    backend: 'postgres',
    location,
    base,
    settings,
    supportsCopy: true,
    supportsPipeline: true,
    exclusive: 'transaction',
  });
  try {
    await queryPool.query('SELECT 1');
  } catch (error) {
    await connection.close();
    throw new LedgerError('ledger.unavailable', `cannot connect to the ledger database ${location}: ${describeError(error)}`, {
      cause: error,
    });
  }
  return connection;
}

/** What {@link openPgConnection} builds a connection from. */
export interface PgConnectionParts {
  readonly backend: LedgerBackend;
  readonly location: string;
  /** The client configuration every session shares (where, how to authenticate, type parsers). */
  readonly base: pg.PoolConfig;
  readonly settings: ResolvedConnectionSettings;
  /** Whether COPY FROM STDIN works on the server. */
  readonly supportsCopy: boolean;
  /** Whether several statements can be sent in one round trip (extended protocol) on the server. */
  readonly supportsPipeline: boolean;
  /** How the stores' exclusive sections exclude each other (see `PostgresStoreSessionParts.exclusive`). */
  readonly exclusive: 'transaction' | 'advisory-lock';
  /** Makes each pool (default `new pg.Pool`). */
  readonly createPool?: (config: pg.PoolConfig) => pg.Pool;
  /** Runs once the connection's pools have ended. */
  readonly onClose?: () => Promise<void>;
}

/**
 * A {@link LedgerConnection} to a server that speaks the PostgreSQL protocol: a query pool, a
 * write pool whose sessions carry the write path's time bounds, and store sessions of their
 * own. It does not connect yet.
 */
export function openPgConnection(parts: PgConnectionParts): { connection: LedgerConnection; queryPool: pg.Pool } {
  const { base, settings, location } = parts;
  const createPool = parts.createPool ?? ((config: pg.PoolConfig) => new pg.Pool(config));
  const queryPool = quietPool(
    createPool({
      ...base,
      max: settings.maxConnections,
      ...(settings.queryTimeoutMs > 0 ? { statement_timeout: settings.queryTimeoutMs } : {}),
    }),
  );
  const writePool = quietPool(
    createPool({
      ...base,
      max: 2,
      statement_timeout: settings.statementTimeoutMs,
      lock_timeout: settings.statementTimeoutMs,
      idle_in_transaction_session_timeout: settings.statementTimeoutMs * 2,
    }),
  );
  const connection = new PoolLedgerConnection({
    backend: parts.backend,
    location,
    queryPool,
    writePool,
    // The server's statement_timeout answers first with a clear error; this catches a server
    // (or network) that does not answer at all.
    executeTimeoutMs: settings.statementTimeoutMs + 1000,
    discardFailedClients: true,
    settleBeforeClose: false,
    supportsCopy: parts.supportsCopy,
    supportsPipeline: parts.supportsPipeline,
    openStoreSessions: (_connection, options, closed) =>
      new PostgresStoreSessions({
        location,
        base,
        settings,
        ...options,
        closed,
        exclusive: parts.exclusive,
        ...(parts.createPool ? { createPool: parts.createPool } : {}),
        backend: parts.backend,
      }),
    onClose: parts.onClose ?? (async () => {}),
  });
  return { connection, queryPool };
}
