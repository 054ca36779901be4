import { describe, expect, test } from 'vitest';
import type { Decision, ToolCall } from '../evaluate/decision.js';
import type { Policy } from '../generated/policy-types.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compilePolicy } from './policy-compiler.js';
import { isPendingDecision, type PendingDecision } from '../evaluate/compiled-policy.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');
const call = (tool: string, args: Record<string, unknown> = {}, agent = 'a1'): ToolCall => ({ tool, args, agent: { id: agent }, session: { id: 's1' } });

const policy: Policy = {
  version: '1',
  default: 'deny',
  all_tools: { limits: [{ counter: 'calls', max: 3, window: 'minute' }] },
  tools: {
    balance: {},
    order: { require: [{ path: 'args.amount', op: 'lte', value: 100 }], limits: [{ counter: 'spend', max: 150, window: 'day', scope: 'global', increment_from: 'args.amount' }] },
    quote: { shadow: true, rate_limit: { max: 1, window: 60 } },
    banned: { action: 'deny', reason: 'never' },
  },
};

/** Finishes a pending decision against a store, as a store that records the decision with its counters would. */
function settle(step: Decision | PendingDecision, store: MemoryLimitStore): Decision {
  if (!isPendingDecision(step)) return step;
  return step.finish(step.limits.map((group) => store.acquire(group, step.now)));
}

describe('CompiledPolicy.prepare: the decision up to its limits', () => {
  test('leaves the counters to the caller and then decides exactly as decide() does', () => {
    const a = compilePolicy(policy, { server: 'ccxt', limits: new MemoryLimitStore(), clock: () => NOW });
    const bStore = new MemoryLimitStore();
    const b = compilePolicy(policy, { server: 'ccxt', limits: new MemoryLimitStore(), clock: () => NOW });
    const calls = [call('order', { amount: 60 }), call('order', { amount: 60 }), call('order', { amount: 60 }), call('balance'), call('balance'), call('order', { amount: 500 })];
    for (const c of calls) {
      const step = b.prepare(c);
      expect(settle(step, bStore)).toEqual(a.decide(c));
    }
  });

  test('a limited call is pending with its counter requests; the limits are untouched until they are acquired', () => {
    const store = new MemoryLimitStore();
    const p = compilePolicy(policy, { server: 'ccxt', limits: store, clock: () => NOW });
    const step = p.prepare(call('order', { amount: 40 }));
    expect(isPendingDecision(step)).toBe(true);
    const pending = step as PendingDecision;
    expect(pending.now).toBe(NOW);
    expect(pending.limits).toHaveLength(1);
    expect(pending.limits[0]!.map((r) => [r.amount, r.max])).toEqual([
      [1, 3],
      [40, 150],
    ]);
    // Nothing was counted by prepare itself: the store still admits three calls.
    expect(store.peek(pending.limits[0]![0]!.key, pending.limits[0]![0]!.windowStart)).toBe(0);
    const denied = pending.finish([{ exceeded: 1, used: [1, 130] }]);
    expect(denied).toMatchObject({ effect: 'deny', code: 'rate_limited', rule: 'tools.order.limits[0]' });
    expect(denied.reason).toMatch(/spend limit exceeded: "spend" would reach 170 of 150/);
    const allowed = pending.finish([{ exceeded: -1, used: [1, 40] }]);
    expect(allowed).toMatchObject({ effect: 'allow', code: null });
    expect(allowed.limits!.map((l) => l.used)).toEqual([1, 40]);
  });

  test('a call decided before the limits is not pending', () => {
    const p = compilePolicy(policy, { server: 'ccxt', limits: new MemoryLimitStore(), clock: () => NOW });
    expect(isPendingDecision(p.prepare(call('banned')))).toBe(false);
    expect(p.prepare(call('banned'))).toMatchObject({ effect: 'deny', rule: 'tools.banned.action' });
    expect(p.prepare(call('order', { amount: 101 }))).toMatchObject({ effect: 'deny', rule: 'tools.order.require[0]' });
  });

  test('a tool in shadow hands over the enforced and the shadow counters as two groups', () => {
    const store = new MemoryLimitStore();
    const p = compilePolicy(policy, { server: 'ccxt', limits: store, clock: () => NOW });
    const first = p.prepare(call('quote')) as PendingDecision;
    expect(isPendingDecision(first)).toBe(true);
    // Enforced: not listed, so default deny (no counters); the shadow rule counts all_tools and its rate limit.
    expect(first.limits).toHaveLength(1);
    const d1 = settle(first, store);
    expect(d1).toMatchObject({ effect: 'deny', rule: 'default', shadow: { effect: 'allow' } });
    const d2 = settle(p.prepare(call('quote')), store);
    expect(d2).toMatchObject({ effect: 'deny', rule: 'default', shadow: { effect: 'deny', rule: 'tools.quote.rate_limit' } });
  });

  test('a policy in shadow mode finishes to its enforced allow with the would-be decision', () => {
    const store = new MemoryLimitStore();
    const p = compilePolicy({ ...policy, shadow: true }, { server: 'ccxt', limits: store, clock: () => NOW });
    const results = [0, 1, 2, 3].map(() => settle(p.prepare(call('balance')), store));
    expect(results.map((d) => d.effect)).toEqual(['allow', 'allow', 'allow', 'allow']);
    expect(results.map((d) => d.shadow?.effect)).toEqual(['allow', 'allow', 'allow', 'deny']);
  });
});
