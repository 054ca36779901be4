import { Flags } from '@oclif/core';
import {
  DECISION_EFFECTS,
  DEFAULT_EMBEDDED_DIR,
  LEDGER_EVENT_TYPES,
  connectLedger,
  isLedgerError,
  parseLedgerTime,
  type LedgerConnection,
  type LedgerErrorCode,
  type LedgerFilter,
} from '@tollgate/ledger';
import { CliError, ExitCode } from '../cli-error.js';

/** The flags every `tollgate ledger` command takes to find the ledger (DESIGN §3). */
export const ledgerConnectionFlags = {
  'database-url': Flags.string({
    env: 'TOLLGATE_DATABASE_URL',
    description: 'PostgreSQL URL of the ledger (default: the embedded ledger in --data-dir)',
    helpValue: 'postgres://user@host:5432/db',
  }),
  'data-dir': Flags.string({
    description: 'directory of the embedded (PGlite) ledger, used when no database URL is given',
    default: DEFAULT_EMBEDDED_DIR,
    helpValue: 'dir',
  }),
};

/** A `--from`/`--to` flag: ISO 8601, `now`, or a duration before now (`24h`, `7d`). */
export function timeFlag(name: 'from' | 'to', description: string) {
  return Flags.custom<Date>({
    description,
    helpValue: name === 'from' ? '2030-05-01|24h' : '2030-05-02|now',
    // oclif names the flag in front of the message.
    parse: async (input) => parseLedgerTime(input, new Date()),
  })();
}

const HINTS: Partial<Record<LedgerErrorCode, string>> = {
  'ledger.unavailable': 'Check --database-url (or TOLLGATE_DATABASE_URL) and that PostgreSQL is running and reachable.',
  'ledger.locked': 'Stop the process holding the embedded ledger, or use PostgreSQL with --database-url.',
  'ledger.not_found': 'Run the command where the ledger is (or pass --data-dir or --database-url); `tollgate ledger migrate` or the gateway creates a new one.',
  'ledger.untrusted': 'Only this user\'s files may serve the embedded ledger: check the owner and mode (0700 directory, 0600 files) of the ledger directory and its socket directory.',
  'ledger.not_migrated': 'Run `tollgate ledger migrate` first.',
  'ledger.migration_changed': 'Applied migrations are history: restore the file from version control and add a new numbered migration.',
  'ledger.migration_missing': 'Restore the missing migration file from version control.',
  'ledger.invalid_key': 'Create an Ed25519 key with `tollgate keys generate --out <prefix>` and pass --key <prefix>.key.',
  'ledger.invalid_checkpoint': 'Pass a file written by `tollgate ledger checkpoint --out`.',
};

/** Turns a `LedgerError` into the CLI's error (exit 2, with a hint); anything else passes through. */
export function toCliError(error: unknown): unknown {
  if (!isLedgerError(error)) return error;
  return new CliError(error.code, error.message, { exit: ExitCode.input, hint: HINTS[error.code], cause: error });
}

/**
 * Opens the ledger the flags name (PostgreSQL or the embedded one), runs `work` and closes it,
 * mapping ledger errors to CLI errors. An embedded ledger that another process (a gateway) has
 * open is shared with it. Only with `create` does a missing embedded ledger get created
 * (`tollgate ledger migrate`); every other command fails with `ledger.not_found` (exit 2) and
 * leaves the directory as it was.
 */
export async function withLedger<T>(
  flags: { 'database-url'?: string | undefined; 'data-dir': string },
  work: (connection: LedgerConnection) => Promise<T>,
  options: { readonly create?: boolean } = {},
): Promise<T> {
  let connection: LedgerConnection;
  try {
    connection = await connectLedger(
      flags['database-url'] ? { databaseUrl: flags['database-url'] } : { dataDir: flags['data-dir'], create: options.create ?? false },
    );
  } catch (error) {
    throw toCliError(error);
  }
  try {
    return await work(connection);
  } catch (error) {
    throw toCliError(error);
  } finally {
    await connection.close();
  }
}

