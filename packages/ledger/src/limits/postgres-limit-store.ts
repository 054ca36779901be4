import type { LimitRequest, LimitResult, LimitStore } from '@tollgate/policy';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { StoreSessions } from '../database/store-sessions.js';
import { LedgerError, describeError } from '../ledger-error.js';
import { ACQUIRE_ONE_SQL, ACQUIRE_SQL, CURRENT_SQL, counterKey } from './counter-statements.js';

/** Where a {@link PostgresLimitStore} reports what it could not do in the background (pino fits). */
export interface LimitStoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** Options of {@link openLimitStore} and {@link PostgresLimitStore}. */
export interface PostgresLimitStoreOptions {
  /** How often rows of windows that ended more than a day ago are deleted (default 10 minutes; 0 never). */
  readonly sweepIntervalMs?: number;
  /** The clock of the periodic sweep (epoch ms; default `Date.now`). */
  readonly now?: () => number;
  readonly logger?: LimitStoreLogger;
}

/** Options of {@link openLimitStore}: the store's and its sessions'. */
export interface OpenLimitStoreOptions extends PostgresLimitStoreOptions {
  /** `application_name` of the store's PostgreSQL sessions (default `tollgate-limits`). */
  readonly applicationName?: string;
  /** The most PostgreSQL sessions the store opens (default 8): calls wait for their limits. */
  readonly maxConnections?: number;
}

const SWEEP_SQL = 'DELETE FROM limit_counters WHERE window_end < $1::bigint';
const CHECK_TABLE_SQL = 'SELECT 1 FROM limit_counters LIMIT 0';
const CHECK_FUNCTION_SQL = "SELECT 'limit_acquire(text[],double precision[],double precision[],bigint[],bigint[])'::regprocedure";
const KEEP_ENDED_MS = 86_400_000;

/**
 * Opens the {@link PostgresLimitStore} of a ledger database (PostgreSQL, or PGlite for one
 * embedded gateway) on sessions of its own. The connection stays the caller's: close the
 * store, then the connection.
 *
 * @example
 * const connection = await connectLedger({ databaseUrl })
 * const limits = openLimitStore(connection)
 * await limits.check()
 * const policy = compilePolicy(source, { server: 'ccxt', limits })
 * @throws LedgerError `ledger.closed` or `ledger.invalid_options`.
 */
export function openLimitStore(connection: LedgerConnection, options: OpenLimitStoreOptions = {}): PostgresLimitStore {
  const sessions = connection.openStoreSessions({
    applicationName: options.applicationName ?? 'tollgate-limits',
    maxConnections: options.maxConnections ?? 8,
  });
  return new PostgresLimitStore(sessions, options);
}

/**
 * A {@link LimitStore} in the ledger's database (migration `0010_limit_counters.sql`), so
 * limits hold across every gateway sharing it: a call with one counter is checked and
 * incremented by one atomic upsert that only increments while the counter fits; a call
 * with several goes through `limit_acquire(...)`, which locks its counters in key order
 * and increments all or none. Every statement is bounded by the connection's
 * `statementTimeoutMs`. The store owns its sessions and closes them on {@link close}.
 *
 * @example
 * const store = openLimitStore(connection)
 * const policy = compilePolicy(source, { server: 'ccxt', limits: store })
 * await policy.decideAsync(call)
 */
export class PostgresLimitStore implements LimitStore {
  readonly #sessions: StoreSessions;
  readonly #logger: LimitStoreLogger | undefined;
  readonly #sweep: NodeJS.Timeout | undefined;

  /** Builds the store on sessions of its own; {@link openLimitStore} is the usual way. */
  constructor(sessions: StoreSessions, options: PostgresLimitStoreOptions = {}) {
    this.#sessions = sessions;
    this.#logger = options.logger;
    const every = options.sweepIntervalMs ?? 600_000;
    if (!Number.isInteger(every) || every < 0) {
      throw new LedgerError('ledger.invalid_options', `limit store: "sweepIntervalMs" must be an integer >= 0 (got ${String(every)})`);
    }
    const now = options.now ?? Date.now;
    if (every > 0) {
      this.#sweep = setInterval(() => void this.sweep(now()), every);
      this.#sweep.unref();
    }
  }

