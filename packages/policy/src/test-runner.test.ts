import { describe, expect, test } from 'vitest';
import { compilePolicy } from './compile/policy-compiler.js';
import { computeCoverage, coverageItems, parseTestFile, runTestFile, TEST_AGENT } from './test-runner.js';

const policy = compilePolicy({
  version: '1',
  default: 'deny',
  hide: ['withdraw'],
  tools: {
    balance: {},
    cancel_order: { deny_if: [{ conditions: [], on_deny: 'Requires human approval.' }] },
    order: {
      deny_if: [{ id: 'max-amount', conditions: [{ path: 'args.amount', op: 'gt', value: 5 }], on_deny: 'Order too large.' }],
      approve_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 3 }] }],
      limits: [{ counter: 'orders', max: 2, window: 'minute' }],
    },
    per_session: { limits: [{ counter: 's', max: 1, window: 'hour', scope: 'session' }] },
  },
});

function run(tests: unknown) {
  const parsed = parseTestFile(JSON.stringify(tests, null, 2), 'x.test.json');
  expect(parsed.diagnostics).toEqual([]);
  return runTestFile(parsed.tests!, parsed.document!, policy);
}

const order = (amount: number) => ({ tool: 'order', args: { amount } });

describe('runTestFile', () => {
  test('single-call cases with the string and object forms of expect', () => {
    const r = run({
      cases: [
        { name: 'balance', call: { tool: 'balance', args: {} }, expect: 'allow' },
        { name: 'cancel', call: { tool: 'cancel_order', args: { id: '1' } }, expect: { effect: 'deny', rule: 'tools.cancel_order.deny_if[0]', reason_contains: 'human approval' } },
        { name: 'plain allow has rule null', call: order(1), expect: { effect: 'allow', rule: null } },
        { name: 'hidden', call: { tool: 'withdraw' }, expect: 'hidden' },
      ],
    });
    expect(r.cases.map((c) => c.passed)).toEqual([true, true, true, true]);
    expect([r.passed, r.failed]).toEqual([4, 0]);
  });

  test('a failure shows the call, the expected and the actual decision, and where the case is', () => {
    const r = run({ cases: [{ name: 'too big', call: order(9), expect: { effect: 'allow', rule: 'x', reason_contains: 'fine' } }] });
    const c = r.cases[0]!;
    expect(c).toMatchObject({ name: 'too big', file: 'x.test.json', line: 3, column: 5, passed: false });
    expect(c.failure).toMatchObject({
      step: 0,
      repetition: 1,
      call: { tool: 'order', args: { amount: 9 }, agent: TEST_AGENT, session: { id: 'test-session' } },
      at: '2026-01-01T00:00:00.000Z',
      expected: { effect: 'allow', rule: 'x', reason_contains: 'fine' },
      actual: { effect: 'deny', rule: 'max-amount', reason: 'Order too large.' },
    });
    expect(c.failure!.mismatches).toEqual([
      'effect: expected allow, got deny',
      'rule: expected "x", got "max-amount"',
      'reason: expected it to contain "fine", got "Order too large."',
    ]);
  });

  test('a sequence shares limit state; repeat makes the call several times; the failing repetition is named', () => {
    const ok = run({ cases: [{ name: 'two a minute', sequence: [{ call: order(1), repeat: 2, expect: 'allow' }, { call: order(1), expect: { effect: 'deny', reason_contains: 'rate limit' } }] }] });
    expect(ok.cases[0]).toMatchObject({ passed: true, calls: 3 });
    const bad = run({ cases: [{ name: 'three a minute?', sequence: [{ call: order(1), repeat: 3, expect: 'allow' }] }] });
    expect(bad.cases[0]!.failure).toMatchObject({ step: 0, repetition: 3, actual: { effect: 'deny', rule: 'tools.order.limits[0]', retry_after: 60 } });
  });

  test('`at` moves the fixed clock for the step and those after it', () => {
    const r = run({
      cases: [
        {
          name: 'window resets',
          sequence: [
            { call: order(1), repeat: 2, expect: 'allow', at: '2026-01-01T00:00:59Z' },
            { call: order(1), expect: 'deny' },
            { call: order(1), repeat: 2, expect: 'allow', at: '2026-01-01T00:01:00Z' },
            { call: order(1), expect: 'deny' },
          ],
        },
      ],
    });
    expect(r.cases[0]!.passed).toBe(true);
  });

  test('separate cases never share state', () => {
    const r = run({ cases: [1, 2, 3].map((i) => ({ name: `case ${i}`, sequence: [{ call: order(1), repeat: 2, expect: 'allow' }] })) });
    expect(r.passed).toBe(3);
  });

  test("a case's calls share one session unless they name one", () => {
    const r = run({
      cases: [
        {
          name: 'sessions',
          sequence: [
            { call: { tool: 'per_session' }, expect: 'allow' },
            { call: { tool: 'per_session', agent: { id: 'other' } }, expect: 'deny' },
            { call: { tool: 'per_session', session: { id: 's2' } }, expect: 'allow' },
          ],
        },
      ],
    });
    expect(r.cases[0]!.failure).toBeUndefined();
  });

  test('`approved` decides the call as though an approval was granted', () => {
    const r = run({
      cases: [
        { name: 'needs approval', call: order(4), expect: { effect: 'approval_required', rule: 'tools.order.approve_if[0]' } },
        { name: 'approved', call: order(4), approved: true, expect: { effect: 'allow', rule: 'tools.order.approve_if[0]', reason_contains: 'approval' } },
      ],
    });
    expect(r.failed).toBe(0);
  });

  test('approval steps: granted runs once, denied and expired deny with their codes', () => {
    const r = run({
      cases: [
        {
          name: 'a grant runs exactly one call; the repeat is held again',
          sequence: [
            { call: order(4), approval: 'granted', repeat: 1, expect: { effect: 'allow', rule: 'tools.order.approve_if[0]' } },
            { call: order(4), expect: { effect: 'approval_required', code: 'approval.required' } },
          ],
        },
        {
          name: 'each repetition of a granted step has a grant of its own',
          sequence: [{ call: order(4), approval: 'granted', repeat: 2, expect: 'allow' }],
        },
        { name: 'denied', call: order(4), approval: 'denied', expect: { effect: 'deny', rule: 'tools.order.approve_if[0]', code: 'approval.denied', reason_contains: 'denied by test-approver' } },
        { name: 'expired', call: order(4), approval: 'expired', expect: { effect: 'deny', code: 'approval.expired', reason_contains: 'expired before it was granted' } },
        // deny_if still comes first: an approval never lets a denied call through.
        { name: 'deny_if first', call: order(6), approval: 'granted', expect: { effect: 'deny', rule: 'max-amount' } },
        { name: 'a wrong code fails', call: order(4), approval: 'denied', expect: { effect: 'deny', code: 'approval.expired' } },
      ],
    });
    expect(r.cases.map((c) => c.passed)).toEqual([true, true, true, true, true, false]);
    expect(r.cases[5]!.failure!.mismatches).toEqual(['code: expected approval.expired, got approval.denied']);
    // The limits still count approved calls: the third order in a minute is rate-limited.
    const limited = run({ cases: [{ name: 'limit', sequence: [{ call: order(4), approval: 'granted', repeat: 3, expect: 'allow' }] }] });
    expect(limited.cases[0]!.failure).toMatchObject({ repetition: 3, actual: { effect: 'deny', rule: 'tools.order.limits[0]' } });
  });

  test('an impossible time fails its case and says why', () => {
    const r = run({ cases: [{ name: 'bad time', call: order(1), at: '2026-13-45T00:00:00Z', expect: 'allow' }] });
    expect(r.cases[0]!.failure!.mismatches[0]).toContain('is not a valid time');
  });
});

