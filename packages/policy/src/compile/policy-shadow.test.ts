import { describe, expect, test } from 'vitest';
import type { Decision, ToolCall } from '../evaluate/decision.js';
import type { Policy, ToolRule } from '../generated/policy-types.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compilePolicy } from './policy-compiler.js';
import { isPendingDecision } from '../evaluate/compiled-policy.js';
import { listRules } from './policy-rules.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');

const call = (tool: string, args: Record<string, unknown> = {}, agent = 'a1'): ToolCall => ({ tool, args, agent: { id: agent }, session: { id: 's1' } });

const pick = (d: Decision) => ({ effect: d.effect, rule: d.rule, shadow: d.shadow === undefined ? undefined : { effect: d.shadow.effect, rule: d.shadow.rule } });

/** A trading policy: `order` is capped at 100 and rate limited; `withdraw` needs an approval above 10. */
function trading(extra: Partial<Policy> = {}, order: Partial<ToolRule> = {}): Policy {
  return {
    version: '1',
    default: 'deny',
    tools: {
      balance: {},
      order: {
        deny_if: [{ id: 'order-cap', conditions: [{ path: 'args.amount', op: 'gt', value: 100 }], on_deny: 'Orders above 100 are refused.' }],
        limits: [{ counter: 'orders', max: 2, window: 'minute' }],
        ...order,
      },
      withdraw: { approve_if: [{ id: 'big-withdrawal', conditions: [{ path: 'args.amount', op: 'gt', value: 10 }] }] },
    },
    ...extra,
  };
}

describe('a policy in shadow mode', () => {
  test('allows every call and carries what the policy would have decided', () => {
    const limits = new MemoryLimitStore();
    const p = compilePolicy(trading({ shadow: true }), { server: 'ccxt', limits, clock: () => NOW });
    expect(pick(p.decide(call('order', { amount: 500 })))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'order-cap' } });
    expect(pick(p.decide(call('unknown_tool')))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'default' } });
    expect(pick(p.decide(call('balance')))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'allow', rule: null } });
    const d = p.decide(call('order', { amount: 500 }));
    expect(d.code).toBeNull();
    expect(d.reason).toContain('shadow mode');
    expect(d.shadow).toEqual({ effect: 'deny', rule: 'order-cap', reason: 'Orders above 100 are refused.', code: 'policy.denied' });
  });

  test('under default allow, the would-be denial of a rule is recorded and the call allowed', () => {
    const p = compilePolicy({ version: '1', default: 'allow', shadow: true, tools: { cancel_order: { action: 'deny' } } });
    expect(pick(p.decide(call('cancel_order')))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'tools.cancel_order.action' } });
    expect(pick(p.decide(call('fetch_ticker')))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'allow', rule: 'default' } });
  });

  test('lists the tools it would hide or deny, and forwards them', () => {
    const p = compilePolicy({ version: '1', default: 'deny', shadow: true, hide: ['*'], tools: { balance: {}, cancel_order: { action: 'deny' } } });
    for (const tool of ['balance', 'cancel_order', 'withdraw']) expect(p.isListed(tool)).toBe(true);
    expect([p.wouldList('balance'), p.wouldList('cancel_order'), p.wouldList('withdraw')]).toEqual([true, false, false]);
    expect(pick(p.decide(call('withdraw')))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'hidden', rule: 'hide' } });
  });

  test('records an approval it would ask for, without looking for a granted one', () => {
    const p = compilePolicy(trading({ shadow: true }));
    let asked = 0;
    const approvals = () => {
      asked += 1;
      return { status: 'granted' as const, id: 'granted-1' };
    };
    const d = p.decide(call('withdraw', { amount: 50 }), { approvals });
    expect(pick(d)).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'approval_required', rule: 'big-withdrawal' } });
    expect(d.shadow?.code).toBe('approval.required');
    expect(d.approval_id).toBeUndefined();
    expect(asked).toBe(0);
  });

  test('counts its limits in shadow counters: the would-be rate limit trips, the calls go through', () => {
    const limits = new MemoryLimitStore();
    const shadow = compilePolicy(trading({ shadow: true }), { server: 'ccxt', limits, clock: () => NOW });
    const enforced = compilePolicy(trading(), { server: 'ccxt', limits, clock: () => NOW });
    const effects = [1, 2, 3].map(() => shadow.decide(call('order', { amount: 1 })));
    expect(effects.map(pick)).toEqual([
      { effect: 'allow', rule: null, shadow: { effect: 'allow', rule: null } },
      { effect: 'allow', rule: null, shadow: { effect: 'allow', rule: null } },
      { effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'tools.order.limits[0]' } },
    ]);
    expect(effects[2]!.shadow?.code).toBe('rate_limited');
    // The enforced policy on the same store and server still has its whole budget.
    expect([1, 2, 3].map(() => enforced.decide(call('order', { amount: 1 })).effect)).toEqual(['allow', 'allow', 'deny']);
  });

  test('decideAsync gives the same decision', async () => {
    const p = compilePolicy(trading({ shadow: true }));
    expect(pick(await p.decideAsync(call('order', { amount: 500 })))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'order-cap' } });
  });

  test('a tool rule marked shadow inside it changes nothing: the policy is already in shadow', () => {
    const p = compilePolicy(trading({ shadow: true }, { shadow: true }));
    expect(pick(p.decide(call('order', { amount: 500 })))).toEqual({ effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'order-cap' } });
  });

  test('listRules marks every rule as in shadow', () => {
    const rules = listRules(trading({ shadow: true }));
    expect(rules.every((r) => r.shadow)).toBe(true);
  });
});

