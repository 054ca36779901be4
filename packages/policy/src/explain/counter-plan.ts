import type { ToolCall } from '../evaluate/decision.js';
import { PolicyError } from '../diagnostic.js';
import type { LimitCounter } from './decision-trace.js';
import type { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compiledInternals } from '../evaluate/compiled-internals.js';
import type { CompiledLimit } from '../evaluate/compiled-parts.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';

/** A counter a call may add to, and its key in the limit store. */
export interface PlannedCounter extends LimitCounter {
  /** The limit store's key of the counter (opaque; equal for limits that share a counter). */
  readonly key: string;
}

/**
 * Every counter a call to `call.tool` may add to at time `now` under this policy: the
 * `all_tools` limits (for a tool decided by the default or whose rule is in shadow), the
 * tool's own limits, and their shadow counterparts — each once. Used to put a counter's
 * earlier value in place (see {@link seedCounters}) before a recorded call is explained.
 *
 * @throws PolicyError `explain.unsupported` for a policy not made by `compilePolicy`.
 */
export function plannedCounters(policy: CompiledPolicy, call: ToolCall, now: number): PlannedCounter[] {
  const x = compiledInternals(policy);
  if (x === undefined) throw new PolicyError('explain.unsupported', 'only a policy made by compilePolicy can be explained');
  const p = x.parts;
  const t = p.tools.get(call.tool);
  const shadowAll = x.shadowAllow !== null;
  const ruleInShadow = t !== undefined && x.shadowRules.has(call.tool);
  const limits: Array<{ l: CompiledLimit; shadow: boolean }> = [];
  if (t === undefined || ruleInShadow) limits.push(...p.defaultLimits.map((l) => ({ l, shadow: shadowAll })));
  if (t !== undefined) limits.push(...t.limits.map((l) => ({ l, shadow: shadowAll || ruleInShadow })));
  const seen = new Set<string>();
  const out: PlannedCounter[] = [];
  for (const { l, shadow } of limits) {
    const scopeId = l.scope === 'agent' ? (call.agent?.id ?? '') : l.scope === 'session' ? (call.session?.id ?? '') : '';
    const key = l.keyPrefix + scopeId;
    if (seen.has(key)) continue;
    seen.add(key);
    const windowStart = Math.floor(now / l.windowMs) * l.windowMs;
    out.push({ rule: l.rule, counter: l.counter, scope: l.scope, scope_id: scopeId, window: l.windowSec, window_start: windowStart, window_end: windowStart + l.windowMs, max: l.max, shadow_counter: shadow, key });
  }
  return out;
}

/**
 * Sets counters of a fresh in-memory store to the values they had before a call (e.g. as
 * re-derived from the ledger), so that deciding the call again sees them. Values of zero are
 * left out; a counter already holding a value is added to.
 */
export function seedCounters(store: MemoryLimitStore, counters: ReadonlyArray<{ readonly counter: PlannedCounter; readonly used: number }>, now: number): void {
  for (const { counter, used } of counters) {
    if (!(used > 0)) continue;
    store.acquire([{ key: counter.key, amount: used, max: Number.POSITIVE_INFINITY, windowStart: counter.window_start, windowEnd: counter.window_end }], now);
  }
}
