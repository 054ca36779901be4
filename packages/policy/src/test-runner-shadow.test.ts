import { describe, expect, test } from 'vitest';
import type { Policy } from './generated/policy-types.js';
import { compilePolicy } from './compile/policy-compiler.js';
import type { CompiledPolicy } from './evaluate/compiled-policy.js';
import { computeCoverage, parseTestFile, runTestFile } from './test-runner.js';

/** default deny; `order` is a new permission tried in shadow, with a cap and a rate limit. */
const toolInShadow: Policy = {
  version: '1',
  default: 'deny',
  tools: {
    balance: {},
    order: {
      shadow: true,
      deny_if: [{ id: 'order-cap', conditions: [{ path: 'args.amount', op: 'gt', value: 100 }], on_deny: 'Orders above 100 are refused.' }],
      rate_limit: { max: 1, window: 'minute' },
    },
  },
};

function run(policy: CompiledPolicy, tests: unknown) {
  const parsed = parseTestFile(JSON.stringify(tests, null, 2), 'shadow.test.json');
  expect(parsed.diagnostics).toEqual([]);
  return runTestFile(parsed.tests!, parsed.document!, policy);
}

describe('shadow expectations', () => {
  test('pass when the would-be decision matches, in the string and the object form', () => {
    const r = run(compilePolicy(toolInShadow), {
      cases: [
        { name: 'small order', call: { tool: 'order', args: { amount: 5 } }, expect: { effect: 'deny', rule: 'default', shadow: 'allow' } },
        {
          name: 'large order',
          call: { tool: 'order', args: { amount: 500 } },
          expect: { effect: 'deny', shadow: { effect: 'deny', rule: 'order-cap', reason_contains: 'above 100' } },
        },
        {
          name: 'second order in a minute',
          sequence: [
            { call: { tool: 'order', args: { amount: 1 } }, expect: { effect: 'deny', shadow: { effect: 'allow', rule: null } } },
            { call: { tool: 'order', args: { amount: 1 } }, expect: { effect: 'deny', shadow: { effect: 'deny', rule: 'tools.order.rate_limit' } } },
          ],
        },
        { name: 'enforced only', call: { tool: 'balance' }, expect: 'allow' },
      ],
    });
    expect(r.cases.map((c) => [c.name, c.passed, c.failure?.mismatches])).toEqual([
      ['small order', true, undefined],
      ['large order', true, undefined],
      ['second order in a minute', true, undefined],
      ['enforced only', true, undefined],
    ]);
  });

  test('fail, saying what differed, when the would-be decision does not match', () => {
    const r = run(compilePolicy(toolInShadow), {
      cases: [
        { name: 'wrong shadow effect', call: { tool: 'order', args: { amount: 500 } }, expect: { effect: 'deny', shadow: 'allow' } },
        { name: 'wrong shadow rule and reason', call: { tool: 'order', args: { amount: 500 } }, expect: { effect: 'deny', shadow: { effect: 'deny', rule: 'x', reason_contains: 'nope' } } },
        { name: 'nothing in shadow', call: { tool: 'balance' }, expect: { effect: 'allow', shadow: 'allow' } },
      ],
    });
    expect(r.failed).toBe(3);
    expect(r.cases[0]!.failure?.mismatches).toEqual(['shadow effect: expected allow, got deny']);
    expect(r.cases[0]!.failure?.actual.shadow).toEqual({ effect: 'deny', rule: 'order-cap', reason: 'Orders above 100 are refused.', code: 'policy.denied' });
    expect(r.cases[0]!.failure?.expected.shadow).toEqual({ effect: 'allow' });
    expect(r.cases[1]!.failure?.mismatches).toEqual([
      'shadow rule: expected "x", got "order-cap"',
      'shadow reason: expected it to contain "nope", got "Orders above 100 are refused."',
    ]);
    expect(r.cases[2]!.failure?.mismatches).toEqual(['shadow: expected allow, got no shadow decision (nothing in shadow mode decided this call)']);
  });

  test('a policy in shadow: the enforced effect is allow, the would-be one is checked', () => {
    const policy = compilePolicy({ ...toolInShadow, shadow: true, tools: { ...toolInShadow.tools, order: { ...toolInShadow.tools!.order, shadow: false } } });
    const r = run(policy, {
      cases: [
        { name: 'unknown tool', call: { tool: 'withdraw' }, expect: { effect: 'allow', rule: null, shadow: { effect: 'deny', rule: 'default' } } },
        { name: 'would deny', call: { tool: 'order', args: { amount: 500 } }, expect: { effect: 'deny', shadow: 'deny' } },
      ],
    });
    expect(r.cases[0]!.passed).toBe(true);
    expect(r.cases[1]!.failure?.mismatches).toEqual(['effect: expected deny, got allow']);
  });
});

describe('coverage with rules in shadow', () => {
  test('rules in shadow count as hit by the would-be decisions, and their tool allow path too', () => {
    const policy = compilePolicy(toolInShadow);
    const r = run(policy, {
      cases: [
        { name: 'small', call: { tool: 'order', args: { amount: 5 } }, expect: { effect: 'deny', shadow: 'allow' } },
        { name: 'large', call: { tool: 'order', args: { amount: 500 } }, expect: { effect: 'deny', shadow: 'deny' } },
        { name: 'balance', call: { tool: 'balance' }, expect: 'allow' },
      ],
    });
    const coverage = computeCoverage(policy, [r.hits]);
    expect(coverage.items.filter((i) => !i.hit).map((i) => i.id)).toEqual(['tools.order.rate_limit']);
    expect(coverage.items.filter((i) => i.hit).map((i) => i.id).sort()).toEqual(['default', 'order-cap', 'tools.balance', 'tools.order']);
  });

  test('a policy in shadow: its blanket allow covers nothing, its would-be decisions do', () => {
    const policy = compilePolicy({ version: '1', default: 'deny', shadow: true, tools: { balance: {}, order: { action: 'deny' } } });
    const r = run(policy, { cases: [{ name: 'order', call: { tool: 'order' }, expect: { effect: 'allow', shadow: 'deny' } }] });
    const coverage = computeCoverage(policy, [r.hits]);
    expect(coverage.items.map((i) => [i.id, i.hit])).toEqual([
      ['default', false],
      ['tools.order.action', true],
      ['tools.balance', false],
    ]);
  });
});
