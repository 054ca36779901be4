import type { Selectable } from 'kysely';
import type { LedgerEventsTable } from '../database/ledger-schema.js';
import { LEDGER_EVENT_COLUMNS, LEDGER_EVENT_TABLE, type LedgerEventRow } from '../event/ledger-event.js';

/** A `ledger_events` row as the database returns it. */
export type StoredEventRow = Selectable<LedgerEventsTable>;

/**
 * The columns every row has, as one object literal built from {@link LEDGER_EVENT_TABLE} once:
 * verify, query and export turn every row they read with it, and a literal of a fixed shape is
 * as fast as the hand-written one it replaces (a loop assigning 27 keys is a fifth slower, with
 * the hashing, on verify's path). The names are the table's own constant column names.
 */
const toFixedColumns = buildFixedColumns();
const OMITTED_WHEN_NULL = LEDGER_EVENT_COLUMNS.filter((name) => LEDGER_EVENT_TABLE[name].omittedWhenNull);

function buildFixedColumns(): (row: StoredEventRow) => Record<string, unknown> {
  const fields = LEDGER_EVENT_COLUMNS.filter((name) => !LEDGER_EVENT_TABLE[name].omittedWhenNull).map((name) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`ledger_events column ${JSON.stringify(name)} is not an identifier`);
    return `${name}: row.${name}${LEDGER_EVENT_TABLE[name].time ? '.toISOString()' : ''}`;
  });
  return new Function('row', `return { ${fields.join(', ')} };`) as (row: StoredEventRow) => Record<string, unknown>;
}

/**
 * Turns a stored row into a {@link LedgerEventRow}, with the columns in table order
 * ({@link LEDGER_EVENT_TABLE}): times as ISO 8601, the columns omitted when null (`shadow_effect`,
 * `shadow_rule`) only when they are not null (as the hash chain covers them), everything else as is.
 */
export function toEventRow(row: StoredEventRow): LedgerEventRow {
  const out = toFixedColumns(row);
  for (const name of OMITTED_WHEN_NULL) {
    const value = row[name];
    if (value !== null && value !== undefined) out[name] = value;
  }
  return out as LedgerEventRow;
}
