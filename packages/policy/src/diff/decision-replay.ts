import type { Decision, Effect, ToolCall } from '../evaluate/decision.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import type { PolicySetEntry } from './policy-diff.js';

/** A call decided in the past, as the ledger recorded it, ready to be decided again. */
export interface RecordedCall {
  /** The ledger event it came from. */
  readonly event_id: string;
  /** When it was decided (epoch ms): replay decides it at the same time, in the same windows. */
  readonly at: number;
  readonly server: string;
  /** The call (agent labels are not recorded, so replayed calls carry the agent id only). */
  readonly call: ToolCall;
  /** What the gateway decided then. */
  readonly recorded: { readonly effect: Effect; readonly rule: string | null };
  /** The approval that let the call through, if one did: replay grants it again. */
  readonly approval_id: string | null;
  /**
   * False when the recorded arguments are not the ones decided (some were redacted): such a
   * call is counted, not re-decided.
   */
  readonly replayable: boolean;
}

/** The kinds of flip replay counts, from the base policy's decision to the head's. */
export const FLIP_KINDS = ['allow_to_deny', 'deny_to_allow', 'to_approval', 'approval_to_allow', 'approval_to_deny', 'deny_hidden'] as const;

/**
 * A flip between two effects: `allow_to_deny` (allow → deny or hidden), `deny_to_allow`
 * (deny or hidden → allow), `to_approval` (allow, deny or hidden → approval_required),
 * `approval_to_allow`, `approval_to_deny` (→ deny or hidden), `deny_hidden` (deny ↔ hidden).
 */
export type FlipKind = (typeof FLIP_KINDS)[number];

/** Names the flip from one effect to another; null when they are equal. */
export function flipKind(from: Effect, to: Effect): FlipKind | null {
  if (from === to) return null;
  const closed = (e: Effect): boolean => e === 'deny' || e === 'hidden';
  if (to === 'approval_required') return 'to_approval';
  if (from === 'approval_required') return to === 'allow' ? 'approval_to_allow' : 'approval_to_deny';
  if (from === 'allow') return 'allow_to_deny';
  if (to === 'allow') return 'deny_to_allow';
  return closed(from) && closed(to) ? 'deny_hidden' : null;
}

/** One recorded call that the change decides differently. */
export interface ReplayFlip {
  readonly kind: FlipKind;
  readonly event_id: string;
  /** ISO 8601 time of the recorded decision. */
  readonly at: string;
  readonly server: string;
  readonly call: ToolCall;
  readonly recorded: { readonly effect: Effect; readonly rule: string | null };
  readonly base: { readonly effect: Effect; readonly rule: string | null };
  readonly head: { readonly effect: Effect; readonly rule: string | null; readonly reason: string };
}

/** The result of {@link replayDecisions}. */
export interface ReplayReport {
  /** Recorded decisions read. */
  readonly calls: number;
  /** Re-decided under both policies. */
  readonly replayed: number;
  /** Counted but not re-decided: their arguments were redacted in the ledger. */
  readonly not_replayable: number;
  /** Flips from the base policy's decision to the head's, by kind. */
  readonly flips: Readonly<Record<FlipKind, number>>;
  /** Replayed calls whose base decision differs from the one recorded (the ledger was written under another policy, or agent labels mattered). */
  readonly recorded_mismatch: number;
  /** A few flips of each kind, oldest first. */
  readonly examples: readonly ReplayFlip[];
}

function noPolicy(server: string): Decision {
  return { effect: 'deny', rule: null, reason: `no policy for server "${server}"`, code: 'policy.denied', revision: null, digest: '' };
}

/**
 * Re-decides recorded calls under the base and the head policy sets, in time order and at
 * their recorded times, each side with its own in-memory limit store per server — so rate
 * and spend limits count as they would have had that policy been active. A call that went
 * through with an approval is replayed with that approval granted. Flips are counted from
 * the base decision to the head decision, so they are the effect of the change alone; calls
 * whose base decision differs from the recorded one are counted in `recorded_mismatch`.
 *
 * @example replayDecisions(callsFromLedger, baseSet, headSet).flips.allow_to_deny
 */
export function replayDecisions(
  calls: Iterable<RecordedCall>,
  base: readonly PolicySetEntry[],
  head: readonly PolicySetEntry[],
  options: { readonly maxExamplesPerKind?: number } = {},
): ReplayReport {
  const maxExamples = options.maxExamplesPerKind ?? 3;
  const b = new Map(base.map((e) => [e.server, e.policy]));
  const h = new Map(head.map((e) => [e.server, e.policy]));
  const stores = new Map<string, MemoryLimitStore>();
  const storeOf = (side: string, server: string): MemoryLimitStore => {
    const key = `${side}\u0000${server}`;
    let s = stores.get(key);
    if (!s) stores.set(key, (s = new MemoryLimitStore()));
    return s;
  };
  const decide = (policy: CompiledPolicy | undefined, side: string, c: RecordedCall): Decision => {
    if (!policy) return noPolicy(c.server);
    const approvalId = c.approval_id;
    return policy.decide(c.call, { now: c.at, limits: storeOf(side, c.server), ...(approvalId !== null ? { approvals: () => ({ status: 'granted' as const, id: approvalId }) } : {}) });
  };
  const flips = Object.fromEntries(FLIP_KINDS.map((k) => [k, 0])) as Record<FlipKind, number>;
  const examples: ReplayFlip[] = [];
  let total = 0;
  let replayed = 0;
  let notReplayable = 0;
  let mismatch = 0;
  const sorted = [...calls].sort((x, y) => x.at - y.at);
  for (const c of sorted) {
    total += 1;
    if (!c.replayable) {
      notReplayable += 1;
      continue;
    }
    replayed += 1;
    const db = decide(b.get(c.server), 'base', c);
    const dh = decide(h.get(c.server), 'head', c);
    if (db.effect !== c.recorded.effect) mismatch += 1;
    const kind = flipKind(db.effect, dh.effect);
    if (kind === null) continue;
    flips[kind] += 1;
    if (examples.filter((e) => e.kind === kind).length < maxExamples) {
      examples.push({
        kind,
        event_id: c.event_id,
        at: new Date(c.at).toISOString(),
        server: c.server,
        call: c.call,
        recorded: c.recorded,
        base: { effect: db.effect, rule: db.rule },
        head: { effect: dh.effect, rule: dh.rule, reason: dh.reason },
      });
    }
  }
  return { calls: total, replayed, not_replayable: notReplayable, flips, recorded_mismatch: mismatch, examples };
}
