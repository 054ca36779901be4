import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { catalogInputSchemas, parseCatalog } from '../catalog/catalog.js';
import type { ToolCall } from '../evaluate/decision.js';
import type { Policy } from '../generated/policy-types.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compilePolicy } from '../compile/policy-compiler.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { plannedCounters, seedCounters } from './counter-plan.js';
import type { DecisionTrace, TraceStep, TraceStepName } from './decision-trace.js';
import { traceDecision } from './decision-tracer.js';

const read = (path: string): string => readFileSync(new URL(`../../../../policies/${path}`, import.meta.url), 'utf8');
const ccxtPolicy = JSON.parse(read('ccxt/policy.json')) as Policy;
const ccxtSchemas = catalogInputSchemas(parseCatalog(read('ccxt/catalog.json'), 'catalog.json').catalog!);
const NOW = Date.parse('2026-03-02T10:15:30Z');
const desk = { id: 'trader-1', labels: { team: 'desk' } };

function ccxt(): CompiledPolicy {
  return compilePolicy(ccxtPolicy, { server: 'ccxt', inputSchemas: ccxtSchemas });
}

function step(trace: DecisionTrace['enforced'], name: TraceStepName): TraceStep {
  return trace.steps.find((s) => s.step === name)!;
}

function order(amount: unknown, extra: Record<string, unknown> = {}): ToolCall {
  return { tool: 'create_spot_market_order', args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount, ...extra }, agent: desk, session: { id: 's1' } };
}

