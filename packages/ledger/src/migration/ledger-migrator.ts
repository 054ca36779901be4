import { Migrator, sql } from 'kysely';
import type { LedgerBackend, LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import { LedgerError, describeError } from '../ledger-error.js';
import { SqlFileMigrationProvider, defaultMigrationsDir, readMigrationFiles, type MigrationFile } from './sql-file-migration-provider.js';

/** Options of {@link migrateLedger}. */
export interface MigrateLedgerOptions {
  /** Where the numbered SQL files are; default the repository's `migrations/`. */
  migrationsDir?: string;
}

/** What {@link migrateLedger} did. */
export interface MigrationReport {
  backend: LedgerBackend;
  location: string;
  migrationsDir: string;
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** Migrations that were already applied (their checksums matched). */
  alreadyApplied: string[];
  /** Roles that exist and were granted their privileges (`tollgate_writer`, `tollgate_auditor`). */
  roles: string[];
}

/** Kysely's bookkeeping tables, named after the ledger. */
export const MIGRATION_TABLE = 'ledger_migration';
const MIGRATION_LOCK_TABLE = 'ledger_migration_lock';
// Serialises the checksum bootstrap of concurrent `migrate` runs on one database.
const BOOTSTRAP_LOCK = 7_358_201_446;

/**
 * Applies the ledger's migrations in order, idempotently. Before anything runs it refuses,
 * naming the file, when a migration that was applied has since changed (its SHA-256 differs
 * from the one recorded) or is missing. Each migration and its checksum record are one
 * transaction. Afterwards the roles are (re)granted (see `0002_ledger_roles.sql`).
 *
 * @throws LedgerError `ledger.migration_changed`, `ledger.migration_missing`,
 * `ledger.migration_invalid`, `ledger.migration_failed` or `ledger.unavailable`.
 */
export async function migrateLedger(connection: LedgerConnection, options: MigrateLedgerOptions = {}): Promise<MigrationReport> {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir();
  const files = readMigrationFiles(migrationsDir);
  const db = connection.db;

  let recorded: Array<{ name: string; sha256: string }>;
  try {
    recorded = await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
      await sql`CREATE TABLE IF NOT EXISTS ledger_migration_checksum (
        name       text        PRIMARY KEY,
        sha256     text        NOT NULL,
        applied_at timestamptz NOT NULL
      )`.execute(trx);
      const rows = await sql<{ name: string; sha256: string }>`SELECT name, sha256 FROM ledger_migration_checksum ORDER BY name`.execute(trx);
      return rows.rows;
    });
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'reading the applied migrations');
  }
  checkApplied(files, recorded, migrationsDir);

  const migrator = new Migrator({
    db,
    provider: new SqlFileMigrationProvider(files),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error');
    if (failed) {
      const file = files.find((f) => f.name === failed.migrationName);
      throw new LedgerError(
        'ledger.migration_failed',
        `migration ${file?.path ?? failed.migrationName} failed and was rolled back: ${describeError(error)}`,
        { cause: error },
      );
    }
    const wrapped = ledgerErrorFromPg(error, connection.location, 'migrating');
    if (wrapped.code === 'ledger.unavailable') throw wrapped;
    throw new LedgerError('ledger.migration_invalid', `cannot migrate ${connection.location}: ${describeError(error)}`, { cause: error });
  }

  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  let roles: string[] = [];
  try {
    const granted = await sql<{ roles: string[] | null }>`SELECT ledger_apply_roles() AS roles`.execute(db);
    roles = granted.rows[0]?.roles ?? [];
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'granting the ledger roles');
  }
  return {
    backend: connection.backend,
    location: connection.location,
    migrationsDir,
    applied,
    alreadyApplied: files.map((f) => f.name).filter((name) => !applied.includes(name)),
    roles,
  };
}

function checkApplied(files: readonly MigrationFile[], recorded: ReadonlyArray<{ name: string; sha256: string }>, dir: string): void {
  const byName = new Map(files.map((f) => [f.name, f]));
  for (const row of recorded) {
    const file = byName.get(row.name);
    if (!file) {
      throw new LedgerError(
        'ledger.migration_missing',
        `migration ${row.name} was applied to this database but is missing from ${dir}; restore it from version control`,
      );
    }
    if (file.sha256 !== row.sha256) {
      throw new LedgerError(
        'ledger.migration_changed',
        `migration ${file.path} changed after it was applied (applied SHA-256 ${row.sha256}, file now ${file.sha256}); ` +
          'restore the applied version and put the change in a new numbered migration',
      );
    }
  }
}
