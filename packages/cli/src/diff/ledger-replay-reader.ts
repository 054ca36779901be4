import { LedgerError, queryLedger, type LedgerConnection, type LedgerEventRow } from '@tollgate/ledger';
import { canonicalJson, sha256Hex, type Effect, type RecordedCall } from '@tollgate/policy';

/** The most decisions one replay reads (the ledger query's own ceiling). */
export const MAX_REPLAY_CALLS = 100_000;

/** What {@link readRecordedCalls} read. */
export interface RecordedCalls {
  readonly calls: readonly RecordedCall[];
  /** True when more decisions matched than `limit`: the oldest `limit` were read. */
  readonly truncated: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A decision event as a call to replay. Its arguments are replayable only when they are the
 * ones that were decided: the SHA-256 of their canonical JSON equals the recorded
 * `args_sha256`, which the ledger computes before redaction — so a redacted call never
 * counts as replayed with the placeholder in place of the real value.
 */
export function recordedCallOf(row: LedgerEventRow): RecordedCall | undefined {
  if (row.event_type !== 'decision' || row.server === null || row.tool === null || row.effect === null) return undefined;
  const args = row.args;
  const replayable = isObject(args) && (row.args_sha256 === null || sha256Hex(canonicalJson(args)) === row.args_sha256);
  return {
    event_id: row.event_id,
    at: Date.parse(row.occurred_at),
    server: row.server,
    call: {
      tool: row.tool,
      args: isObject(args) ? args : {},
      ...(row.agent_id !== null ? { agent: { id: row.agent_id } } : {}),
      ...(row.session_id !== null ? { session: { id: row.session_id } } : {}),
    },
    recorded: { effect: row.effect as Effect, rule: row.rule },
    approval_id: row.approval_id,
    replayable,
  };
}

/**
 * Reads the decision events recorded since `since` for the given servers, oldest first,
 * at most `limit` of them (queryLedger of @tollgate/ledger).
 *
 * @throws LedgerError `ledger.not_migrated` when the ledger has no schema yet.
 */
export async function readRecordedCalls(connection: LedgerConnection, options: { since: Date; servers: readonly string[]; limit: number }): Promise<RecordedCalls> {
  if (options.servers.length === 0) return { calls: [], truncated: false };
  // Ask whether the ledger has its schema instead of letting the query fail: an embedded
  // (PGlite) ledger closed right after a failed query can hang the process.
  const probe = await connection.execute<{ present: string | null }>("SELECT to_regclass('ledger_events')::text AS present");
  if (!probe.rows[0]?.present) {
    throw new LedgerError('ledger.not_migrated', `ledger database ${connection.location} has no ledger schema (no ledger_events table); run \`tollgate ledger migrate\``);
  }
  const result = await queryLedger(connection, { types: ['decision'], from: options.since, servers: options.servers, limit: Math.min(options.limit, MAX_REPLAY_CALLS), order: 'asc' });
  const calls = result.events.map(recordedCallOf).filter((c): c is RecordedCall => c !== undefined);
  return { calls, truncated: result.truncated };
}
