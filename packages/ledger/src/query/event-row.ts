import type { Selectable } from 'kysely';
import type { LedgerEventsTable } from '../database/ledger-schema.js';
import type { LedgerEventRow } from '../event/ledger-event.js';

/** A `ledger_events` row as the database returns it. */
export type StoredEventRow = Selectable<LedgerEventsTable>;

/**
 * Turns a stored row into a {@link LedgerEventRow}: the time as ISO 8601, `shadow_effect` and
 * `shadow_rule` only when they are not null (as the hash chain covers them), everything else as is.
 */
export function toEventRow(row: StoredEventRow): LedgerEventRow {
  return {
    event_id: row.event_id,
    occurred_at: row.occurred_at.toISOString(),
    strand_id: row.strand_id,
    seq: row.seq,
    prev_hash: row.prev_hash,
    hash: row.hash,
    event_type: row.event_type,
    call_id: row.call_id,
    agent_id: row.agent_id,
    session_id: row.session_id,
    server: row.server,
    tool: row.tool,
    args: row.args,
    args_sha256: row.args_sha256,
    effect: row.effect,
    rule: row.rule,
    reason: row.reason,
    policy_revision: row.policy_revision,
    policy_digest: row.policy_digest,
    approval_id: row.approval_id,
    approver: row.approver,
    outcome_status: row.outcome_status,
    duration_ms: row.duration_ms,
    result_sha256: row.result_sha256,
    detail: row.detail,
    ...(row.shadow_effect !== null && row.shadow_effect !== undefined ? { shadow_effect: row.shadow_effect } : {}),
    ...(row.shadow_rule !== null && row.shadow_rule !== undefined ? { shadow_rule: row.shadow_rule } : {}),
  };
}
