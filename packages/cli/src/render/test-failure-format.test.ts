import type { TestCaseResult } from '@tollgate/policy';
import { describe, expect, it } from 'vitest';
import { describeFailure } from './test-failure-format.js';

describe('describeFailure with shadow-mode decisions', () => {
  it('shows the expected and the actual would-be decision next to the enforced one', () => {
    const c: TestCaseResult = {
      name: 'large order',
      file: 'policies/ccxt/orders.test.json',
      line: 3,
      column: 5,
      passed: false,
      calls: 1,
      failure: {
        step: 0,
        repetition: 1,
        call: { tool: 'order', args: { amount: 500 }, agent: { id: 'test-agent' }, session: { id: 'test-session' } },
        at: '2026-01-01T00:00:00.000Z',
        expected: { effect: 'deny', rule: 'default', shadow: { effect: 'allow', rule: null } },
        actual: { effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)', shadow: { effect: 'deny', rule: 'order-cap', reason: 'Orders above 100 are refused.', code: 'policy.denied' } },
        mismatches: ['shadow effect: expected allow, got deny', 'shadow rule: expected null, got "order-cap"'],
      },
    };
    const lines = describeFailure(c);
    expect(lines.find((l) => l.label === 'expected')?.text).toBe('deny, rule "default", shadow (allow, rule null)');
    expect(lines.find((l) => l.label === 'actual')?.text).toBe(
      'deny, rule "default", reason "not allowed by policy (default deny)", shadow (deny, rule "order-cap", reason "Orders above 100 are refused.")',
    );
    expect(lines.filter((l) => l.label === 'mismatch').map((l) => l.text)).toEqual(['shadow effect: expected allow, got deny', 'shadow rule: expected null, got "order-cap"']);
  });
});