/** The filters of `tollgate ledger query` and `export`; each may be repeated to match any of several values. */
export const ledgerFilterFlags = {
  from: timeFlag('from', 'events at or after this time: ISO 8601 (UTC unless a zone is given), "now", or a duration before now (15m, 24h, 7d)'),
  to: timeFlag('to', 'events before this time (same forms as --from)'),
  type: Flags.option({ options: LEDGER_EVENT_TYPES, multiple: true, description: 'event type' })(),
  agent: Flags.string({ multiple: true, description: 'agent id' }),
  server: Flags.string({ multiple: true, description: 'upstream server name' }),
  tool: Flags.string({ multiple: true, description: 'tool name' }),
  effect: Flags.option({ options: DECISION_EFFECTS, multiple: true, description: 'decision effect' })(),
  rule: Flags.string({ multiple: true, description: 'rule id, e.g. tools.cancel_order.deny_if[0]' }),
  'policy-revision': Flags.string({ multiple: true, description: 'policy revision that decided' }),
  approver: Flags.string({ multiple: true, description: 'who approved or denied' }),
  'call-id': Flags.string({ multiple: true, description: 'call id (all events of one call)' }),
  session: Flags.string({ multiple: true, description: 'MCP session id' }),
  'approval-id': Flags.string({ multiple: true, description: 'approval request id' }),
  'shadow-effect': Flags.option({ options: DECISION_EFFECTS, multiple: true, description: 'would-be effect of a policy or rule in shadow mode' })(),
  'shadow-rule': Flags.string({ multiple: true, description: 'rule that would have decided in shadow mode' }),
  shadow: Flags.boolean({ allowNo: true, description: 'only decisions with (--no-shadow: without) a policy or rule in shadow mode' }),
  'shadow-differs': Flags.boolean({ description: 'only decisions whose would-be shadow effect differs from the enforced one' }),
};

/** The filter the {@link ledgerFilterFlags} describe. */
export function filterFromFlags(flags: {
  from?: Date | undefined;
  to?: Date | undefined;
  type?: ReadonlyArray<(typeof LEDGER_EVENT_TYPES)[number]> | undefined;
  agent?: string[] | undefined;
  server?: string[] | undefined;
  tool?: string[] | undefined;
  effect?: ReadonlyArray<(typeof DECISION_EFFECTS)[number]> | undefined;
  rule?: string[] | undefined;
  'policy-revision'?: string[] | undefined;
  approver?: string[] | undefined;
  'call-id'?: string[] | undefined;
  session?: string[] | undefined;
  'approval-id'?: string[] | undefined;
  'shadow-effect'?: ReadonlyArray<(typeof DECISION_EFFECTS)[number]> | undefined;
  'shadow-rule'?: string[] | undefined;
  shadow?: boolean | undefined;
  'shadow-differs'?: boolean | undefined;
}): LedgerFilter {
  const filter: LedgerFilter = {};
  if (flags.from) filter.from = flags.from;
  if (flags.to) filter.to = flags.to;
  if (flags.type) filter.types = flags.type;
  if (flags.agent) filter.agents = flags.agent;
  if (flags.server) filter.servers = flags.server;
  if (flags.tool) filter.tools = flags.tool;
  if (flags.effect) filter.effects = flags.effect;
  if (flags.rule) filter.rules = flags.rule;
  if (flags['policy-revision']) filter.policyRevisions = flags['policy-revision'];
  if (flags.approver) filter.approvers = flags.approver;
  if (flags['call-id']) filter.callIds = flags['call-id'];
  if (flags.session) filter.sessions = flags.session;
  if (flags['approval-id']) filter.approvalIds = flags['approval-id'];
  if (flags['shadow-effect']) filter.shadowEffects = flags['shadow-effect'];
  if (flags['shadow-rule']) filter.shadowRules = flags['shadow-rule'];
  if (flags.shadow !== undefined) filter.shadow = flags.shadow;
  if (flags['shadow-differs']) filter.shadowDiffers = true;
  return filter;
}
