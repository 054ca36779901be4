import { describe, expect, test } from 'vitest';
import type { Decision, ToolCall } from '../evaluate/decision.js';
import { PolicyError } from '../diagnostic.js';
import type { Policy } from '../generated/policy-types.js';
import { MemoryLimitStore, type LimitRequest, type LimitResult, type LimitStore } from '../evaluate/limit-store.js';
import { parseDuration } from '../parse/duration.js';
import { compilePolicy, tryCompilePolicy } from './policy-compiler.js';
import { loadPolicy } from './policy-loader.js';

const SEED = `{
  "version": "1",
  "default": "deny",
  "tools": {
    "cancel_order": {
      "deny_if": [ { "conditions": [], "on_deny": "Requires human approval." } ]
    }
  }
}`;

const call = (tool: string, args: Record<string, unknown> = {}, agent = 'a1', session = 's1'): ToolCall => ({
  tool,
  args,
  agent: { id: agent, labels: { team: 'desk' } },
  session: { id: session },
});

const pick = (d: Decision) => ({ effect: d.effect, rule: d.rule, reason: d.reason });

describe('the seed policy', () => {
  test('loads verbatim and denies cancel_order with its reason and positional rule id', () => {
    const loaded = loadPolicy(SEED, 'policy.json');
    expect(loaded.diagnostics).toEqual([]);
    const d = loaded.policy!.decide(call('cancel_order', { exchange_id: 'binance', id: '42' }));
    expect(pick(d)).toEqual({ effect: 'deny', rule: 'tools.cancel_order.deny_if[0]', reason: 'Requires human approval.' });
    expect(d.code).toBe('policy.denied');
    expect(d.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(d.revision).toBeNull();
  });

  test('denies an unlisted tool by default', () => {
    const p = compilePolicy(JSON.parse(SEED));
    expect(pick(p.decide(call('fetch_ohlcv')))).toEqual({ effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)' });
  });

  test('the same policy as YAML decides the same and has the same digest', () => {
    const yaml = `version: "1"\ndefault: deny\ntools:\n  cancel_order:\n    deny_if:\n      - conditions: []\n        on_deny: Requires human approval.\n`;
    const a = loadPolicy(SEED, 'policy.json').policy!;
    const b = loadPolicy(yaml, 'policy.yaml').policy!;
    expect(b.digest).toBe(a.digest);
    expect(pick(b.decide(call('cancel_order')))).toEqual(pick(a.decide(call('cancel_order'))));
  });
});

describe('evaluation order (DESIGN §2)', () => {
  const policy: Policy = {
    version: '1',
    default: 'allow',
    hide: ['secret'],
    tools: {
      secret: {},
      invisible: { action: 'hide' },
      banned: { action: 'deny', reason: 'Banned on this desk.' },
      banned_plain: { action: 'deny' },
      trusted: {
        action: 'allow',
        require: [{ path: 'args.never', op: 'exists' }],
        deny_if: [{ conditions: [] }],
      },
      order: {
        require: [
          { path: 'args.exchange_id', op: 'in', value: ['binance', 'kraken'], on_deny: 'Unknown exchange.' },
          { path: 'args.amount', op: 'gt', value: 0 },
        ],
        deny_if: [
          { id: 'max-order', conditions: [{ path: 'args.amount', op: 'gt', value: 100 }], on_deny: 'Order too large.' },
          { conditions: [{ path: 'args.symbol', op: 'eq', value: 'DOGE/USDT' }, { path: 'args.side', op: 'eq', value: 'buy' }] },
        ],
        approve_if: [
          { conditions: [{ path: 'args.amount', op: 'gt', value: 50 }], reason: 'Large order.', approvers: ['risk-desk'], timeout: '5m' },
          { id: 'night', conditions: [{ path: 'agent.labels.shift', op: 'eq', value: 'night' }] },
        ],
      },
      wire: { action: 'approve' },
    },
  };
  const p = compilePolicy(policy);

  test('1. hidden by `hide` and by `action: hide`', () => {
    expect(pick(p.decide(call('secret')))).toMatchObject({ effect: 'hidden', rule: 'hide' });
    expect(pick(p.decide(call('invisible')))).toMatchObject({ effect: 'hidden', rule: 'tools.invisible.action' });
  });

  test('2. an unlisted tool gets the default (allow here)', () => {
    expect(pick(p.decide(call('anything')))).toEqual({ effect: 'allow', rule: 'default', reason: 'allowed by policy (default allow)' });
  });

  test('3. action deny with and without a reason; action allow skips require and deny_if', () => {
    expect(pick(p.decide(call('banned')))).toEqual({ effect: 'deny', rule: 'tools.banned.action', reason: 'Banned on this desk.' });
    expect(p.decide(call('banned_plain')).reason).toBe('the tool "banned_plain" is denied by policy');
    expect(pick(p.decide(call('trusted')))).toEqual({ effect: 'allow', rule: null, reason: 'allowed by policy' });
  });

  test('4. require: the first failing condition denies, with its on_deny or a generated reason', () => {
    expect(pick(p.decide(call('order', { exchange_id: 'ftx', amount: 1 })))).toEqual({ effect: 'deny', rule: 'tools.order.require[0]', reason: 'Unknown exchange.' });
    expect(pick(p.decide(call('order', { exchange_id: 'binance' })))).toEqual({
      effect: 'deny',
      rule: 'tools.order.require[1]',
      reason: 'the call must satisfy args.amount gt 0',
    });
  });

  test('5. deny_if: the first matching rule denies, named by its id when it has one', () => {
    expect(pick(p.decide(call('order', { exchange_id: 'binance', amount: 101 })))).toEqual({ effect: 'deny', rule: 'max-order', reason: 'Order too large.' });
    expect(pick(p.decide(call('order', { exchange_id: 'binance', amount: 1, symbol: 'DOGE/USDT', side: 'buy' })))).toEqual({
      effect: 'deny',
      rule: 'tools.order.deny_if[1]',
      reason: 'denied by rule tools.order.deny_if[1]',
    });
    // Only one of the ANDed conditions holds: no match.
    expect(p.decide(call('order', { exchange_id: 'binance', amount: 1, symbol: 'DOGE/USDT', side: 'sell' })).effect).toBe('allow');
  });

  test('6. approve_if and action approve require an approval, carrying approvers and timeout', () => {
    const d = p.decide(call('order', { exchange_id: 'binance', amount: 60 }));
    expect(pick(d)).toEqual({ effect: 'approval_required', rule: 'tools.order.approve_if[0]', reason: 'Large order.' });
    expect(d.code).toBe('approval.required');
    expect(d.approval).toEqual({ approvers: ['risk-desk'], timeout_ms: 5 * 60_000, min_approvals: 1 });
    const night: ToolCall = { tool: 'order', args: { exchange_id: 'kraken', amount: 1 }, agent: { id: 'n', labels: { shift: 'night' } } };
    expect(p.decide(night).rule).toBe('night');
    const wire = p.decide(call('wire'));
    expect(wire).toMatchObject({ effect: 'approval_required', rule: 'tools.wire.action' });
    // No timeout of its own: the gateway's approvals.timeout applies.
    expect(wire.approval).toEqual({ approvers: null, timeout_ms: null, min_approvals: 1 });
  });

  test('6. a granted approval for the call lets it through, once looked up with its rule', () => {
    const seen: string[] = [];
    const d = p.decide(call('order', { exchange_id: 'binance', amount: 60 }), {
      approvals: (c, rule) => {
        seen.push(`${c.tool}:${rule}`);
        return { status: 'granted', id: 'appr-1' };
      },
    });
    expect(d).toMatchObject({ effect: 'allow', rule: 'tools.order.approve_if[0]', approval_id: 'appr-1' });
    expect(seen).toEqual(['order:tools.order.approve_if[0]']);
    // deny_if still wins over an approval: approvals are consulted only at step 6.
    expect(p.decide(call('order', { exchange_id: 'binance', amount: 101 }), { approvals: () => ({ status: 'granted', id: 'appr-2' }) }).effect).toBe('deny');
  });

  test('8. a plain allow has rule null', () => {
    expect(pick(p.decide(call('order', { exchange_id: 'binance', amount: 5 })))).toEqual({ effect: 'allow', rule: null, reason: 'allowed by policy' });
  });

  test('hide "*" hides every unlisted tool but not listed ones', () => {
    const q = compilePolicy({ version: '1', default: 'allow', hide: ['*'], tools: { echo: {} } });
    expect(q.decide(call('other')).effect).toBe('hidden');
    expect(q.decide(call('echo')).effect).toBe('allow');
    expect(q.isListed('other')).toBe(false);
    expect(q.isListed('echo')).toBe(true);
  });

  test('isListed leaves out hidden and unconditionally denied tools', () => {
    expect(p.isListed('secret')).toBe(false);
    expect(p.isListed('invisible')).toBe(false);
    expect(p.isListed('banned')).toBe(false);
    expect(p.isListed('order')).toBe(true);
    expect(p.isListed('wire')).toBe(true);
    expect(p.isListed('unlisted')).toBe(true);
    const seed = compilePolicy(JSON.parse(SEED));
    expect(seed.isListed('cancel_order')).toBe(false);
    expect(seed.isListed('unlisted')).toBe(false);
  });

  test('static decisions are shared frozen objects', () => {
    const a = p.decide(call('banned'));
    expect(p.decide(call('banned'))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('operators', () => {
  type Row = [op: string, value: unknown, arg: unknown, expected: boolean];
  const MISSING = Symbol('missing');
  const rows: Row[] = [
    ['eq', 5, 5, true],
    ['eq', 5, '5', false],
    ['eq', '5', 5, false],
    ['eq', true, true, true],
    ['eq', null, null, true],
    ['eq', { a: [1, 2] }, { a: [1, 2] }, true],
    ['eq', { a: 1, b: 2 }, { b: 2, a: 1 }, true],
    ['eq', [1, 2], [2, 1], false],
    ['eq', 5, MISSING, false],
    ['neq', 5, 6, true],
    ['neq', 5, 5, false],
    ['neq', 5, '6', false],
    ['neq', 'x', MISSING, false],
    ['lt', 10, 9, true],
    ['lt', 10, 10, false],
    ['lte', 10, 10, true],
    ['gt', 10, 11, true],
    ['gt', 10, '11', false],
    ['gt', '10', 11, false],
    ['gte', 10, 10, true],
    ['gte', 10, MISSING, false],
    ['lt', '2026-01-02', '2026-01-01', true],
    ['gt', 'b', 'a', false],
    ['in', ['a', 'b'], 'a', true],
    ['in', ['a', 'b'], 'c', false],
    ['in', [1, 2], '1', false],
    ['in', [{ k: 1 }], { k: 1 }, true],
    ['in', ['a'], MISSING, false],
    ['not_in', ['a', 'b'], 'c', true],
    ['not_in', ['a', 'b'], 'a', false],
    ['not_in', ['a', 'b'], 1, false],
    ['not_in', ['a'], MISSING, false],
    ['exists', true, 0, true],
    ['exists', true, null, true],
    ['exists', true, MISSING, false],
    ['exists', false, MISSING, true],
    ['exists', false, 'x', false],
    ['regex', '^BTC/', 'BTC/USDT', true],
    ['regex', '^BTC/', 'ETH/BTC', false],
    ['regex', '^1', 1, false],
    ['regex', 'x', MISSING, false],
    ['contains', 'USD', 'BTC/USDT', true],
    ['contains', 'EUR', 'BTC/USDT', false],
    ['contains', 'a', ['a', 'b'], true],
    ['contains', 2, [1, 2], true],
    ['contains', 2, [1, '2'], false],
    ['contains', { x: 1 }, [{ x: 1 }], true],
    ['contains', 1, 'a1', false],
    ['contains', 'a', MISSING, false],
  ];
  test.each(rows)('%s %j on %j is %s', (op, value, arg, expected) => {
    const condition = op === 'exists' ? { path: 'args.x', op, value } : { path: 'args.x', op, value };
    const p = compilePolicy({ version: '1', default: 'deny', tools: { t: { require: [condition as never] } } });
    const args = arg === MISSING ? {} : { x: arg };
    expect(p.decide({ tool: 't', args }).effect).toBe(expected ? 'allow' : 'deny');
  });

  test('exists without a value means exists: true', () => {
    const p = compilePolicy({ version: '1', default: 'deny', tools: { t: { require: [{ path: 'args.x', op: 'exists' }] } } });
    expect(p.decide({ tool: 't', args: { x: 1 } }).effect).toBe('allow');
    expect(p.decide({ tool: 't', args: {} }).effect).toBe('deny');
  });

  test('regex flags apply', () => {
    const p = compilePolicy({ version: '1', default: 'deny', tools: { t: { require: [{ path: 'args.x', op: 'regex', value: '^btc', flags: 'i' }] } } });
    expect(p.decide({ tool: 't', args: { x: 'BTC/USDT' } }).effect).toBe('allow');
  });
});

describe('paths', () => {
  const p = compilePolicy({
    version: '1',
    default: 'deny',
    tools: {
      t: {
        deny_if: [
          { id: 'nested', conditions: [{ path: 'args.order.legs[1].qty', op: 'gt', value: 10 }] },
          { id: 'label', conditions: [{ path: 'agent.labels.team', op: 'eq', value: 'red' }] },
          { id: 'agent', conditions: [{ path: 'agent.id', op: 'eq', value: 'mallory' }] },
          { id: 'session', conditions: [{ path: 'session.id', op: 'eq', value: 'bad' }] },
          { id: 'proto', conditions: [{ path: 'args.__proto__', op: 'exists' }] },
          { id: 'ctor', conditions: [{ path: 'args.constructor', op: 'exists' }] },
        ],
      },
    },
  });
  test('walks nested objects and array indexes', () => {
    expect(p.decide({ tool: 't', args: { order: { legs: [{ qty: 50 }, { qty: 11 }] } } }).rule).toBe('nested');
    expect(p.decide({ tool: 't', args: { order: { legs: [{ qty: 50 }] } } }).effect).toBe('allow');
    expect(p.decide({ tool: 't', args: { order: { legs: { 1: { qty: 50 } } } } }).effect).toBe('allow');
    expect(p.decide({ tool: 't', args: { order: 'legs' } }).effect).toBe('allow');
  });
  test('reads agent id, labels and session id', () => {
    expect(p.decide({ tool: 't', args: {}, agent: { id: 'x', labels: { team: 'red' } } }).rule).toBe('label');
    expect(p.decide({ tool: 't', args: {}, agent: { id: 'mallory' } }).rule).toBe('agent');
    expect(p.decide({ tool: 't', args: {}, session: { id: 'bad' } }).rule).toBe('session');
    expect(p.decide({ tool: 't' }).effect).toBe('allow');
  });
  test('inherited properties are missing; an own __proto__ key from JSON is present', () => {
    expect(p.decide({ tool: 't', args: {} }).effect).toBe('allow');
    expect(p.decide({ tool: 't', args: JSON.parse('{"__proto__": {"x": 1}}') }).rule).toBe('proto');
    expect(p.decide({ tool: 't', args: JSON.parse('{"constructor": 1}') }).rule).toBe('ctor');
  });
});

describe('limits', () => {
  const policy: Policy = {
    version: '1',
    default: 'deny',
    all_tools: { limits: [{ counter: 'all', max: 100, window: 'minute', scope: 'global' }] },
    tools: {
      buy: {
        limits: [
          { counter: 'orders', max: 3, window: 'minute' },
          { id: 'notional', counter: 'notional', max: 10, window: 'day', increment_from: 'args.amount' },
        ],
      },
      sell: { limits: [{ counter: 'orders', max: 3, window: 'minute' }] },
      ping: { rate_limit: { max: 2, window: 10 } },
      sess: { limits: [{ counter: 's', max: 1, window: 'hour', scope: 'session' }] },
      glob: { limits: [{ counter: 'g', max: 2, window: 'second', scope: 'global' }] },
      guarded: { deny_if: [{ conditions: [{ path: 'args.block', op: 'eq', value: true }] }], limits: [{ counter: 'guarded', max: 1, window: 'hour' }] },
    },
  };
  const T0 = Date.parse('2026-03-01T10:00:00Z');

  test('a counter admits max calls per fixed UTC-aligned window, then denies with retry_after', () => {
    const p = compilePolicy(policy);
    const ctx = { now: T0 + 30_000, limits: new MemoryLimitStore() };
    for (let i = 0; i < 3; i++) expect(p.decide(call('sell'), ctx).effect).toBe('allow');
    const d = p.decide(call('sell'), ctx);
    expect(d).toMatchObject({ effect: 'deny', rule: 'tools.sell.limits[0]', code: 'rate_limited', retry_after: 30 });
    expect(d.reason).toContain('rate limit');
    // 59.999 s into the window still counts; the next window starts on the minute.
    expect(p.decide(call('sell'), { ...ctx, now: T0 + 59_999 }).effect).toBe('deny');
    expect(p.decide(call('sell'), { ...ctx, now: T0 + 60_000 }).effect).toBe('allow');
  });

  test('counters with the same name are shared across tools', () => {
    const p = compilePolicy(policy);
    const ctx = { now: T0, limits: new MemoryLimitStore() };
    expect(p.decide(call('buy', { amount: 1 }), ctx).effect).toBe('allow');
    expect(p.decide(call('sell'), ctx).effect).toBe('allow');
    expect(p.decide(call('buy', { amount: 1 }), ctx).effect).toBe('allow');
    expect(p.decide(call('sell'), ctx).rule).toBe('tools.sell.limits[0]');
  });

  test('agent scope counts each agent apart; session and global scopes as named', () => {
    const p = compilePolicy(policy);
    const ctx = { now: T0, limits: new MemoryLimitStore() };
    for (let i = 0; i < 3; i++) p.decide(call('sell', {}, 'alice'), ctx);
    expect(p.decide(call('sell', {}, 'alice'), ctx).effect).toBe('deny');
    expect(p.decide(call('sell', {}, 'bob'), ctx).effect).toBe('allow');
    expect(p.decide(call('sess', {}, 'alice', 'x'), ctx).effect).toBe('allow');
    expect(p.decide(call('sess', {}, 'bob', 'x'), ctx).effect).toBe('deny');
    expect(p.decide(call('sess', {}, 'alice', 'y'), ctx).effect).toBe('allow');
    expect(p.decide(call('glob', {}, 'alice'), ctx).effect).toBe('allow');
    expect(p.decide(call('glob', {}, 'bob'), ctx).effect).toBe('allow');
    expect(p.decide(call('glob', {}, 'carol'), ctx).effect).toBe('deny');
  });

  test('increment_from adds the value, and a call over the cap is denied as a spend limit', () => {
    const p = compilePolicy(policy);
    const ctx = { now: T0, limits: new MemoryLimitStore() };
    expect(p.decide(call('buy', { amount: 6 }), ctx).effect).toBe('allow');
    const d = p.decide(call('buy', { amount: 4.5 }), ctx);
    expect(d).toMatchObject({ effect: 'deny', rule: 'notional', code: 'rate_limited' });
    expect(d.reason).toContain('spend limit');
    expect(d.reason).toContain('10.5 of 10');
    expect(p.decide(call('buy', { amount: 4 }), ctx).effect).toBe('allow');
  });

  test('increment_from fails closed on a missing, non-numeric, negative or non-finite value', () => {
    const p = compilePolicy(policy);
    const limits = new MemoryLimitStore();
    for (const args of [{}, { amount: '5' }, { amount: -1 }, { amount: Number.POSITIVE_INFINITY }, { amount: null }]) {
      const d = p.decide(call('buy', args), { now: T0, limits });
      expect(d).toMatchObject({ effect: 'deny', rule: 'notional', code: 'policy.denied' });
      expect(d.reason).toContain('fail closed');
    }
    // None of them counted against the shared orders counter.
    for (let i = 0; i < 3; i++) expect(p.decide(call('sell'), { now: T0, limits }).effect).toBe('allow');
  });

  test('a denied call increments nothing: neither a limit denial nor a rule denial', () => {
    const p = compilePolicy(policy);
    const limits = new MemoryLimitStore();
    const ctx = { now: T0, limits };
    // The spend limit denies; the orders counter (checked first, would admit) must not move.
    expect(p.decide(call('buy', { amount: 11 }), ctx).rule).toBe('notional');
    expect(p.decide(call('guarded', { block: true }), ctx).effect).toBe('deny');
    expect(p.decide(call('guarded', { block: false }), ctx).effect).toBe('allow');
    for (let i = 0; i < 3; i++) expect(p.decide(call('sell'), ctx).effect).toBe('allow');
    const d = p.decide(call('sell'), ctx);
    expect(d.limits?.find((l) => l.counter === 'all')?.used).toBe(5);
  });

  test('all_tools limits apply to every tool, before its own', () => {
    const p = compilePolicy({ version: '1', default: 'allow', all_tools: { limits: [{ counter: 'all', max: 2, window: 'minute', scope: 'global' }] }, tools: { a: {} } });
    const ctx = { now: T0, limits: new MemoryLimitStore() };
    expect(p.decide(call('a'), ctx).effect).toBe('allow');
    expect(p.decide(call('unlisted'), ctx)).toMatchObject({ effect: 'allow', rule: 'default' });
    expect(p.decide(call('a'), ctx)).toMatchObject({ effect: 'deny', rule: 'all_tools.limits[0]' });
  });

  test('rate_limit is a counting limit with its own rule id and counter', () => {
    const p = compilePolicy(policy);
    const ctx = { now: T0 + 5_000, limits: new MemoryLimitStore() };
    p.decide(call('ping'), ctx);
    p.decide(call('ping'), ctx);
    expect(p.decide(call('ping'), ctx)).toMatchObject({ effect: 'deny', rule: 'tools.ping.rate_limit', retry_after: 5 });
  });

  test('the decision carries the counter state', () => {
    const p = compilePolicy(policy);
    const d = p.decide(call('buy', { amount: 2.5 }), { now: T0, limits: new MemoryLimitStore() });
    expect(d.limits).toEqual([
      { rule: 'all_tools.limits[0]', counter: 'all', scope: 'global', window: 60, max: 100, used: 1, amount: 1, resets_at: T0 + 60_000 },
      { rule: 'tools.buy.limits[0]', counter: 'orders', scope: 'agent', window: 60, max: 3, used: 1, amount: 1, resets_at: T0 + 60_000 },
      { rule: 'notional', counter: 'notional', scope: 'agent', window: 86_400, max: 10, used: 2.5, amount: 2.5, resets_at: Date.parse('2026-03-02T00:00:00Z') },
    ]);
  });

  test('uses the injected clock when the context gives no time', () => {
    let now = T0;
    const p = compilePolicy(policy, { clock: () => now });
    p.decide(call('glob'));
    p.decide(call('glob'));
    expect(p.decide(call('glob')).effect).toBe('deny');
    now += 1000;
    expect(p.decide(call('glob')).effect).toBe('allow');
  });

  test('decideAsync works with an asynchronous store; decide refuses one', async () => {
    const inner = new MemoryLimitStore();
    const store: LimitStore = { acquire: async (r: readonly LimitRequest[], n: number): Promise<LimitResult> => inner.acquire(r, n) };
    const p = compilePolicy(policy, { limits: store, clock: () => T0 });
    expect((await p.decideAsync(call('glob'))).effect).toBe('allow');
    expect((await p.decideAsync(call('glob'))).effect).toBe('allow');
    expect((await p.decideAsync(call('glob'))).effect).toBe('deny');
    expect(() => p.decide(call('glob'))).toThrow(/decideAsync/);
    // Calls that need no limits stay synchronous even with an async store.
    expect(p.decide(call('unlisted')).effect).toBe('deny');
  });
});

describe('bounded regex input', () => {
  test('a value longer than the bound is denied (fail closed), in require and in deny_if', () => {
    const p = compilePolicy(
      {
        version: '1',
        default: 'deny',
        tools: {
          r: { require: [{ path: 'args.s', op: 'regex', value: '^a+$' }] },
          d: { deny_if: [{ conditions: [{ path: 'args.s', op: 'regex', value: 'evil' }] }] },
        },
      },
      { maxPatternInput: 16 },
    );
    expect(p.decide({ tool: 'r', args: { s: 'a'.repeat(16) } }).effect).toBe('allow');
    const long = p.decide({ tool: 'r', args: { s: 'a'.repeat(17) } });
    expect(long).toMatchObject({ effect: 'deny', rule: 'tools.r.require[0]' });
    expect(long.reason).toContain('too long');
    expect(p.decide({ tool: 'd', args: { s: 'x'.repeat(17) } })).toMatchObject({ effect: 'deny', rule: 'tools.d.deny_if[0]' });
    expect(p.decide({ tool: 'd', args: { s: 'x'.repeat(16) } }).effect).toBe('allow');
  });

  test('a catastrophic pattern on a long hostile value returns at once', () => {
    const p = compilePolicy({ version: '1', default: 'deny', tools: { r: { require: [{ path: 'args.s', op: 'regex', value: '^(a+)+$' }] } } });
    const started = performance.now();
    const d = p.decide({ tool: 'r', args: { s: 'a'.repeat(100_000) + '!' } });
    expect(d.effect).toBe('deny');
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('compile errors', () => {
  test('an invalid regex is reported at its value, with every other error', () => {
    const text = `{
  "version": "1",
  "default": "deny",
  "tools": {
    "t": {
      "require": [ { "path": "args.s", "op": "regex", "value": "(" } ],
      "limits": [ { "counter": "c", "max": 0, "window": "minute" } ]
    }
  }
}`;
    const loaded = loadPolicy(text, 'p.json');
    expect(loaded.failedAt).toBe('compile');
    expect(loaded.policy).toBeUndefined();
    expect(loaded.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([
      ['TG100', 6, 64],
      ['TG102', 7, 44],
    ]);
  });

  test('duplicate and colliding ids', () => {
    const r = tryCompilePolicy({
      version: '1',
      default: 'deny',
      tools: {
        a: { deny_if: [{ id: 'x', conditions: [] }, { id: 'x', conditions: [] }] },
        b: { deny_if: [{ id: 'tools.z.action', conditions: [] }] },
        c: { action: 'deny' },
        d: { deny_if: [{ id: 'tools.c.action', conditions: [] }] },
        e: { deny_if: [{ id: 'tools.f.action', conditions: [] }] },
        f: { action: 'deny' },
      },
    });
    expect(r.policy).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.pointer])).toEqual([
      ['TG103', '/tools/a/deny_if/1/id'],
      ['TG107', '/tools/d/deny_if/0/id'],
      ['TG107', '/tools/e/deny_if/0/id'],
    ]);
  });

  test('compilePolicy throws a PolicyError carrying the diagnostics', () => {
    try {
      compilePolicy({ version: '2', default: 'deny' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).code).toBe('policy.invalid');
      expect((error as PolicyError).diagnostics[0]?.message).toContain('/version must be "1"');
    }
  });

  test('the compiled policy is independent of later edits to its input', () => {
    const input: Policy = { version: '1', default: 'deny', tools: { a: {} } };
    const p = compilePolicy(input);
    input.tools!.a = { action: 'deny' };
    expect(p.decide({ tool: 'a' }).effect).toBe('allow');
    expect(Object.isFrozen(p.policy.tools)).toBe(true);
  });

  test('durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(() => parseDuration('0m')).toThrow(/duration/);
  });
});
