import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { LedgerError, describeError, type LedgerErrorCode } from '../ledger-error.js';
import type { LedgerBackend, LedgerConnection, StatementResult } from './ledger-connection.js';
import type { LedgerDatabase } from './ledger-schema.js';

const INT8_OID = 20;

/**
 * Type parsers of the ledger's connections: `bigint` (sequence numbers, counts) as a JS
 * number, which is exact up to 2^53; everything else as `pg` parses it. Set per pool, never
 * globally, so other users of `pg` in the process are unaffected.
 */
export const LEDGER_PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

// SQLSTATE classes and codes that mean "the database is not there right now".
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Classifies an error from `pg`: unreachable or timed out, schema missing, or anything else. */
export function classifyPgError(error: unknown): LedgerErrorCode {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === '42P01' || code === '42883') return 'ledger.not_migrated';
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code)) return 'ledger.unavailable';
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/timeout|terminated|Connection ended|not queryable|ECONNREFUSED|ECONNRESET|closed/i.test(message)) {
    return 'ledger.unavailable';
  }
  return 'ledger.write_failed';
}

/** A {@link LedgerError} for a failed statement, saying where the database is. */
export function ledgerErrorFromPg(error: unknown, location: string, doing: string): LedgerError {
  if (error instanceof LedgerError) return error;
  const code = classifyPgError(error);
  const detail = describeError(error);
  const message =
    code === 'ledger.unavailable'
      ? `ledger database ${location} is unavailable while ${doing}: ${detail}`
      : code === 'ledger.not_migrated'
        ? `ledger database ${location} has no ledger schema (${detail}); run \`tollgate ledger migrate\``
        : `ledger database ${location} refused ${doing}: ${detail}`;
  return new LedgerError(code, message, { cause: error });
}

interface PoolConnectionParts {
  backend: LedgerBackend;
  location: string;
  /** Pool behind Kysely: queries, migrations, verify, export. */
  queryPool: pg.Pool;
  /** Pool behind `execute()`: the writer's bounded-time statements. */
  writePool: pg.Pool;
  /** Client-side limit on one `execute()`; 0 for none. */
  executeTimeoutMs: number;
  /** Whether a client that failed is destroyed (PostgreSQL) or kept (PGlite's single session). */
  discardFailedClients: boolean;
  /** Runs after both pools have ended. */
  onClose: () => Promise<void>;
}

/** A {@link LedgerConnection} over `pg` pools; both backends use it. */
export class PoolLedgerConnection implements LedgerConnection {
  readonly backend: LedgerBackend;
  readonly location: string;
  readonly db: Kysely<LedgerDatabase>;
  readonly #parts: PoolConnectionParts;
  #closed: Promise<void> | undefined;

  constructor(parts: PoolConnectionParts) {
    this.#parts = parts;
    this.backend = parts.backend;
    this.location = parts.location;
    this.db = new Kysely<LedgerDatabase>({ dialect: new PostgresDialect({ pool: parts.queryPool }) });
  }

  async execute<R extends object = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<StatementResult<R>> {
    if (this.#closed) throw new LedgerError('ledger.closed', `ledger connection to ${this.location} is closed`);
    const { writePool, executeTimeoutMs, discardFailedClients } = this.#parts;
    const client = await writePool.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      const query = client.query<R>({ text, values: values as unknown[] });
      // If the timer wins, the query may still fail later; that failure is already reported.
      query.catch(() => {});
      const result =
        executeTimeoutMs > 0
          ? await Promise.race([
              query,
              new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () => reject(Object.assign(new Error(`no answer within ${executeTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
                  executeTimeoutMs,
                );
              }),
            ])
          : await query;
      client.release();
      // A string of several statements answers with one result each: report the last.
      const last = (Array.isArray(result) ? result[result.length - 1] : result) as pg.QueryResult<R> | undefined;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    } catch (error) {
      // A connection that failed mid-statement may be half-broken (or still waiting on a dead
      // server): destroy it so the next write starts on a fresh one.
      client.release(discardFailedClients ? (error as Error) : undefined);
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.db.destroy(); // ends the query pool
      if (this.#parts.writePool !== this.#parts.queryPool) await this.#parts.writePool.end();
      await this.#parts.onClose();
    })();
    return this.#closed;
  }
}

/** Keeps errors of idle or checked-out clients (a server restart) from crashing the process. */
export function quietPool(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}
