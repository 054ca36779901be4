import type { ColumnType } from 'kysely';
import type { DecisionEffect, JsonObject, JsonValue, LedgerEventType, OutcomeStatus } from '../event/ledger-event.js';

/** `ledger_events` as Kysely sees it (timestamps come back as `Date`, `bigint` as `number`). */
export interface LedgerEventsTable {
  event_id: string;
  occurred_at: ColumnType<Date, string, never>;
  strand_id: string;
  seq: ColumnType<number, number, never>;
  prev_hash: string;
  hash: string;
  event_type: LedgerEventType;
  call_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  server: string | null;
  tool: string | null;
  args: ColumnType<JsonValue | null, string | null, never>;
  args_sha256: string | null;
  effect: DecisionEffect | null;
  rule: string | null;
  reason: string | null;
  policy_revision: string | null;
  policy_digest: string | null;
  approval_id: string | null;
  approver: string | null;
  outcome_status: OutcomeStatus | null;
  duration_ms: number | null;
  result_sha256: string | null;
  detail: ColumnType<JsonObject | null, string | null, never>;
  /** Migration 0011: the would-be effect of what was in shadow mode. */
  shadow_effect: DecisionEffect | null;
  /** Migration 0011: the rule that would have decided in shadow mode. */
  shadow_rule: string | null;
}

/** `ledger_strands`: one row per writer process. */
export interface LedgerStrandsTable {
  strand_id: string;
  started_at: ColumnType<Date, string, never>;
  host: string;
  pid: number;
  label: string | null;
}

/** `ledger_checkpoints`: signed heads of every strand. */
export interface LedgerCheckpointsTable {
  checkpoint_id: string;
  created_at: ColumnType<Date, string, never>;
  key_id: string;
  public_key: string;
  heads: ColumnType<unknown, string, never>;
  signature: string;
}

/** `ledger_verifications`: recorded results of `tollgate ledger verify --record`. */
export interface LedgerVerificationsTable {
  verification_id: string;
  verified_at: ColumnType<Date, string, never>;
  ok: boolean;
  strands: number;
  events: number;
  checkpoints: number;
  problems: number;
  missing_outcomes: number;
  first_problem: ColumnType<unknown, string | null, never>;
  report: ColumnType<unknown, string, never>;
}

/** `ledger_migration_checksum`: the SHA-256 of every migration file when it was applied. */
export interface LedgerMigrationChecksumTable {
  name: string;
  sha256: string;
  applied_at: ColumnType<Date, string, never>;
}

/** The ledger's tables, for a `Kysely<LedgerDatabase>`. */
export interface LedgerDatabase {
  ledger_events: LedgerEventsTable;
  ledger_strands: LedgerStrandsTable;
  ledger_checkpoints: LedgerCheckpointsTable;
  ledger_verifications: LedgerVerificationsTable;
  ledger_migration_checksum: LedgerMigrationChecksumTable;
}
