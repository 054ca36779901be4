import { Flags } from '@oclif/core';
import type { MigrationReport } from '@tollgate/ledger';
import { TollgateCommand } from '../../base-command.js';
import { ledgerConnectionFlags, withLedger } from '../../ledger/ledger-command-support.js';
import { renderMigrationReport } from '../../ledger/ledger-report-renderer.js';

/**
 * `tollgate ledger migrate`: apply the ledger's numbered SQL migrations, idempotently. The work
 * is `migrateLedger` of @tollgate/ledger.
 */
export default class LedgerMigrate extends TollgateCommand {
  static override summary = 'Create or update the ledger schema: apply the numbered SQL migrations in order.';

  static override description = `Applies the files of migrations/ (NNNN_description.sql) that this database has not applied yet, in order, each in one transaction together with the record of its SHA-256. Running it again applies nothing.

It refuses to run, naming the file, when a migration that was applied has changed since or is missing. It creates the roles tollgate_writer (INSERT, SELECT) and tollgate_auditor (SELECT) when the connecting user may create roles, and grants them whenever they exist.

Exit status: 0 migrated or up to date, 2 a changed or missing migration, a failing migration (rolled back), or an unreachable database.`;

  static override examples = [
    '<%= config.bin %> ledger migrate',
    '<%= config.bin %> ledger migrate --database-url postgres://tollgate@db:5432/tollgate',
  ];

  static override flags = {
    ...ledgerConnectionFlags,
    'migrations-dir': Flags.string({ description: 'directory of the numbered SQL migrations (default: the repository\'s migrations/)', helpValue: 'dir' }),
  };

  public async run(): Promise<MigrationReport> {
    const { flags } = await this.parse(LedgerMigrate);
    const { migrateLedger } = await import('@tollgate/ledger');
    const dir = flags['migrations-dir'];
    const report = await withLedger(flags, (connection) => migrateLedger(connection, dir === undefined ? {} : { migrationsDir: dir }), { create: true });
    this.log(renderMigrationReport(report).trimEnd());
    return report;
  }
}