describe('a tool rule in shadow mode', () => {
  test('under default deny, a new permission is tried: the call is denied by default, the rule recorded', () => {
    const p = compilePolicy(trading({}, { shadow: true }));
    expect(pick(p.decide(call('order', { amount: 5 })))).toEqual({ effect: 'deny', rule: 'default', shadow: { effect: 'allow', rule: null } });
    expect(pick(p.decide(call('order', { amount: 500 })))).toEqual({ effect: 'deny', rule: 'default', shadow: { effect: 'deny', rule: 'order-cap' } });
    expect(p.isListed('order')).toBe(false);
    expect(p.wouldList('order')).toBe(true);
    // Other tools are untouched, with no shadow at all.
    const balance = p.decide(call('balance'));
    expect(pick(balance)).toEqual({ effect: 'allow', rule: null, shadow: undefined });
    expect('shadow' in balance).toBe(false);
  });

  test('under default allow, a new restriction is tried: the call is allowed by default, the denial recorded', () => {
    const p = compilePolicy({ version: '1', default: 'allow', tools: { cancel_order: { shadow: true, deny_if: [{ conditions: [{ path: 'args.id', op: 'eq', value: 'all' }] }] } } });
    const d = p.decide(call('cancel_order', { id: 'all' }));
    expect(pick(d)).toEqual({ effect: 'allow', rule: 'default', shadow: { effect: 'deny', rule: 'tools.cancel_order.deny_if[0]' } });
    expect(d.shadow?.reason).toBe('denied by rule tools.cancel_order.deny_if[0]');
    expect(pick(p.decide(call('cancel_order', { id: '7' })))).toEqual({ effect: 'allow', rule: 'default', shadow: { effect: 'allow', rule: null } });
    expect(p.isListed('cancel_order')).toBe(true);
  });

  test('under hide "*", the enforced decision hides the tool and the rule is still recorded', () => {
    const p = compilePolicy({ version: '1', default: 'deny', hide: ['*'], tools: { balance: {}, order: { shadow: true } } });
    expect(pick(p.decide(call('order')))).toEqual({ effect: 'hidden', rule: 'hide', shadow: { effect: 'allow', rule: null } });
    expect(p.isListed('order')).toBe(false);
    expect(p.wouldList('order')).toBe(true);
  });

  test('a tool named in hide is hidden before its rule: nothing in shadow is evaluated', () => {
    const p = compilePolicy({ version: '1', default: 'allow', hide: ['order'], tools: { order: { shadow: true, action: 'deny' } } });
    const d = p.decide(call('order'));
    expect(pick(d)).toEqual({ effect: 'hidden', rule: 'hide', shadow: undefined });
  });

  test('action hide in shadow leaves the tool listed and records the would-be hiding', () => {
    const p = compilePolicy({ version: '1', default: 'allow', tools: { withdraw: { shadow: true, action: 'hide' } } });
    expect(pick(p.decide(call('withdraw')))).toEqual({ effect: 'allow', rule: 'default', shadow: { effect: 'hidden', rule: 'tools.withdraw.action' } });
    expect(p.isListed('withdraw')).toBe(true);
    expect(p.wouldList('withdraw')).toBe(false);
  });

  test('its limits count in shadow counters and never consume the enforced all_tools budget', () => {
    const limits = new MemoryLimitStore();
    const policy: Policy = {
      version: '1',
      default: 'allow',
      all_tools: { limits: [{ counter: 'calls', max: 3, window: 'minute' }] },
      tools: { order: { shadow: true, limits: [{ counter: 'orders', max: 1, window: 'minute' }] } },
    };
    const p = compilePolicy(policy, { server: 'ccxt', limits, clock: () => NOW });
    const first = p.decide(call('order'));
    expect(pick(first)).toEqual({ effect: 'allow', rule: 'default', shadow: { effect: 'allow', rule: null } });
    // The enforced decision counted the enforced all_tools counter once.
    expect(first.limits?.map((l) => [l.counter, l.used])).toEqual([['calls', 1]]);
    const second = p.decide(call('order'));
    expect(pick(second)).toEqual({ effect: 'allow', rule: 'default', shadow: { effect: 'deny', rule: 'tools.order.limits[0]' } });
    expect(second.shadow?.code).toBe('rate_limited');
    expect(second.limits?.map((l) => [l.counter, l.used])).toEqual([['calls', 2]]);
    // A third call to another tool is the last the enforced all_tools limit admits: the
    // shadow evaluation's count of `calls` lives in its own counter.
    expect(p.decide(call('balance')).effect).toBe('allow');
    expect(pick(p.decide(call('balance')))).toEqual({ effect: 'deny', rule: 'all_tools.limits[0]', shadow: undefined });
  });

  test('the enforced and the shadow decision are made at one instant: both count in the same window', async () => {
    // A clock that moves a minute on every read: two reads would put the two decisions' counters in different windows.
    let reads = 0;
    const clock = (): number => NOW + 60_000 * reads++;
    const policy: Policy = {
      version: '1',
      default: 'allow',
      all_tools: { limits: [{ counter: 'calls', max: 5, window: 'minute' }] },
      tools: { order: { shadow: true, limits: [{ counter: 'orders', max: 5, window: 'minute' }] } },
    };
    const p = compilePolicy(policy, { server: 'ccxt', limits: new MemoryLimitStore(), clock });
    for (const decide of [(c: ToolCall) => p.decide(c), (c: ToolCall) => p.decideAsync(c)]) {
      reads = 0;
      const d = await decide(call('order'));
      expect(reads).toBe(1);
      expect(d.shadow).toMatchObject({ effect: 'allow' });
    }
    reads = 0;
    const step = p.prepare(call('order'));
    expect(reads).toBe(1);
    expect(isPendingDecision(step)).toBe(true);
    if (!isPendingDecision(step)) return;
    // The enforced all_tools counter, then the shadow one and the rule's own, all in the window of the one read.
    const windows = step.limits.flat().map((r) => r.windowStart);
    expect(windows).toHaveLength(3);
    expect(new Set(windows).size).toBe(1);
  });

  test('an approval the rule would ask for is recorded as approval_required and never looked up', async () => {
    const p = compilePolicy(trading({}, {}), {});
    const shadowed = compilePolicy({ ...trading(), tools: { ...trading().tools, withdraw: { shadow: true, ...trading().tools!.withdraw } } });
    let asked = 0;
    const approvals = () => {
      asked += 1;
      return { status: 'granted' as const, id: 'granted-1' };
    };
    expect(pick(shadowed.decide(call('withdraw', { amount: 50 }), { approvals }))).toEqual({
      effect: 'deny',
      rule: 'default',
      shadow: { effect: 'approval_required', rule: 'big-withdrawal' },
    });
    expect(pick(await shadowed.decideAsync(call('withdraw', { amount: 50 }), { approvals }))).toEqual({
      effect: 'deny',
      rule: 'default',
      shadow: { effect: 'approval_required', rule: 'big-withdrawal' },
    });
    expect(asked).toBe(0);
    // Enforced, the same rule consults the approval lookup.
    expect(p.decide(call('withdraw', { amount: 50 }), { approvals }).approval_id).toBe('granted-1');
    expect(asked).toBe(1);
  });

  test('listRules marks only the rules of the tool in shadow', () => {
    const rules = listRules(trading({}, { shadow: true }));
    expect(rules.filter((r) => r.shadow).map((r) => r.id)).toEqual(['order-cap', 'tools.order.limits[0]']);
  });

  test('a policy with nothing in shadow gives decisions without a shadow field, shared when they do not depend on the call', () => {
    const p = compilePolicy(trading());
    const a = p.decide(call('unknown_tool'));
    const b = p.decide(call('unknown_tool'));
    expect(a).toBe(b);
    expect('shadow' in a).toBe(false);
  });
});

