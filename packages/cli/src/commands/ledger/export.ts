import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import type { ExportResult } from '@tollgate/ledger';
import { CliError, ExitCode } from '../../cli-error.js';
import { TollgateCommand } from '../../base-command.js';
import { filterFromFlags, ledgerConnectionFlags, ledgerFilterFlags, withLedger } from '../../ledger/ledger-command-support.js';
import { EVENT_COLUMNS_TEXT } from '../../ledger/ledger-report-renderer.js';

/** What `tollgate ledger export --out` reports. */
export interface ExportCommandResult extends ExportResult {
  /** The file written, or null for stdout. */
  file: string | null;
}

/**
 * `tollgate ledger export`: stream the events of a time range as NDJSON or CSV without loading
 * them into memory. The work is `exportLedger` of @tollgate/ledger.
 */
export default class LedgerExport extends TollgateCommand {
  static override summary = 'Stream the events of a time range as NDJSON or CSV, for archives and auditors.';

  static override description = `Writes every matching event, oldest first, to stdout or --out, reading the ledger page by page so memory stays flat however long the range. NDJSON has one ledger_events row per line, exactly as stored, with its hashes (anyone can recompute the chains from it); CSV has a header line and the same columns:

${EVENT_COLUMNS_TEXT}.

Takes the same filters as \`tollgate ledger query\`. With --out the file is written under a temporary name and renamed when complete.

Exit status: 0 exported, 2 a malformed filter, an unwritable file or an unreachable database.`;

  static override examples = [
    '<%= config.bin %> ledger export --from 2030-05-01 --to 2030-06-01 --format ndjson --out archive/2030-05.ndjson',
    '<%= config.bin %> ledger export --from 7d --effect deny --format csv > denials.csv',
  ];

  static override flags = {
    ...ledgerConnectionFlags,
    ...ledgerFilterFlags,
    format: Flags.option({ char: 'f', options: ['ndjson', 'csv'] as const, default: 'ndjson' as const, description: 'output format' })(),
    out: Flags.string({ char: 'o', description: 'write to this file instead of stdout', helpValue: 'file' }),
  };

  public async run(): Promise<ExportCommandResult> {
    const { flags } = await this.parse(LedgerExport);
    if (this.jsonEnabled() && flags.out === undefined) {
      throw new CliError('usage', '--json prints a summary, so the export itself needs --out <file>', {
        exit: ExitCode.input,
        hint: 'Add --out <file>, or drop --json to stream the events to stdout.',
      });
    }
    const { exportLedger, writeFileAtomically } = await import('@tollgate/ledger');
    const filter = filterFromFlags(flags);
    if (flags.out === undefined) {
      try {
        const result = await withLedger(flags, (connection) => exportLedger(connection, { ...filter, format: flags.format, output: process.stdout }));
        return { ...result, file: null };
      } catch (error) {
        // The reader went away (`… | head`): stop quietly, as a stream filter should.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') return { format: flags.format, events: 0, file: null };
        throw error;
      }
    }
    const file = resolve(flags.out);
    const exported: { result?: ExportResult } = {};
    try {
      await writeFileAtomically(file, async (output) => {
        exported.result = await withLedger(flags, (connection) => exportLedger(connection, { ...filter, format: flags.format, output }));
      });
      const result = exported.result!;
      this.log(`Exported ${result.events} event${result.events === 1 ? '' : 's'} as ${result.format} to ${file}.`);
      return { ...result, file };
    } catch (error) {
      if (error instanceof Error && 'code' in error && typeof error.code === 'string' && /^E[A-Z]+$/.test(error.code)) {
        throw new CliError('export.unwritable', `cannot write ${file}: ${error.message}`, { exit: ExitCode.input, cause: error });
      }
      throw error;
    }
  }
}
