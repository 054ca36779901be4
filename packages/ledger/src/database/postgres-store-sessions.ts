import pg from 'pg';
import { LedgerError } from '../ledger-error.js';
import type { LedgerBackend, ResolvedConnectionSettings, StatementResult } from './ledger-connection.js';
import { quietPool } from './pool-ledger-connection.js';
import { PostgresNotificationListener } from './postgres-notification-listener.js';
import { checkChannel, type StoreListenHandlers, type StoreSessions, type StoreStatements } from './store-sessions.js';

/** What {@link PostgresStoreSessions} is built from. */
export interface PostgresStoreSessionParts {
  readonly location: string;
  /** The ledger connection's client configuration (URL, connect timeout, keepalive, type parsers). */
  readonly base: pg.PoolConfig;
  readonly settings: ResolvedConnectionSettings;
  readonly applicationName: string;
  readonly maxConnections: number;
  readonly heartbeatMs: number;
  /** Called once the sessions are closed. */
  readonly closed?: () => void;
  /**
   * How exclusive sections exclude each other: `transaction` (PostgreSQL) runs each in one
   * transaction, its `FOR UPDATE` row locks held to the end; `advisory-lock` (the embedded
   * ledger's server, which has one database session for every connection) takes the server's
   * advisory lock for the section on one session and commits each statement as it runs, so the
   * database stays free for the ledger writer while the section waits on it.
   */
  readonly exclusive?: 'transaction' | 'advisory-lock';
  /** Makes the pool (default `new pg.Pool`). */
  readonly createPool?: (config: pg.PoolConfig) => pg.Pool;
  /** Which database this is (default `postgres`). */
  readonly backend?: LedgerBackend;
}

/** The advisory lock of every exclusive section on the embedded ledger's server. */
export const EXCLUSIVE_SECTION_LOCK = 7_477_914_610_030_301;

/**
 * {@link StoreSessions} on PostgreSQL: a pool of its own whose sessions carry the write path's
 * bounds (`statement_timeout` and `lock_timeout` of `statementTimeoutMs`, an idle transaction
 * killed after twice that), a client-side limit on every statement for a server that does not
 * answer at all, and a dedicated LISTEN session per {@link listen}.
 */
export class PostgresStoreSessions implements StoreSessions {
  readonly backend: LedgerBackend;
  readonly location: string;
  readonly #parts: PostgresStoreSessionParts;
  readonly #pool: pg.Pool;
  readonly #clientTimeoutMs: number;
  readonly #listeners = new Set<PostgresNotificationListener>();
  #closed: Promise<void> | undefined;

  constructor(parts: PostgresStoreSessionParts) {
    this.#parts = parts;
    this.location = parts.location;
    this.backend = parts.backend ?? 'postgres';
    const { statementTimeoutMs } = parts.settings;
    this.#clientTimeoutMs = statementTimeoutMs + 1000;
    const createPool = parts.createPool ?? ((config: pg.PoolConfig) => new pg.Pool(config));
    this.#pool = quietPool(
      createPool({
        ...parts.base,
        application_name: parts.applicationName,
        max: parts.maxConnections,
        statement_timeout: statementTimeoutMs,
        lock_timeout: statementTimeoutMs,
        idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      }),
    );
  }

  async execute<R extends object = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<StatementResult<R>> {
    const client = await this.#connect();
    try {
      const result = await this.#query<R>(client, text, values);
      client.release();
      return result;
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
  }

  async exclusive<T>(work: (statements: StoreStatements) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    if (this.#parts.exclusive === 'advisory-lock') {
      try {
        // A statement without parameters goes as a simple query, which the server answers itself.
        await this.#query(client, `SELECT pg_advisory_lock(${EXCLUSIVE_SECTION_LOCK})`, []);
        const result = await work({ query: (text, values = []) => this.#query(client, text, values) });
        await this.#query(client, `SELECT pg_advisory_unlock(${EXCLUSIVE_SECTION_LOCK})`, []);
        client.release();
        return result;
      } catch (error) {
        // Closing the session gives the lock back.
        client.release(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    }
    try {
      await this.#query(client, 'BEGIN', []);
      const result = await work({ query: (text, values = []) => this.#query(client, text, values) });
      await this.#query(client, 'COMMIT', []);
      client.release();
      return result;
    } catch (error) {
      // Destroying the session rolls its transaction back, and a session whose statement
      // timed out on the client may still be busy: it is not worth keeping.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  async listen(channel: string, handlers: StoreListenHandlers): Promise<() => Promise<void>> {
    checkChannel(channel);
    this.#checkOpen();
    const { base, settings, applicationName, heartbeatMs, location } = this.#parts;
    const listener = new PostgresNotificationListener({
      client: { ...base, application_name: `${applicationName}-listen` },
      location,
      channel,
      handlers,
      heartbeatMs,
      timeoutMs: settings.connectTimeoutMs + settings.statementTimeoutMs,
    });
    await listener.start();
    this.#listeners.add(listener);
    return async () => {
      this.#listeners.delete(listener);
      await listener.stop();
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const listener of this.#listeners) await listener.stop();
      this.#listeners.clear();
      await this.#pool.end();
      this.#parts.closed?.();
    })();
    return this.#closed;
  }

  #checkOpen(): void {
    if (this.#closed) throw new LedgerError('ledger.closed', `the store's sessions on ${this.location} are closed`);
  }

  async #connect(): Promise<pg.PoolClient> {
    this.#checkOpen();
    return this.#pool.connect();
  }

  async #query<R extends object>(client: pg.PoolClient, text: string, values: readonly unknown[]): Promise<StatementResult<R>> {
    let timer: NodeJS.Timeout | undefined;
    const running = client.query<R>({ text, values: values as unknown[] });
    running.catch(() => {});
    try {
      const result: unknown = await Promise.race([
        running,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error(`no answer within ${this.#clientTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
            this.#clientTimeoutMs,
          );
        }),
      ]);
      // A string of several statements answers with one result each: report the last.
      const last = (Array.isArray(result) ? result[result.length - 1] : result) as pg.QueryResult<R> | undefined;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    } finally {
      clearTimeout(timer);
    }
  }
}