describe('hides: calls answered as an unknown tool, as enforced', () => {
  test('the hide list, action hide and hide "*" hide; a shadow rule or a shadow policy does not', () => {
    const tools: Record<string, ToolRule> = { listed: {}, secret: { action: 'hide' }, trial: { action: 'hide', shadow: true } };
    const p = compilePolicy({ version: '1', default: 'allow', hide: ['named'], tools } satisfies Policy);
    expect(['listed', 'secret', 'trial', 'named', 'other'].map((t) => p.hides(t))).toEqual([false, true, false, true, false]);
    const all = compilePolicy({ version: '1', default: 'allow', hide: ['*'], tools } satisfies Policy);
    // A rule in shadow counts as not listed, so hide "*" covers it.
    expect(['listed', 'secret', 'trial', 'other'].map((t) => all.hides(t))).toEqual([false, true, true, true]);
    const dryRun = compilePolicy({ version: '1', default: 'deny', shadow: true, hide: ['*', 'named'], tools } satisfies Policy);
    expect(['listed', 'secret', 'named', 'other'].map((t) => dryRun.hides(t))).toEqual([false, false, false, false]);
    // Every tool it hides is one whose calls it decides as hidden.
    for (const policy of [p, all])
      for (const t of ['listed', 'secret', 'trial', 'named', 'other']) expect(policy.hides(t)).toBe(policy.decide(call(t)).effect === 'hidden');
  });
});
