import { Flags } from '@oclif/core';
import type { LedgerQueryResult } from '@tollgate/ledger';
import { TollgateCommand } from '../../base-command.js';
import { filterFromFlags, ledgerConnectionFlags, ledgerFilterFlags, withLedger } from '../../ledger/ledger-command-support.js';
import { QUERY_FORMATS, renderEvents } from '../../ledger/ledger-report-renderer.js';

/**
 * `tollgate ledger query`: find events by time, agent, server, tool, effect, rule, revision,
 * approver, call or session. The work is `queryLedger` of @tollgate/ledger.
 */
export default class LedgerQuery extends TollgateCommand {
  static override summary = 'Find ledger events by time range, agent, server, tool, effect, rule, policy revision, approver, call or session.';

  static override description = `Prints matching events oldest first (--order desc for newest first), at most --limit of them. Every filter may be repeated to match any of several values; different filters must all match. Times are ISO 8601 (UTC unless a zone is given), "now", or a duration before now (15m, 24h, 7d); --from is inclusive, --to exclusive.

--format table (default) for people, csv for spreadsheets (text a spreadsheet would run as a formula is prefixed with '), json for programs; --json prints the whole result with the truncation flag. For more than --limit events use \`tollgate ledger export\`.

Exit status: 0 (also when nothing matches), 2 a malformed filter or an unreachable database.`;

  static override examples = [
    '<%= config.bin %> ledger query --from 24h --effect deny',
    '<%= config.bin %> ledger query --session session-2',
    '<%= config.bin %> ledger query --tool withdraw_cryptocurrency --approver alice --format csv',
  ];

  static override flags = {
    ...ledgerConnectionFlags,
    ...ledgerFilterFlags,
    format: Flags.option({ char: 'f', options: QUERY_FORMATS, default: 'table' as const, description: 'output format' })(),
    limit: Flags.integer({ min: 1, max: 100_000, default: 1000, description: 'most events printed' }),
    order: Flags.option({ options: ['asc', 'desc'] as const, default: 'asc' as const, description: 'oldest (asc) or newest (desc) first' })(),
  };

  public async run(): Promise<LedgerQueryResult> {
    const { flags } = await this.parse(LedgerQuery);
    const { queryLedger } = await import('@tollgate/ledger');
    const result = await withLedger(flags, (connection) =>
      queryLedger(connection, { ...filterFromFlags(flags), limit: flags.limit, order: flags.order }),
    );
    if (!this.jsonEnabled()) process.stdout.write(renderEvents(result.events, flags.format, result.truncated, result.limit));
    return result;
  }
}