describe('traceDecision on the CCXT policy of this repository', () => {
  test('a deny_if rule that matched: every require condition with its value, the rule that decided, the later steps not reached', () => {
    const trace = traceDecision(ccxt(), order(5), { now: NOW });
    expect(trace.decision).toMatchObject({ effect: 'deny', rule: 'spot-market-max-amount', code: 'policy.denied' });
    expect(trace.enforced.verdict).toEqual({ effect: 'deny', rule: 'spot-market-max-amount', code: 'policy.denied', step: 'deny_if' });
    expect(trace.enforced.steps.map((s) => [s.step, s.status])).toEqual([
      ['hidden', 'passed'],
      ['arguments', 'passed'],
      ['default', 'passed'],
      ['action', 'passed'],
      ['require', 'passed'],
      ['deny_if', 'decided'],
      ['approve_if', 'not_reached'],
      ['limits', 'not_reached'],
      ['allow', 'not_reached'],
    ]);
    expect(step(trace.enforced, 'require').rules!.map((r) => [r.id, r.status, r.conditions[0]!.found, r.conditions[0]!.actual, r.conditions[0]!.result])).toEqual([
      ['tools.create_spot_market_order.require[0]', 'passed', true, 'binance', 'held'],
      ['tools.create_spot_market_order.require[1]', 'passed', true, 'BTC/USDT', 'held'],
      // `exists: false` holds because the path is missing.
      ['tools.create_spot_market_order.require[2]', 'passed', false, undefined, 'held'],
    ]);
    const denyIf = step(trace.enforced, 'deny_if');
    expect(denyIf.rules).toEqual([
      {
        id: 'spot-market-max-amount',
        positional_id: 'tools.create_spot_market_order.deny_if[0]',
        status: 'decided',
        conditions: [{ text: 'args.amount gt 2', path: 'args.amount', op: 'gt', found: true, actual: 5, result: 'held', evaluated: true }],
      },
    ]);
    expect(denyIf.detail).toBe('spot-market-max-amount matched: its condition held');
    expect(trace.shadow).toBeNull();
    expect(trace.shadow_mode).toBe('none');
  });

  test('a require condition that failed, the conditions after it not evaluated but shown', () => {
    const trace = traceDecision(ccxt(), order(1, { exchange_id: 'bybit', api_key: 'k' }), { now: NOW });
    expect(trace.enforced.verdict).toMatchObject({ rule: 'tools.create_spot_market_order.require[0]', step: 'require' });
    const rules = step(trace.enforced, 'require').rules!;
    expect(rules.map((r) => [r.status, r.conditions[0]!.evaluated, r.conditions[0]!.result])).toEqual([
      ['decided', true, 'failed'],
      ['not_reached', false, 'held'],
      ['not_reached', false, 'failed'],
    ]);
    expect(step(trace.enforced, 'require').detail).toBe('args.exchange_id in ["binance","coinbase","kraken"] does not hold');
    // The deny_if rule of a step not reached is listed, with the value at its path.
    expect(step(trace.enforced, 'deny_if').rules![0]).toMatchObject({ status: 'not_reached', conditions: [{ actual: 1, result: 'failed', evaluated: false }] });
  });

  test('limits: each counter before and after the call, all_tools first; a spend limit that would pass its max denies with the counters', () => {
    const policy = ccxt();
    const limits = new MemoryLimitStore();
    const first = traceDecision(policy, order(2), { now: NOW, limits });
    expect(first.decision.effect).toBe('allow');
    expect(step(first.enforced, 'limits').limits!.map((l) => [l.rule, l.counter, l.scope, l.scope_id, l.used_before, l.amount, l.used_after, l.max, l.outcome])).toEqual([
      ['all_tools.limits[0]', 'ccxt-calls', 'agent', 'trader-1', 0, 1, 1, 120, 'admitted'],
      ['tools.create_spot_market_order.limits[0]', 'orders', 'agent', 'trader-1', 0, 1, 1, 10, 'admitted'],
      ['tools.create_spot_market_order.limits[1]', 'daily-notional', 'global', '', 0, 2, 2, 5, 'admitted'],
    ]);
    expect(step(first.enforced, 'limits').limits![2]).toMatchObject({ amount_from: { path: 'args.amount', found: true, actual: 2 }, window: 86_400, window_start: Date.parse('2026-03-02T00:00:00Z') });
    traceDecision(policy, order(2), { now: NOW + 1000, limits });
    const third = traceDecision(policy, order(1.5), { now: NOW + 2000, limits });
    expect(third.decision).toMatchObject({ effect: 'deny', rule: 'tools.create_spot_market_order.limits[1]', code: 'rate_limited' });
    expect(third.enforced.verdict.step).toBe('limits');
    expect(step(third.enforced, 'limits').limits!.map((l) => [l.used_before, l.amount, l.used_after, l.outcome])).toEqual([
      [2, 1, 3, 'admitted'],
      [2, 1, 3, 'admitted'],
      [4, 1.5, null, 'exceeded'],
    ]);
    expect(step(third.enforced, 'limits').detail).toBe('tools.create_spot_market_order.limits[1]: "daily-notional" is at 4 of 5; this call would add 1.5');
    // A denied call counts nothing: the counters are where the second call left them.
    expect(traceDecision(policy, order(1), { now: NOW + 3000, limits }).decision.effect).toBe('allow');
  });

  test('a spend limit without a usable amount denies before the store is asked (fail closed)', () => {
    const policy = compilePolicy(ccxtPolicy, { server: 'ccxt' });
    const trace = traceDecision(policy, order(-1), { now: NOW });
    expect(trace.enforced.verdict).toMatchObject({ rule: 'tools.create_spot_market_order.limits[1]', code: 'policy.denied', step: 'limits' });
    expect(step(trace.enforced, 'limits').limits!.map((l) => [l.outcome, l.amount])).toEqual([
      ['not_checked', 1],
      ['not_checked', 1],
      ['no_amount', null],
    ]);
  });

  test('approvals: none found asks for one, a granted one allows with the approval rule, a denied one denies', () => {
    const policy = ccxt();
    const futures = (amount: number, agent = desk): ToolCall => ({ tool: 'create_futures_limit_order', args: { exchange_id: 'binance', symbol: 'BTC/USDT:USDT', side: 'buy', amount, price: 50_000 }, agent });
    const asked = traceDecision(policy, futures(0.8), { now: NOW });
    expect(asked.enforced.verdict).toEqual({ effect: 'approval_required', rule: 'futures-limit-large-order', code: 'approval.required', step: 'approve_if' });
    expect(step(asked.enforced, 'approve_if').approval).toEqual({ rule: 'futures-limit-large-order', lookup: 'none' });
    const granted = traceDecision(policy, futures(0.8), { now: NOW, approvals: () => ({ status: 'granted', id: 'ap-7' }) });
    expect(granted.decision).toMatchObject({ effect: 'allow', rule: 'futures-limit-large-order', approval_id: 'ap-7' });
    expect(step(granted.enforced, 'approve_if')).toMatchObject({ status: 'passed', approval: { lookup: 'granted', id: 'ap-7' }, rules: [{ id: 'futures-limit-large-order', status: 'matched' }] });
    expect(step(asked.enforced, 'approve_if').rules![0]!.status).toBe('decided');
    expect(granted.enforced.verdict).toMatchObject({ step: 'allow', rule: 'futures-limit-large-order' });
    const denied = traceDecision(policy, futures(0.8), { now: NOW, approvals: () => ({ status: 'denied', id: 'ap-8', approver: 'lead' }) });
    expect(denied.enforced.verdict).toEqual({ effect: 'deny', rule: 'futures-limit-large-order', code: 'approval.denied', step: 'approve_if' });
    // Without the team label the require condition on it fails; the label is shown as missing.
    const noLabel = traceDecision(policy, futures(0.8, { id: 'bot' } as typeof desk), { now: NOW });
    expect(noLabel.enforced.verdict.rule).toBe('tools.create_futures_limit_order.require[3]');
    expect(step(noLabel.enforced, 'require').rules![3]!.conditions[0]).toMatchObject({ path: 'agent.labels.team', found: false, result: 'failed' });
  });

  test('hidden by name: decided before the arguments are looked at', () => {
    const trace = traceDecision(ccxt(), { tool: 'set_trading_leverage', args: { nonsense: true } }, { now: NOW });
    expect(trace.enforced.verdict).toEqual({ effect: 'hidden', rule: 'hide', code: 'tool.hidden', step: 'hidden' });
    expect(step(trace.enforced, 'hidden').detail).toBe('"set_trading_leverage" is named in "hide"');
    expect(step(trace.enforced, 'arguments').status).toBe('not_reached');
  });

  test('arguments that do not fit the input schema: each problem listed', () => {
    const trace = traceDecision(ccxt(), order('a lot'), { now: NOW });
    expect(trace.enforced.verdict).toEqual({ effect: 'deny', rule: 'input_schema', code: 'invalid_arguments', step: 'arguments' });
    expect(step(trace.enforced, 'arguments').errors).toEqual(['args.amount must be number']);
  });

  test('a tool rule in shadow: enforced as unlisted (default deny), its rule evaluated for the record', () => {
    const trace = traceDecision(ccxt(), { tool: 'fetch_deposit_address', args: { exchange_id: 'okx', code: 'BTC' }, agent: desk }, { now: NOW });
    expect(trace.shadow_mode).toBe('tool');
    expect(trace.enforced.verdict).toEqual({ effect: 'deny', rule: 'default', code: 'policy.denied', step: 'default' });
    expect(step(trace.enforced, 'default').detail).toBe('the rule of "fetch_deposit_address" is in shadow mode: the call is enforced as for a tool not in tools: default "deny"');
    // The enforced walk does not list the shadow rule's conditions as its own.
    expect(step(trace.enforced, 'require').rules).toBeUndefined();
    expect(trace.shadow!.verdict).toEqual({ effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]', code: 'policy.denied', step: 'require' });
    expect(trace.decision.shadow).toMatchObject({ effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]' });
    expect(step(trace.shadow!, 'arguments')).toMatchObject({ status: 'skipped', detail: 'checked once, for the enforced decision' });
  });

  test('a policy in shadow: every call allowed, approvals never looked up, counted in shadow counters', () => {
    const policy = compilePolicy({ ...ccxtPolicy, shadow: true }, { server: 'ccxt', inputSchemas: ccxtSchemas });
    let asked = 0;
    const trace = traceDecision(policy, { tool: 'create_futures_limit_order', args: { exchange_id: 'binance', symbol: 'BTC/USDT:USDT', side: 'buy', amount: 0.8, price: 50_000 }, agent: desk }, {
      now: NOW,
      approvals: () => {
        asked += 1;
        return { status: 'granted', id: 'never' };
      },
    });
    expect(asked).toBe(0);
    expect(trace.shadow_mode).toBe('policy');
    expect(trace.enforced.verdict).toEqual({ effect: 'allow', rule: null, code: null, step: 'allow' });
    expect(trace.enforced.steps.filter((s) => s.status === 'skipped').map((s) => s.step)).toEqual(['hidden', 'default', 'action', 'require', 'deny_if', 'approve_if', 'limits']);
    expect(trace.shadow!.verdict).toMatchObject({ effect: 'approval_required', rule: 'futures-limit-large-order' });
    expect(step(trace.shadow!, 'approve_if').approval).toEqual({ rule: 'futures-limit-large-order', lookup: 'not_looked_up' });
    const rate = traceDecision(policy, { tool: 'fetch_market_ticker', args: { exchange_id: 'binance', symbol: 'BTC/USDT' }, agent: desk }, { now: NOW });
    expect(step(rate.shadow!, 'limits').limits!.every((l) => l.shadow_counter)).toBe(true);
  });

  test('only compiled policies are explained', () => {
    const policy = ccxt();
    const copy = { ...policy, decide: policy.decide.bind(policy) } as CompiledPolicy;
    expect(() => traceDecision(copy, order(1))).toThrow(expect.objectContaining({ code: 'explain.unsupported' }));
  });
});

describe('plannedCounters and seedCounters', () => {
  test('list every counter a call may touch, and put earlier values in place', () => {
    const policy = ccxt();
    const call = order(1);
    const planned = plannedCounters(policy, call, NOW);
    expect(planned.map((c) => [c.rule, c.counter, c.scope_id, c.shadow_counter])).toEqual([
      ['all_tools.limits[0]', 'ccxt-calls', 'trader-1', false],
      ['tools.create_spot_market_order.limits[0]', 'orders', 'trader-1', false],
      ['tools.create_spot_market_order.limits[1]', 'daily-notional', '', false],
    ]);
    const limits = new MemoryLimitStore();
    seedCounters(limits, [{ counter: planned[1]!, used: 9 }, { counter: planned[2]!, used: 4.5 }], NOW);
    const trace = traceDecision(policy, call, { now: NOW, limits });
    expect(trace.decision).toMatchObject({ effect: 'deny', rule: 'tools.create_spot_market_order.limits[1]' });
    expect(step(trace.enforced, 'limits').limits!.map((l) => l.used_before)).toEqual([0, 9, 4.5]);
    // A tool rule in shadow counts the all_tools limits twice: enforced, and in shadow counters.
    const shadowed = plannedCounters(policy, { tool: 'fetch_deposit_address', args: {}, agent: desk }, NOW);
    expect(shadowed.map((c) => [c.rule, c.shadow_counter])).toEqual([
      ['all_tools.limits[0]', false],
      ['all_tools.limits[0]', true],
    ]);
  });
});