describe('coverage', () => {
  test('counts rules that decided and the allow path of each tool that can be allowed', () => {
    const r = run({
      cases: [
        { name: 'a', call: { tool: 'balance' }, expect: 'allow' },
        { name: 'b', call: order(9), expect: 'deny' },
        { name: 'c', call: { tool: 'nothing' }, expect: 'deny' },
      ],
    });
    const cov = computeCoverage(policy, [r.hits]);
    const hit = cov.items.filter((i) => i.hit).map((i) => i.id);
    const missed = cov.items.filter((i) => !i.hit).map((i) => i.id);
    expect(hit.sort()).toEqual(['default', 'max-amount', 'tools.balance'].sort());
    expect(missed.sort()).toEqual(
      ['hide', 'tools.cancel_order.deny_if[0]', 'tools.order.approve_if[0]', 'tools.order.limits[0]', 'tools.per_session.limits[0]', 'tools.order', 'tools.per_session'].sort(),
    );
    expect(cov.total).toEqual({ hit: 3, total: 10, percent: 30 });
    expect(cov.tools.order).toEqual({ hit: 1, total: 4, percent: 25 });
    expect(cov.tools['*']).toEqual({ hit: 1, total: 2, percent: 50 });
  });

  test('hits from several files add up', () => {
    const a = run({ cases: [{ name: 'a', call: { tool: 'balance' }, expect: 'allow' }] });
    const b = run({ cases: [{ name: 'b', call: { tool: 'withdraw' }, expect: 'hidden' }] });
    expect(computeCoverage(policy, [a.hits, b.hits]).total.hit).toBe(2);
  });

  test('`action: allow` is covered by the tool\'s allow path, not as a rule of its own', () => {
    const p = compilePolicy({ version: '1', default: 'deny', tools: { t: { action: 'allow' }, w: { action: 'approve' } } });
    expect(coverageItems(p).map((i) => i.id)).toEqual(['default', 'tools.w.action', 'tools.t', 'tools.w']);
  });
});
