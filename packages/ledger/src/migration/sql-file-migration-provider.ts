import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { sha256Hex } from '@tollgate/policy';
import { LedgerError, describeError } from '../ledger-error.js';

/** One plain-SQL migration file. */
export interface MigrationFile {
  /** The file name, e.g. `0001_ledger_events.sql`; also the migration's recorded name. */
  name: string;
  /** Absolute path of the file. */
  path: string;
  /** The file's SQL. */
  sql: string;
  /** Hex SHA-256 of the file's bytes, recorded when it is applied. */
  sha256: string;
}

const NAME = /^(\d{4})_[a-z0-9][a-z0-9_]*\.sql$/;

/**
 * Reads the numbered migration files of a directory in order. File names are
 * `NNNN_description.sql` (four digits, lowercase words joined by `_`); each number is used once.
 *
 * @throws LedgerError `ledger.migration_invalid` naming the directory or file that is wrong.
 */
export function readMigrationFiles(dir: string): MigrationFile[] {
  const absolute = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(absolute);
  } catch (error) {
    throw new LedgerError('ledger.migration_invalid', `cannot read the migrations directory ${absolute}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const files: MigrationFile[] = [];
  const numbers = new Map<string, string>();
  for (const name of names.sort()) {
    const path = join(absolute, name);
    if (!statSync(path).isFile()) continue;
    if (!name.endsWith('.sql')) continue;
    const match = NAME.exec(name);
    if (!match) {
      throw new LedgerError(
        'ledger.migration_invalid',
        `${path}: migration files are named NNNN_description.sql (four digits, lowercase words joined by "_"), e.g. 0004_add_index.sql`,
      );
    }
    const number = match[1]!;
    const earlier = numbers.get(number);
    if (earlier !== undefined) {
      throw new LedgerError(
        'ledger.migration_invalid',
        `${absolute}: migration number ${number} is used by both ${earlier} and ${name}; renumber the newer one`,
      );
    }
    numbers.set(number, name);
    const bytes = readFileSync(path);
    files.push({ name, path, sql: bytes.toString('utf8'), sha256: sha256Hex(bytes) });
  }
  if (files.length === 0) {
    throw new LedgerError('ledger.migration_invalid', `no NNNN_description.sql migration files in ${absolute}`);
  }
  return files;
}

/**
 * The repository's `migrations/` directory: the nearest one above this module that holds the
 * ledger's first migration. Works from `src/` (tests) and from `dist/` (the built CLI).
 */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'migrations');
    if (existsSync(join(candidate, '0001_ledger_events.sql'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new LedgerError(
        'ledger.migration_invalid',
        'cannot find the ledger migrations (a migrations/ directory holding 0001_ledger_events.sql) above @tollgate/ledger; pass migrationsDir',
      );
    }
    dir = parent;
  }
}

/**
 * Kysely migration provider over plain-SQL files. Each migration runs its file and records
 * the file's checksum in `ledger_migration_checksum` in the same transaction, so a migration
 * is either applied and recorded, or neither.
 */
export class SqlFileMigrationProvider implements MigrationProvider {
  readonly #files: readonly MigrationFile[];

  constructor(files: readonly MigrationFile[]) {
    this.#files = files;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of this.#files) {
      migrations[file.name] = {
        up: async (db: Kysely<unknown>) => {
          await sql.raw(file.sql).execute(db);
          await sql`INSERT INTO ledger_migration_checksum (name, sha256, applied_at) VALUES (${file.name}, ${file.sha256}, now())`.execute(db);
        },
      };
    }
    return migrations;
  }
}
