import type { ColumnType } from 'kysely';
import type { LEDGER_EVENT_TABLE, LedgerEventColumn } from '../event/ledger-event.js';

type EventColumns = typeof LEDGER_EVENT_TABLE;
type TableColumn<C> =
  C extends LedgerEventColumn<infer Row, infer Read, infer Write, infer Plain> ? (Plain extends true ? Row : ColumnType<Read, Write, never>) : never;

/**
 * `ledger_events` as Kysely sees it (timestamps come back as `Date`, `bigint` as `number`),
 * derived from {@link LEDGER_EVENT_TABLE}.
 */
export type LedgerEventsTable = { -readonly [K in keyof EventColumns]: TableColumn<EventColumns[K]> };

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
