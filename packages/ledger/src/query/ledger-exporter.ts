import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { sql } from 'kysely';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import { LedgerError } from '../ledger-error.js';
import { csvHeader, eventToCsvLine } from './event-csv.js';
import { toEventRow, type StoredEventRow } from './event-row.js';
import { applyFilter, checkFilter, type LedgerFilter } from './ledger-filter.js';

/** The formats of {@link exportLedger}. */
export type ExportFormat = 'ndjson' | 'csv';

/** Options of {@link exportLedger}. */
export interface ExportLedgerOptions extends LedgerFilter {
  format: ExportFormat;
  /** Where the lines go (a file stream, stdout). Not ended by the export. */
  output: Writable;
  /** Events read per query (default 1000). */
  pageSize?: number;
}

/** What {@link exportLedger} wrote. */
export interface ExportResult {
  format: ExportFormat;
  events: number;
}

/**
 * Streams the events of a time range (and filter) as NDJSON (one `ledger_events` row per line)
 * or CSV (header line, then one row per line), oldest first. Reads page by page and honours
 * the output's back-pressure, so memory stays flat however large the range.
 *
 * @example await exportLedger(connection, { from, to, format: 'ndjson', output: createWriteStream('2026-11.ndjson') })
 */
export async function exportLedger(connection: LedgerConnection, options: ExportLedgerOptions): Promise<ExportResult> {
  checkFilter(options);
  if (options.format !== 'ndjson' && options.format !== 'csv') {
    throw new LedgerError('ledger.invalid_query', `export format must be ndjson or csv (got ${JSON.stringify(options.format)})`);
  }
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new LedgerError('ledger.invalid_query', `"pageSize" must be a positive integer (got ${String(options.pageSize)})`);
  }
  const { output, format } = options;
  const write = async (text: string): Promise<void> => {
    if (!output.write(text)) await once(output, 'drain');
  };
  if (format === 'csv') await write(`${csvHeader()}\n`);

  let events = 0;
  // Keyset pagination on (occurred_at, event_id); the time is carried as PostgreSQL text so
  // that no precision is lost between pages.
  let cursor: { time: string; eventId: string } | undefined;
  for (;;) {
    let rows: Array<StoredEventRow & { cursor_time: string }>;
    try {
      let query = applyFilter(
        connection.db.selectFrom('ledger_events').selectAll().select(sql<string>`occurred_at::text`.as('cursor_time')),
        options,
      );
      if (cursor) {
        const { time, eventId } = cursor;
        query = query.where(sql<boolean>`(occurred_at, event_id) > (${time}::timestamptz, ${eventId}::uuid)`);
      }
      rows = await query.orderBy('occurred_at').orderBy('event_id').limit(pageSize).execute();
    } catch (error) {
      throw ledgerErrorFromPg(error, connection.location, 'exporting events');
    }
    let chunk = '';
    for (const stored of rows) {
      const { cursor_time: _time, ...rest } = stored;
      const row = toEventRow(rest);
      chunk += format === 'csv' ? `${eventToCsvLine(row)}\n` : `${JSON.stringify(row)}\n`;
    }
    if (chunk) await write(chunk);
    events += rows.length;
    if (rows.length < pageSize) break;
    const last = rows[rows.length - 1]!;
    cursor = { time: last.cursor_time, eventId: last.event_id };
  }
  return { format, events };
}
