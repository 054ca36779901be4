import { describe, expect, test } from 'vitest';
import type { ToolCall } from '../evaluate/decision.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compilePolicy } from './policy-compiler.js';

// Step 2 of the evaluation order: after hidden, before any rule, the call's arguments must
// fit the tool's input schema and hold no non-finite number — so that `tollgate test`,
// `diff` and `--replay` decide invalid arguments exactly as the gateway does.

const ORDER_SCHEMA = {
  type: 'object',
  properties: { symbol: { type: 'string' }, amount: { type: 'number' } },
  required: ['symbol', 'amount'],
  additionalProperties: false,
};
const schemas = new Map<string, object>([
  ['order', ORDER_SCHEMA],
  ['secret', { type: 'object', properties: {}, additionalProperties: false }],
]);
const call = (tool: string, args: Record<string, unknown>): ToolCall => ({ tool, args, agent: { id: 'a1' }, session: { id: 's1' } });

const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['secret'],
  tools: {
    order: {
      deny_if: [{ id: 'too-big', conditions: [{ path: 'args.amount', op: 'gt', value: 10 }] }],
      limits: [{ counter: 'spend', max: 5, window: 'day', scope: 'global', increment_from: 'args.amount' }],
    },
  },
};

describe('the arguments step', () => {
  test('refuses arguments that do not fit the schema before any rule, with the rule input_schema', () => {
    const p = compilePolicy(POLICY, { server: 'x', inputSchemas: schemas });
    const d = p.decide(call('order', { symbol: 'BTC', amount: '20' }));
    expect(d).toMatchObject({ effect: 'deny', rule: 'input_schema', code: 'invalid_arguments', errors: ['args.amount must be number'] });
    expect(d.reason).toBe('invalid arguments for order: args.amount must be number');
    // Valid arguments reach the rules as before.
    expect(p.decide(call('order', { symbol: 'BTC', amount: 20 })).rule).toBe('too-big');
    expect(p.decide(call('order', { symbol: 'BTC', amount: 1 })).effect).toBe('allow');
  });

  test('a hidden tool stays hidden whatever its arguments', () => {
    const p = compilePolicy(POLICY, { server: 'x', inputSchemas: schemas });
    expect(p.decide(call('secret', { nonsense: 1e999 })).effect).toBe('hidden');
    const all = compilePolicy({ version: '1', default: 'allow', hide: ['*'] }, { server: 'x', inputSchemas: schemas });
    expect(all.decide(call('order', {})).effect).toBe('hidden');
  });

  test('non-finite numbers are refused before a spend counter moves', () => {
    const limits = new MemoryLimitStore();
    const p = compilePolicy(POLICY, { server: 'x', limits, inputSchemas: schemas });
    const d = p.decide(call('order', { symbol: 'BTC', amount: Number.POSITIVE_INFINITY }));
    expect(d).toMatchObject({ effect: 'deny', rule: 'input_schema', code: 'invalid_arguments', non_finite: ['args.amount'] });
    // The whole cap is still there.
    expect(p.decide(call('order', { symbol: 'BTC', amount: 5 })).effect).toBe('allow');
    expect(p.decide(call('order', { symbol: 'BTC', amount: 0.5 })).code).toBe('rate_limited');
  });

  test('the schema given per call (the upstream\'s, now) takes the place of the compiled one', () => {
    const p = compilePolicy(POLICY, { server: 'x', inputSchemas: schemas });
    const loose = { type: 'object' };
    expect(p.decide(call('order', { amount: 1 }), { inputSchema: loose }).effect).toBe('allow');
    expect(p.decide(call('order', { amount: 1 })).rule).toBe('input_schema');
    // Without any schema the step is skipped: a policy compiled without a catalog decides by its rules.
    expect(compilePolicy(POLICY, { server: 'x' }).decide(call('order', { amount: 1 })).effect).toBe('allow');
  });

  test('shadow mode relaxes rules, not the shape of a call', () => {
    const shadowPolicy = compilePolicy({ ...POLICY, shadow: true }, { server: 'x', inputSchemas: schemas });
    const d = shadowPolicy.decide(call('order', { symbol: 'BTC' }));
    expect(d).toMatchObject({ effect: 'deny', rule: 'input_schema' });
    expect(d.shadow).toBeUndefined();
    const shadowRule = compilePolicy({ ...POLICY, default: 'allow', tools: { order: { ...POLICY.tools.order, shadow: true } } }, { server: 'x', inputSchemas: schemas });
    expect(shadowRule.decide(call('order', { symbol: 1, amount: 1 })).rule).toBe('input_schema');
    expect(shadowRule.decide(call('order', { symbol: 'BTC', amount: 20 }))).toMatchObject({ effect: 'allow', shadow: { effect: 'deny', rule: 'too-big' } });
  });

  test('decideAsync decides the same', async () => {
    const p = compilePolicy(POLICY, { server: 'x', inputSchemas: schemas });
    expect(await p.decideAsync(call('order', { symbol: 'BTC', amount: '1' }))).toMatchObject({ rule: 'input_schema', code: 'invalid_arguments' });
  });
});
