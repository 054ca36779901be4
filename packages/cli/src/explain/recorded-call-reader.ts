import { LedgerError, queryLedger, type LedgerConnection, type LedgerEventRow } from '@tollgate/ledger';
import type { ApprovalState, PlannedCounter } from '@tollgate/policy';

/** The most earlier decisions read to re-derive a call's counters. */
export const MAX_COUNTED_DECISIONS = 100_000;

/**
 * Throws `ledger.not_migrated` when the ledger has no schema. Asked instead of letting a query
 * fail: an embedded (PGlite) ledger closed right after a failed query can hang the process.
 */
async function requireSchema(connection: LedgerConnection): Promise<void> {
  const probe = await connection.execute<{ present: string | null }>("SELECT to_regclass('ledger_events')::text AS present");
  if (!probe.rows[0]?.present) {
    throw new LedgerError('ledger.not_migrated', `ledger database ${connection.location} has no ledger schema (no ledger_events table); run \`tollgate ledger migrate\``);
  }
}

/** The decision events recorded for a call id, oldest first (a call has one; more when it was decided again, e.g. after an approval). */
export async function readCallDecisions(connection: LedgerConnection, callId: string): Promise<LedgerEventRow[]> {
  await requireSchema(connection);
  return (await queryLedger(connection, { callIds: [callId], types: ['decision'], order: 'asc', limit: 1000 })).events;
}

/** How the approval of a recorded call was found. */
export interface ApprovalEvidence {
  readonly state: ApprovalState;
  /** `ledger`: its resolution event (approval.granted, .denied, .expired); `decision`: only the decision names it. */
  readonly source: 'ledger' | 'decision';
  /** The resolution event, when one was found. */
  readonly event_id: string | null;
}

/**
 * The approval a recorded decision went by (it names one in `approval_id` when a granted
 * approval let it through, or when its request was denied or expired): the last resolution of
 * that approval recorded before the decision; else what the decision itself says.
 */
export async function readApproval(connection: LedgerConnection, decision: LedgerEventRow): Promise<ApprovalEvidence | null> {
  const id = decision.approval_id;
  if (id === null) return null;
  const events = (await queryLedger(connection, { approvalIds: [id], types: ['approval.granted', 'approval.denied', 'approval.expired'], order: 'asc', limit: 1000, to: new Date(Date.parse(decision.occurred_at) + 1) })).events;
  const resolution = events.filter((e) => before(e, decision)).at(-1);
  if (resolution) {
    const state: ApprovalState =
      resolution.event_type === 'approval.granted'
        ? { status: 'granted', id }
        : resolution.event_type === 'approval.denied'
          ? { status: 'denied', id, ...(resolution.approver ? { approver: resolution.approver } : {}), reason: resolution.reason }
          : { status: 'expired', id };
    return { state, source: 'ledger', event_id: resolution.event_id };
  }
  const code = decision.detail?.['code'];
  const state: ApprovalState | undefined =
    decision.effect === 'allow' ? { status: 'granted', id } : code === 'approval.denied' ? { status: 'denied', id } : code === 'approval.expired' ? { status: 'expired', id } : undefined;
  return state ? { state, source: 'decision', event_id: null } : null;
}

/** Whether event `a` was recorded before `b` (by time, then event id: the ledger's own order). */
function before(a: LedgerEventRow, b: LedgerEventRow): boolean {
  return a.occurred_at < b.occurred_at || (a.occurred_at === b.occurred_at && a.event_id < b.event_id);
}

/** A counter's value before a recorded call, as the ledger's earlier decisions say. */
export type CounterEvidence = { readonly used: number; readonly decisions: number } | { readonly unknown: string };

/** The identity of a counter in a window, from a limit's fields. */
export function counterIdentity(c: { readonly shadow_counter: boolean; readonly counter: string; readonly scope: string; readonly scope_id: string; readonly window: number; readonly window_start: number }): string {
  return JSON.stringify([c.shadow_counter, c.counter, c.scope, c.scope_id, c.window, c.window_start]);
}

interface RecordedLimit {
  readonly counter?: unknown;
  readonly scope?: unknown;
  readonly window?: unknown;
  readonly resets_at?: unknown;
  readonly amount?: unknown;
}

/**
 * Re-derives the counters a recorded call may touch, as they stood just before it: the sum of
 * the amounts of every earlier allowed decision of the same server recorded in the counter's
 * window that counted in the same counter (name, scope, window length) for the same agent or
 * session — decisions record the limit states they consulted (`detail.limits`). Counters in
 * shadow mode are not recorded, so they are unknown.
 */
export async function readEarlierCounters(connection: LedgerConnection, decision: LedgerEventRow, planned: readonly PlannedCounter[]): Promise<Map<string, CounterEvidence>> {
  const out = new Map<string, CounterEvidence>();
  const enforced = planned.filter((c) => !c.shadow_counter);
  for (const c of planned) if (c.shadow_counter) out.set(counterIdentity(c), { unknown: 'shadow counters are not recorded in the ledger' });
  if (enforced.length === 0 || decision.server === null) return out;
  const from = new Date(Math.min(...enforced.map((c) => c.window_start)));
  const to = new Date(Date.parse(decision.occurred_at) + 1);
  const result = await queryLedger(connection, { types: ['decision'], servers: [decision.server], effects: ['allow'], from, to, order: 'asc', limit: MAX_COUNTED_DECISIONS });
  if (result.truncated) {
    for (const c of enforced) out.set(counterIdentity(c), { unknown: `more than ${MAX_COUNTED_DECISIONS} decisions were recorded in its window` });
    return out;
  }
  const sums = new Map<string, { used: number; decisions: number }>(enforced.map((c) => [counterIdentity(c), { used: 0, decisions: 0 }]));
  for (const event of result.events) {
    if (!before(event, decision)) break;
    const limits = event.detail?.['limits'];
    if (!Array.isArray(limits)) continue;
    for (const c of enforced) {
      if (c.scope === 'agent' && event.agent_id !== c.scope_id) continue;
      if (c.scope === 'session' && event.session_id !== c.scope_id) continue;
      const sum = sums.get(counterIdentity(c))!;
      let counted = false;
      for (const entry of limits as RecordedLimit[]) {
        if (entry === null || typeof entry !== 'object') continue;
        if (entry.counter !== c.counter || entry.scope !== c.scope || entry.window !== c.window || entry.resets_at !== c.window_end || typeof entry.amount !== 'number') continue;
        sum.used += entry.amount;
        counted = true;
      }
      if (counted) sum.decisions += 1;
    }
  }
  for (const [key, sum] of sums) out.set(key, { used: Math.round(sum.used * 1e9) / 1e9, decisions: sum.decisions });
  return out;
}
