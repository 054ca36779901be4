import { canonicalJson } from '@tollgate/policy';
import { LEDGER_EVENT_COLUMNS, LEDGER_EVENT_TABLE, type LedgerEventRow } from '../event/ledger-event.js';

const JSON_COLUMN = LEDGER_EVENT_COLUMNS.map((name) => LEDGER_EVENT_TABLE[name].json);

/** The header line of a CSV export: the `ledger_events` column names. */
export function csvHeader(): string {
  return LEDGER_EVENT_COLUMNS.join(',');
}

/**
 * One event as an RFC 4180 CSV line (no line break): JSON columns as canonical JSON text
 * (RFC 8785, so the same event always exports the same bytes), nulls empty.
 * A text cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, their
 * full-width forms `＝＋－＠`, tab or carriage return — the set csv-stringify's `escape_formulas`
 * defuses) is prefixed with `'`: arguments come from agents and must not execute in an
 * auditor's spreadsheet. NDJSON exports are exact.
 */
export function eventToCsvLine(row: LedgerEventRow): string {
  let line = '';
  for (let i = 0; i < LEDGER_EVENT_COLUMNS.length; i++) {
    if (i > 0) line += ',';
    const value = row[LEDGER_EVENT_COLUMNS[i]!];
    line += csvCell(JSON_COLUMN[i] && value !== null ? canonicalJson(value) : value);
  }
  return line;
}

/** Formats one CSV cell (see {@link eventToCsvLine}). */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (typeof value === 'string' && /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
