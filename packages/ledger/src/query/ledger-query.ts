import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { LedgerEventRow } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';
import { toEventRow, type StoredEventRow } from './event-row.js';
import { applyFilter, checkFilter, type LedgerFilter } from './ledger-filter.js';

/** Options of {@link queryLedger}. */
export interface LedgerQueryOptions extends LedgerFilter {
  /** Most events returned (default 1000, at most 100000); use `exportLedger` for more. */
  limit?: number;
  /** Oldest first (`asc`, the default) or newest first. */
  order?: 'asc' | 'desc';
}

/** The result of {@link queryLedger}. */
export interface LedgerQueryResult {
  events: LedgerEventRow[];
  /** True when more events matched than `limit`. */
  truncated: boolean;
  limit: number;
}

/**
 * Finds events by time range, agent, server, tool, effect, rule, policy revision, approver,
 * call id, session or type, ordered by time.
 *
 * @example await queryLedger(connection, { effects: ['deny'], tools: ['withdraw_cryptocurrency'], from: new Date(Date.now() - 86_400_000) })
 * @throws LedgerError `ledger.invalid_query` for a malformed filter, `ledger.unavailable`.
 */
export async function queryLedger(connection: LedgerConnection, options: LedgerQueryOptions = {}): Promise<LedgerQueryResult> {
  checkFilter(options);
  const limit = options.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new LedgerError('ledger.invalid_query', `"limit" must be an integer from 1 to 100000 (got ${String(options.limit)})`);
  }
  const direction = options.order === 'desc' ? 'desc' : 'asc';
  let rows: StoredEventRow[];
  try {
    rows = await applyFilter(connection.db.selectFrom('ledger_events').selectAll(), options)
      .orderBy('occurred_at', direction)
      .orderBy('event_id', direction)
      .limit(limit + 1)
      .execute();
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'querying events');
  }
  return { events: rows.slice(0, limit).map(toEventRow), truncated: rows.length > limit, limit };
}

