import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { LEDGER_EVENT_COLUMNS, LEDGER_EVENT_TABLE, type LedgerEventRow } from './ledger-event.js';

/** The `prev_hash` of a strand's first event: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an event the hash covers: every column but `prev_hash` and `hash`. */
export type HashedEventFields = Omit<LedgerEventRow, 'prev_hash' | 'hash'>;

/** The hashed columns in RFC 8785 key order (UTF-16 code units; all ASCII here). */
const HASHED_KEYS: ReadonlyArray<keyof HashedEventFields> = LEDGER_EVENT_COLUMNS.filter(
  (key): key is keyof HashedEventFields => key !== 'prev_hash' && key !== 'hash',
).sort();

const PREFIXES = HASHED_KEYS.map((key, i) => `${i === 0 ? '{' : ','}${JSON.stringify(key)}:`);

// Columns added after events were first chained (migration 0011) are left out of the canonical
// form when null, so every event hashed before they existed still verifies, and an event
// without a shadow decision hashes as it always did. None of them sorts first.
const OMIT = HASHED_KEYS.map((key) => LEDGER_EVENT_TABLE[key].omittedWhenNull);

/**
 * The canonical form of an event that its hash covers: the RFC 8785 JSON of an object with
 * every column of the row except `prev_hash` and `hash`, absent values as `null`, time as
 * ISO 8601 UTC with milliseconds and `seq` as a number — except `shadow_effect` and
 * `shadow_rule`, which are left out when null (rows read from the ledger leave them out
 * too, so the canonical JSON of such a row without `prev_hash` and `hash` is this). It equals
 * `canonicalJson({ event_id, occurred_at, …, detail })`; the object's keys are fixed, so it is
 * assembled in key order around `canonicalJson` of each value, reusing the canonical JSON of
 * `args` and `detail` when the writer already has it.
 *
 * @example canonicalEvent(row) // '{"agent_id":"trader-1","approval_id":null,…,"tool":"cancel_order"}'
 */
export function canonicalEvent(event: HashedEventFields, argsJson?: string | null, detailJson?: string | null): string {
  let out = '';
  for (let i = 0; i < HASHED_KEYS.length; i++) {
    const key = HASHED_KEYS[i]!;
    let value: string;
    const field = event[key];
    if (OMIT[i] && (field === null || field === undefined)) continue;
    if (key === 'args' && argsJson != null) value = argsJson;
    else if (key === 'detail' && detailJson != null) value = detailJson;
    else value = field === null || field === undefined ? 'null' : canonicalJson(field);
    out += PREFIXES[i]! + value;
  }
  return `${out}}`;
}

/**
 * An event's link in its strand's chain: hex SHA-256 of the UTF-8 bytes of `prevHash`
 * (64 hex characters) followed by {@link canonicalEvent}.
 */
export function eventHash(prevHash: string, event: HashedEventFields, argsJson?: string | null, detailJson?: string | null): string {
  return sha256Hex(prevHash + canonicalEvent(event, argsJson, detailJson));
}
