import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { defaultMigrationsDir, migrateLedger, readMigrationFiles } from '../../src/index.js';
import type { LedgerContext } from './ledger-conformance.js';

/** Migrations: idempotent, recorded with checksums, refusing changed or missing files. */
export function migrationSuite(ctx: LedgerContext): void {
  const dirs: string[] = [];
  const copyOfMigrations = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
    cpSync(defaultMigrationsDir(), dir, { recursive: true });
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('is idempotent and records the checksum of every applied file', async () => {
    const files = readMigrationFiles(defaultMigrationsDir());
    const report = await migrateLedger(ctx.ledger.connection);
    expect(report.applied).toEqual([]);
    expect(report.alreadyApplied).toEqual(files.map((f) => f.name));
    expect(report.roles).toEqual(['tollgate_writer', 'tollgate_auditor']);
    const recorded = await ctx.ledger.superuser<{ name: string; sha256: string }>('SELECT name, sha256 FROM ledger_migration_checksum ORDER BY name');
    expect(recorded).toEqual(files.map((f) => ({ name: f.name, sha256: f.sha256 })));
  });

  it('applies only new files, in order, and records them', async () => {
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '0900_extra_index.sql'), 'CREATE TABLE ledger_test_extra (id integer);\n');
    writeFileSync(join(dir, '0901_extra_row.sql'), 'INSERT INTO ledger_test_extra VALUES (1);\n');
    const report = await migrateLedger(ctx.ledger.connection, { migrationsDir: dir });
    expect(report.applied).toEqual(['0900_extra_index.sql', '0901_extra_row.sql']);
    expect(await ctx.ledger.superuser('SELECT id FROM ledger_test_extra')).toEqual([{ id: 1 }]);
    const again = await migrateLedger(ctx.ledger.connection, { migrationsDir: dir });
    expect(again.applied).toEqual([]);
    const kysely = await ctx.ledger.superuser<{ name: string }>('SELECT name FROM ledger_migration ORDER BY name');
    expect(kysely.map((r) => r.name).slice(-2)).toEqual(['0900_extra_index.sql', '0901_extra_row.sql']);
  });

  it('refuses to run when an applied file has changed, naming the file', async () => {
    const dir = copyOfMigrations();
    const file = join(dir, '0002_ledger_roles.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- an edit after the fact\n`);
    writeFileSync(join(dir, '0900_never.sql'), 'CREATE TABLE ledger_test_never (id integer);\n');
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_changed',
      message: expect.stringContaining(file),
    });
    // Nothing ran: the new file was not applied either.
    expect(await ctx.ledger.superuser("SELECT to_regclass('ledger_test_never') AS t")).toEqual([{ t: null }]);
  });

  it('refuses to run when an applied file is missing', async () => {
    const dir = copyOfMigrations();
    unlinkSync(join(dir, '0003_audit_views.sql'));
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_missing',
      message: expect.stringContaining('0003_audit_views.sql'),
    });
  });

  it('refuses a new file numbered before an applied one', async () => {
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '0000_too_early.sql'), 'SELECT 1;\n');
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_invalid',
      message: expect.stringContaining('0000_too_early.sql'),
    });
  });

  it('refuses badly named files and reused numbers, naming the file', async () => {
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '0002_again.sql'), 'SELECT 1;\n');
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_invalid',
      message: expect.stringMatching(/migration number 0002 is used by both 0002_again\.sql and 0002_ledger_roles\.sql/),
    });
    unlinkSync(join(dir, '0002_again.sql'));
    writeFileSync(join(dir, 'add-index.sql'), 'SELECT 1;\n');
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_invalid',
      message: expect.stringContaining('add-index.sql: migration files are named NNNN_description.sql'),
    });
  });

  it('rolls a failing migration back entirely and records nothing of it', async () => {
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '0900_half.sql'), 'CREATE TABLE ledger_test_half (id integer);\nSELECT 1 / 0;\n');
    await expect(migrateLedger(ctx.ledger.connection, { migrationsDir: dir })).rejects.toMatchObject({
      code: 'ledger.migration_failed',
      message: expect.stringMatching(/0900_half\.sql failed and was rolled back: .*division by zero/),
    });
    expect(await ctx.ledger.superuser("SELECT to_regclass('ledger_test_half') AS t")).toEqual([{ t: null }]);
    expect(await ctx.ledger.superuser("SELECT count(*)::int AS n FROM ledger_migration_checksum WHERE name = '0900_half.sql'")).toEqual([{ n: 0 }]);
  });
}
