import type { LimitRequest, LimitResult } from '@tollgate/policy';
import type { PipelinedResult, PipelinedStatement } from '../database/ledger-connection.js';
import { LedgerError } from '../ledger-error.js';

/** Several counters, all or none: `limit_acquire(...)` of migration 0010. */
export const ACQUIRE_SQL = 'SELECT exceeded_index, counter_values FROM limit_acquire($1::text[], $2::float8[], $3::float8[], $4::bigint[], $5::bigint[])';

/**
 * One counter (the common case): one atomic upsert that only increments while it fits. No row
 * back means it did not fit (or the amount alone exceeds the max, so nothing was inserted). An
 * existing row is locked either way (ON CONFLICT DO UPDATE locks the rows it does not update).
 */
export const ACQUIRE_ONE_SQL = `INSERT INTO limit_counters AS c (counter_key, window_start, window_end, used)
SELECT $1::text, $2::bigint, $3::bigint, $4::float8 WHERE $4::float8 <= $5::float8
ON CONFLICT (counter_key, window_start) DO UPDATE
  SET used = c.used + EXCLUDED.used, updated_at = now()
  WHERE c.used + EXCLUDED.used <= $5::float8
RETURNING used`;

/** A counter's value in a window (0 when it has no row). */
export const CURRENT_SQL = 'SELECT used FROM limit_counters WHERE counter_key = $1::text AND window_start = $2::bigint';

/** Creates the missing counters of a batch, in key order (so two writers never wait on each other in a cycle). */
const CREATE_COUNTERS_SQL = `INSERT INTO limit_counters (counter_key, window_start, window_end, used)
SELECT DISTINCT u.k, u.s, u.e, 0::double precision FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(k, s, e)
ORDER BY 1, 2
ON CONFLICT (counter_key, window_start) DO NOTHING`;

/** Locks the counters of a batch in key order, before any of its calls is counted. */
const LOCK_COUNTERS_SQL = `SELECT 1 FROM limit_counters c
WHERE (c.counter_key, c.window_start) IN (SELECT u.k, u.s FROM unnest($1::text[], $2::bigint[]) AS u(k, s))
ORDER BY c.counter_key, c.window_start
FOR UPDATE`;

/** A counter key as the database stores it: policy keys hold NUL separators, which PostgreSQL text cannot, so their JSON form. */
export function counterKey(request: LimitRequest): string {
  return JSON.stringify(request.key);
}

const ARRAY_SPECIAL = /["\\]/g;

function quotedArray(values: readonly string[]): string {
  return '{' + values.map((v) => '"' + v.replace(ARRAY_SPECIAL, '\\$&') + '"').join(',') + '}';
}

function numberArray(values: readonly number[]): string {
  return '{' + values.map(String).join(',') + '}';
}

/** The counters of some calls, as statements of one pipeline, and how to read what they answered. */
export interface CountingStatements {
  readonly statements: PipelinedStatement[];
  /** Each call's results (one {@link LimitResult} per counter group), from the pipeline's results from `offset` on. */
  read(results: readonly PipelinedResult[], offset: number): LimitResult[][];
}

/**
 * The statements that check and increment, in one transaction, the counters of several calls
 * (each call a list of groups, each group all-or-nothing as `LimitStore.acquire`), in call
 * order: each sees the counters as the earlier ones left them. With more than one call, every
 * counter of the batch is first created if missing and locked in key order, so writers on the
 * same database never deadlock; a single call's counters are locked in key order by
 * `limit_acquire` itself (or there is one).
 */
export function countingStatements(calls: ReadonlyArray<readonly (readonly LimitRequest[])[]>): CountingStatements {
  const statements: PipelinedStatement[] = [];
  if (calls.length > 1) {
    const keys: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    for (const groups of calls) {
      for (const group of groups) {
        for (const r of group) {
          keys.push(counterKey(r));
          starts.push(r.windowStart);
          ends.push(r.windowEnd);
        }
      }
    }
    const k = quotedArray(keys);
    const s = numberArray(starts);
    statements.push({ name: 'tollgate_counters_create', text: CREATE_COUNTERS_SQL, values: [k, s, numberArray(ends)] });
    statements.push({ name: 'tollgate_counters_lock', text: LOCK_COUNTERS_SQL, values: [k, s] });
  }
  const prelude = statements.length;
  for (const groups of calls) {
    for (const group of groups) {
      if (group.length === 1) {
        const r = group[0]!;
        const key = counterKey(r);
        statements.push({ name: 'tollgate_counter_acquire_one', text: ACQUIRE_ONE_SQL, values: [key, String(r.windowStart), String(r.windowEnd), String(r.amount), String(r.max)] });
        statements.push({ name: 'tollgate_counter_current', text: CURRENT_SQL, values: [key, String(r.windowStart)] });
      } else {
        statements.push({
          name: 'tollgate_counters_acquire',
          text: ACQUIRE_SQL,
          values: [quotedArray(group.map(counterKey)), numberArray(group.map((r) => r.amount)), numberArray(group.map((r) => r.max)), numberArray(group.map((r) => r.windowStart)), numberArray(group.map((r) => r.windowEnd))],
        });
      }
    }
  }
  return {
    statements,
    read(results, offset) {
      let at = offset + prelude;
      return calls.map((groups) =>
        groups.map((group): LimitResult => {
          if (group.length === 1) {
            const admitted = results[at++]!.rows[0];
            const current = results[at++]!.rows[0];
            if (admitted) return { exceeded: -1, used: [Number(admitted.used)] };
            return { exceeded: 0, used: [Number(current?.used ?? 0)] };
          }
          const row = results[at++]!.rows[0];
          if (!row) throw new LedgerError('ledger.write_failed', 'limit_acquire returned no row');
          return { exceeded: Number(row.exceeded_index), used: parseNumberArray(row.counter_values) };
        }),
      );
    },
  };
}

/** A float8[] in text form (`{1,2.5}`) as numbers. */
function parseNumberArray(text: string | null | undefined): number[] {
  if (!text || text === '{}') return [];
  return text.slice(1, -1).split(',').map(Number);
}