  /**
   * Checks and increments the counters of one call (see {@link LimitStore}).
   * @throws LedgerError `ledger.unavailable` when the database does not answer in time,
   *   `ledger.not_migrated` when it has no limit counters.
   */
  async acquire(requests: readonly LimitRequest[], _now: number): Promise<LimitResult> {
    if (requests.length === 0) return { exceeded: -1, used: [] };
    if (requests.length === 1) return this.#acquireOne(requests[0]!);
    const keys = new Array<string>(requests.length);
    const amounts = new Array<number>(requests.length);
    const maxes = new Array<number>(requests.length);
    const starts = new Array<number>(requests.length);
    const ends = new Array<number>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      // Policy keys hold NUL separators, which PostgreSQL text cannot store: keep their JSON form.
      keys[i] = counterKey(r);
      amounts[i] = r.amount;
      maxes[i] = r.max;
      starts[i] = r.windowStart;
      ends[i] = r.windowEnd;
    }
    let row: { exceeded_index: number; counter_values: number[] } | undefined;
    try {
      const result = await this.#sessions.execute<{ exceeded_index: number; counter_values: number[] }>(ACQUIRE_SQL, [keys, amounts, maxes, starts, ends]);
      row = result.rows[0];
    } catch (error) {
      throw this.#failed(error);
    }
    if (!row) throw new LedgerError('ledger.write_failed', `limit_acquire returned no row at ${this.#sessions.location}`);
    return { exceeded: row.exceeded_index, used: row.counter_values.map(Number) };
  }

  async #acquireOne(r: LimitRequest): Promise<LimitResult> {
    const key = counterKey(r);
    try {
      const admitted = await this.#sessions.execute<{ used: number }>(ACQUIRE_ONE_SQL, [key, r.windowStart, r.windowEnd, r.amount, r.max]);
      const row = admitted.rows[0];
      if (row) return { exceeded: -1, used: [Number(row.used)] };
      const current = await this.#sessions.execute<{ used: number }>(CURRENT_SQL, [key, r.windowStart]);
      return { exceeded: 0, used: [Number(current.rows[0]?.used ?? 0)] };
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /**
   * Checks that the database has the limit counters (migration 0010), so a gateway fails at
   * start-up rather than on its first limited call.
   * @throws LedgerError `ledger.not_migrated` naming the fix, `ledger.unavailable`.
   */
  async check(): Promise<void> {
    try {
      await this.#sessions.execute(CHECK_TABLE_SQL);
      await this.#sessions.execute(CHECK_FUNCTION_SQL);
    } catch (error) {
      if (/does not exist/.test(describeError(error))) {
        throw new LedgerError(
          'ledger.not_migrated',
          `the ledger database ${this.#sessions.location} has no limit counters (migration 0010_limit_counters.sql): run \`tollgate ledger migrate\``,
          { cause: error },
        );
      }
      throw ledgerErrorFromPg(error, this.#sessions.location, 'checking the limit counters');
    }
  }

  /** Deletes counters of windows that ended more than a day before `now`; returns how many. */
  async sweep(now: number): Promise<number> {
    try {
      return (await this.#sessions.execute(SWEEP_SQL, [now - KEEP_ENDED_MS])).rowCount;
    } catch (error) {
      this.#logger?.warn({ err: describeError(error) }, 'could not delete old limit counters');
      return 0;
    }
  }

  /** Stops the periodic sweep and closes the store's sessions (not the ledger connection). */
  async close(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#sessions.close();
  }

  #failed(error: unknown): LedgerError {
    return ledgerErrorFromPg(error, this.#sessions.location, "checking a call's limits in the limit store");
  }
}
