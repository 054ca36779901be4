import type { LimitRequest, LimitResult, LimitStore } from '@tollgate/policy';
import type pg from 'pg';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';

/** Options of a {@link PostgresLimitStore}. */
export interface PostgresLimitStoreOptions {
  /** How often rows of windows that ended more than a day ago are deleted (default 10 minutes; 0 never). */
  readonly sweepIntervalMs?: number;
  readonly logger?: Logger;
}

const ACQUIRE_SQL = 'SELECT exceeded_index, counter_values FROM limit_acquire($1::text[], $2::float8[], $3::float8[], $4::bigint[], $5::bigint[])';
// One counter (the common case): one atomic upsert that only increments while it fits. No row
// back means it did not fit (or the amount alone exceeds the max, so nothing was inserted).
const ACQUIRE_ONE_SQL = `INSERT INTO limit_counters AS c (counter_key, window_start, window_end, used)
SELECT $1::text, $2::bigint, $3::bigint, $4::float8 WHERE $4::float8 <= $5::float8
ON CONFLICT (counter_key, window_start) DO UPDATE
  SET used = c.used + EXCLUDED.used, updated_at = now()
  WHERE c.used + EXCLUDED.used <= $5::float8
RETURNING used`;
const CURRENT_SQL = 'SELECT used FROM limit_counters WHERE counter_key = $1::text AND window_start = $2::bigint';
const SWEEP_SQL = 'DELETE FROM limit_counters WHERE window_end < $1::bigint';
const KEEP_ENDED_MS = 86_400_000;

/**
 * A {@link LimitStore} in PostgreSQL (migration `0010_limit_counters.sql`), so limits hold
 * across every gateway sharing the database: a call with one counter is checked and
 * incremented by one atomic upsert that only increments while the counter fits; a call
 * with several goes through `limit_acquire(...)`, which locks its counters in key order
 * and increments all or none. The pool is the caller's (injected) and stays open on `close()`.
 *
 * @example
 * const store = new PostgresLimitStore(new pg.Pool({ connectionString: url }));
 * const policy = compilePolicy(source, { server: 'ccxt', limits: store });
 * await policy.decideAsync(call);
 */
export class PostgresLimitStore implements LimitStore {
  readonly #pool: pg.Pool;
  readonly #logger: Logger | undefined;
  readonly #sweep: NodeJS.Timeout | undefined;

  constructor(pool: pg.Pool, options: PostgresLimitStoreOptions = {}) {
    this.#pool = pool;
    this.#logger = options.logger;
    const every = options.sweepIntervalMs ?? 600_000;
    if (every > 0) {
      this.#sweep = setInterval(() => void this.sweep(Date.now()), every);
      this.#sweep.unref();
    }
  }

  /**
   * Checks and increments the counters of one call (see {@link LimitStore}).
   * @throws GatewayError `limits.unavailable` when the database does not answer.
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
      keys[i] = JSON.stringify(r.key);
      amounts[i] = r.amount;
      maxes[i] = r.max;
      starts[i] = r.windowStart;
      ends[i] = r.windowEnd;
    }
    let row: { exceeded_index: number; counter_values: number[] } | undefined;
    try {
      const result = await this.#pool.query<{ exceeded_index: number; counter_values: number[] }>(ACQUIRE_SQL, [keys, amounts, maxes, starts, ends]);
      row = result.rows[0];
    } catch (error) {
      throw new GatewayError('limits.unavailable', `the limit store could not check the call's limits: ${errorMessage(error)}`, { cause: error });
    }
    if (!row) throw new GatewayError('limits.unavailable', 'limit_acquire returned no row');
    return { exceeded: row.exceeded_index, used: row.counter_values.map(Number) };
  }

  async #acquireOne(r: LimitRequest): Promise<LimitResult> {
    const key = JSON.stringify(r.key);
    try {
      const admitted = await this.#pool.query<{ used: number }>(ACQUIRE_ONE_SQL, [key, r.windowStart, r.windowEnd, r.amount, r.max]);
      const row = admitted.rows[0];
      if (row) return { exceeded: -1, used: [Number(row.used)] };
      const current = await this.#pool.query<{ used: number }>(CURRENT_SQL, [key, r.windowStart]);
      return { exceeded: 0, used: [Number(current.rows[0]?.used ?? 0)] };
    } catch (error) {
      throw new GatewayError('limits.unavailable', `the limit store could not check the call's limits: ${errorMessage(error)}`, { cause: error });
    }
  }

  /**
   * Checks that the database has the limit counters (migration 0010), so a gateway fails at
   * start-up rather than on its first limited call.
   * @throws GatewayError `limits.unavailable` naming the fix.
   */
  async check(): Promise<void> {
    try {
      await this.#pool.query("SELECT 1 FROM limit_counters LIMIT 0; SELECT 'limit_acquire(text[],double precision[],double precision[],bigint[],bigint[])'::regprocedure");
    } catch (error) {
      const missing = /does not exist/.test(errorMessage(error));
      throw new GatewayError(
        'limits.unavailable',
        missing
          ? 'the ledger database has no limit counters (migration 0010_limit_counters.sql): run `tollgate ledger migrate`'
          : `the limit store cannot be reached: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  /** Deletes counters of windows that ended more than a day before `now`; returns how many. */
  async sweep(now: number): Promise<number> {
    try {
      return (await this.#pool.query(SWEEP_SQL, [now - KEEP_ENDED_MS])).rowCount ?? 0;
    } catch (error) {
      this.#logger?.warn({ err: errorMessage(error) }, 'could not delete old limit counters');
      return 0;
    }
  }

  /** Stops the periodic sweep. */
  close(): void {
    if (this.#sweep) clearInterval(this.#sweep);
  }
}
