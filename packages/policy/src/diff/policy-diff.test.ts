import { describe, expect, it } from 'vitest';
import { buildCatalog, type Catalog } from '../catalog/catalog.js';
import type { Policy } from '../generated/policy-types.js';
import { compilePolicy } from '../compile/policy-compiler.js';
import { diffPolicySets, effectRank, widenedTools, type PolicySetEntry, type ToolDiff } from './policy-diff.js';

const catalog: Catalog = buildCatalog('pay', [
  {
    name: 'send_payment',
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'number', minimum: 0 }, currency: { type: 'string', enum: ['EUR', 'USD', 'GBP'] }, to: { type: 'string' } },
      required: ['amount', 'currency', 'to'],
    },
  },
  { name: 'get_balance', inputSchema: { type: 'object', properties: { account: { type: 'string' } } }, annotations: { readOnlyHint: true } },
  { name: 'delete_account', inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
]);

function policy(tools: Policy['tools'], extra: Partial<Policy> = {}): Policy {
  return { version: '1', default: 'deny', tools, ...extra };
}

function set(p: Policy, server = 'pay'): PolicySetEntry[] {
  return [{ server, policy: compilePolicy(p, { server }), catalog }];
}

function tool(diff: ReturnType<typeof diffPolicySets>, name: string): ToolDiff {
  const t = diff.servers[0]!.tools.find((x) => x.tool === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
}

const SPEND = (max: number): Policy['tools'] => ({
  get_balance: {},
  send_payment: {
    require: [{ path: 'args.currency', op: 'in', value: ['EUR', 'USD'] }],
    limits: [{ counter: 'spend', max, window: 'day', increment_from: 'args.amount' }],
  },
});

describe('diffPolicySets', () => {
  it('finds no flips and no changes between identical policies', () => {
    const diff = diffPolicySets(set(policy(SPEND(1000))), set(policy(SPEND(1000))));
    expect(diff.totals).toMatchObject({ changes: 0, wider: 0, narrower: 0, both: 0 });
    expect(diff.servers[0]!.status).toBe('unchanged');
    for (const t of diff.servers[0]!.tools) {
      expect(t.change).toBe('unchanged');
      expect(t.checked).toBeGreaterThan(0);
    }
  });

  it('leaves out calls the gateway would refuse as invalid arguments, when told which', () => {
    // neq on a required argument: leaving the argument out escapes the approval, but only at the policy level.
    const base = policy({ delete_account: { action: 'approve' } });
    const head = policy({ delete_account: { approve_if: [{ conditions: [{ path: 'args.id', op: 'neq', value: 'sandbox' }] }] } });
    const omits = (t: ToolDiff): boolean => t.examples.some((e) => e.call.args?.['id'] === undefined);
    expect(omits(tool(diffPolicySets(set(base), set(head)), 'delete_account'))).toBe(true);
    const hasRequired = (t: { inputSchema: Readonly<Record<string, unknown>> }, args: Readonly<Record<string, unknown>>): boolean =>
      ((t.inputSchema['required'] as string[] | undefined) ?? []).every((name) => name in args);
    const t = tool(diffPolicySets(set(base), set(head), { admits: hasRequired }), 'delete_account');
    expect(t.change).toBe('wider');
    expect(t.examples.length).toBeGreaterThan(0);
    expect(omits(t)).toBe(false);
    expect(t.examples.every((e) => e.call.args?.['id'] === 'sandbox')).toBe(true);
  });

  it('reports a raised spend cap as wider, with an example just above the old cap', () => {
    const diff = diffPolicySets(set(policy(SPEND(1000))), set(policy(SPEND(5000))));
    const t = tool(diff, 'send_payment');
    expect(t.change).toBe('wider');
    expect(t.risk).toBe('critical');
    const first = t.examples[0]!;
    expect(first.direction).toBe('wider');
    expect(first.call.args?.['amount']).toBe(1000.01);
    expect(first.base).toMatchObject({ effect: 'deny', rule: 'tools.send_payment.limits[0]' });
    expect(first.head).toMatchObject({ effect: 'allow' });
    expect(diff.servers[0]!.changes.map((c) => c.text)).toEqual(['tools.send_payment.limits[0] (counter "spend"): max 1000 → 5000']);
    expect(tool(diff, 'get_balance').change).toBe('unchanged');
    expect(widenedTools(diff, 'critical')).toEqual([{ server: 'pay', tool: 'send_payment', risk: 'critical', change: 'wider' }]);
    // The examples really are decided that way.
    const base = compilePolicy(policy(SPEND(1000)));
    const head = compilePolicy(policy(SPEND(5000)));
    expect(base.decide(first.call).effect).toBe('deny');
    expect(head.decide(first.call).effect).toBe('allow');
  });

  it('reports a lowered cap as narrower', () => {
    const diff = diffPolicySets(set(policy(SPEND(5000))), set(policy(SPEND(1000))));
    const t = tool(diff, 'send_payment');
    expect(t.change).toBe('narrower');
    expect(t.examples[0]!.call.args?.['amount']).toBe(1000.01);
    expect(widenedTools(diff, 'low')).toEqual([]);
  });

  it('reports an added deny_if as narrower, with a call it now denies', () => {
    const head = SPEND(1000)!;
    head['send_payment'] = { ...head['send_payment']!, deny_if: [{ id: 'no-gbp-large', conditions: [{ path: 'args.amount', op: 'gt', value: 500 }] }] };
    const diff = diffPolicySets(set(policy(SPEND(1000))), set(policy(head)));
    const t = tool(diff, 'send_payment');
    expect(t.change).toBe('narrower');
    const ex = t.examples[0]!;
    expect(ex.head).toMatchObject({ effect: 'deny', rule: 'no-gbp-large' });
    expect(ex.base.effect).toBe('allow');
    expect(ex.call.args?.['amount']).toBe(500.01);
    expect(diff.servers[0]!.changes[0]).toMatchObject({ kind: 'rule.added', place: 'no-gbp-large', text: 'no-gbp-large added: deny if args.amount gt 500' });
  });

  it('reports a tool removed under default deny as narrower, and the default flipped to allow as wider for unlisted tools', () => {
    const removed = diffPolicySets(set(policy({ get_balance: {}, delete_account: {} })), set(policy({ get_balance: {} })));
    expect(tool(removed, 'delete_account').change).toBe('narrower');
    expect(tool(removed, 'delete_account').examples[0]!.head).toMatchObject({ effect: 'deny', rule: 'default' });
    expect(removed.servers[0]!.changes).toEqual([expect.objectContaining({ kind: 'tool.removed', tool: 'delete_account' })]);

    const opened = diffPolicySets(set(policy({ get_balance: {} })), set(policy({ get_balance: {} }, { default: 'allow' })));
    expect(tool(opened, '*').change).toBe('wider');
    expect(tool(opened, 'delete_account')).toMatchObject({ change: 'wider', risk: 'high' });
    expect(tool(opened, '*').examples[0]!.call.tool).toBe('*');
  });

  it('reports a change in both directions as both', () => {
    const base = policy({ send_payment: { require: [{ path: 'args.currency', op: 'in', value: ['EUR', 'USD'] }] } });
    const head = policy({ send_payment: { require: [{ path: 'args.currency', op: 'in', value: ['EUR', 'GBP'] }] } });
    const t = tool(diffPolicySets(set(base), set(head)), 'send_payment');
    expect(t.change).toBe('both');
    expect(t.examples.map((e) => [e.direction, e.call.args?.['currency']])).toEqual(expect.arrayContaining([['wider', 'GBP'], ['narrower', 'USD']]));
  });

  it('ranks approval between deny and allow', () => {
    expect(effectRank('hidden')).toBe(effectRank('deny'));
    expect(effectRank('deny')).toBeLessThan(effectRank('approval_required'));
    const base = policy({ send_payment: { approve_if: [{ conditions: [{ path: 'args.amount', op: 'gte', value: 100 }] }] } });
    const head = policy({ send_payment: { approve_if: [{ conditions: [{ path: 'args.amount', op: 'gte', value: 250 }] }] } });
    const t = tool(diffPolicySets(set(base), set(head)), 'send_payment');
    expect(t.change).toBe('wider');
    expect(t.examples[0]).toMatchObject({ base: { effect: 'approval_required' }, head: { effect: 'allow' } });
  });

  it('reports an approval made easier to get as wider, for the rule that asks, with both requirements', () => {
    const approve = (extra: Record<string, unknown>): Policy => policy({ delete_account: { action: 'approve', ...extra }, get_balance: {} });
    const base = approve({ approvers: ['risk'], min_approvals: 2, timeout: '10m' });
    const diff = diffPolicySets(set(base), set(approve({ approvers: ['risk'], min_approvals: 1, timeout: '10m' })));
    const t = tool(diff, 'delete_account');
    expect(t).toMatchObject({ change: 'wider', risk: 'high', narrower: 0 });
    expect(t.checked).toBeGreaterThan(0);
    expect(t.wider).toBe(t.checked); // every call is held by the action, more easily now
    const ex = t.examples[0]!;
    expect(ex).toMatchObject({
      direction: 'wider',
      base: { effect: 'approval_required', rule: 'tools.delete_account.action' },
      head: { effect: 'approval_required', rule: 'tools.delete_account.action' },
      approval: { fields: ['min_approvals'], base: { approvers: ['risk'], timeout_ms: 600_000, min_approvals: 2 }, head: { min_approvals: 1 } },
    });
    // The example is a real decision of each policy.
    expect(compilePolicy(base).decide(ex.call).approval?.min_approvals).toBe(2);
    expect(diff.servers[0]!.changes).toEqual([expect.objectContaining({ kind: 'tool.changed', place: 'tools.delete_account.min_approvals', approval: 'wider' })]);
    expect(widenedTools(diff, 'high')).toEqual([{ server: 'pay', tool: 'delete_account', risk: 'high', change: 'wider' }]);
    expect(tool(diff, 'get_balance').change).toBe('unchanged');

    // Wider approvers (the list removed: any approver) and a longer timeout widen too.
    const anyone = tool(diffPolicySets(set(base), set(approve({ min_approvals: 2, timeout: '1h' }))), 'delete_account');
    expect(anyone.change).toBe('wider');
    expect(anyone.examples[0]!.approval!.fields).toEqual(['approvers', 'timeout']);
    // And the reverse narrows.
    const harder = tool(diffPolicySets(set(approve({ min_approvals: 1 })), set(approve({ approvers: ['risk'], min_approvals: 3, timeout: '2m' }))), 'delete_account');
    expect(harder.change).toBe('narrower');
    expect(harder.examples[0]).toMatchObject({ direction: 'narrower', approval: { fields: ['approvers', 'timeout', 'min_approvals'] } });
  });

  it('reports approvers swapped on an approve_if rule as both, and leaves an unchanged requirement alone', () => {
    const gate = (approvers: string[] | undefined, reason?: string): Policy =>
      policy({
        send_payment: {
          approve_if: [{ id: 'large', conditions: [{ path: 'args.amount', op: 'gt', value: 500 }], ...(approvers ? { approvers } : {}), ...(reason ? { reason } : {}) }],
        },
      });
    const t = tool(diffPolicySets(set(gate(['risk', 'ops'])), set(gate(['risk', 'desk']))), 'send_payment');
    expect(t.change).toBe('both');
    const wider = t.examples.find((e) => e.direction === 'wider')!;
    const narrower = t.examples.find((e) => e.direction === 'narrower')!;
    expect(wider).toMatchObject({ base: { rule: 'large' }, head: { rule: 'large' }, approval: { fields: ['approvers'] } });
    expect(wider.call.args?.['amount']).toBeGreaterThan(500);
    expect(narrower.approval!.fields).toEqual(['approvers']);
    // Only the reason changed: no flip, one structural change.
    const reworded = diffPolicySets(set(gate(['risk'])), set(gate(['risk'], 'needs the risk desk')));
    expect(tool(reworded, 'send_payment').change).toBe('unchanged');
    expect(reworded.servers[0]!.changes.map((c) => c.text)).toEqual(['large: reason changed']);
  });

  it('compares a rule without timeout as the gateway default, which the caller may set', () => {
    const base = policy({ delete_account: { action: 'approve', timeout: '5m' } });
    const head = policy({ delete_account: { action: 'approve' } });
    expect(tool(diffPolicySets(set(base), set(head)), 'delete_account').change).toBe('wider');
    expect(tool(diffPolicySets(set(base), set(head), { defaultApprovalTimeoutMs: 60_000 }), 'delete_account').change).toBe('narrower');
    expect(tool(diffPolicySets(set(base), set(head), { defaultApprovalTimeoutMs: 300_000 }), 'delete_account').change).toBe('unchanged');
  });

  it('probes rate limits with repeated calls', () => {
    const base = policy({ get_balance: { rate_limit: { max: 5, window: 'minute' } } });
    const head = policy({ get_balance: { rate_limit: { max: 10, window: 'minute' } } });
    const t = tool(diffPolicySets(set(base), set(head)), 'get_balance');
    expect(t.change).toBe('wider');
    expect(t.examples[0]).toMatchObject({ preceded_by: { calls: 5, interval_seconds: 0, alternating: null }, base: { effect: 'deny' }, head: { effect: 'allow' } });
  });

  it('probes a rate limit of a tool that also has a spend cap with amounts the cap does not stop', () => {
    const withRate = (max: number): Policy['tools'] => {
      const tools = SPEND(1000)!;
      tools['send_payment'] = { ...tools['send_payment']!, rate_limit: { max, window: 'minute' } };
      return tools;
    };
    const t = tool(diffPolicySets(set(policy(withRate(5))), set(policy(withRate(3)))), 'send_payment');
    expect(t.change).toBe('narrower');
    expect(t.examples[0]).toMatchObject({ preceded_by: { calls: 3 }, base: { effect: 'allow' }, head: { effect: 'deny', rule: 'tools.send_payment.rate_limit' } });
    expect(t.examples[0]!.call.args?.['amount']).toBe(100); // 4 calls twice stay under the cap of 1000
  });

  it('notices a limit scope widened from global to per agent', () => {
    const base = policy({ get_balance: { limits: [{ counter: 'reads', max: 3, window: 'hour', scope: 'global' }] } });
    const head = policy({ get_balance: { limits: [{ counter: 'reads', max: 3, window: 'hour', scope: 'agent' }] } });
    const t = tool(diffPolicySets(set(base), set(head)), 'get_balance');
    expect(t.change).toBe('wider');
    expect(t.examples[0]!.preceded_by?.alternating).toBe('agent');
  });

  it('compares regex, exists and label conditions with generated values', () => {
    const base = policy({ send_payment: { deny_if: [{ conditions: [{ path: 'args.to', op: 'regex', value: '^bc1q[a-z0-9]{6,}$' }] }] } });
    const head = policy({ send_payment: { deny_if: [{ conditions: [{ path: 'agent.labels.team', op: 'neq', value: 'treasury' }] }] } });
    const t = tool(diffPolicySets(set(base), set(head)), 'send_payment');
    expect(t.change).toBe('both');
    const wider = t.examples.find((e) => e.direction === 'wider')!;
    expect(wider.call.args?.['to']).toMatch(/^bc1q[a-z0-9]{6,}$/);
  });

  it('compares enforced decisions: rules moved into shadow mode no longer decide', () => {
    const rule: NonNullable<Policy['tools']>[string] = { require: [{ path: 'args.currency', op: 'in', value: ['EUR'] }] };
    const base = policy({ send_payment: rule, get_balance: {} });
    // A tool rule in shadow: the call is decided as if the tool were not listed (default deny).
    const toolShadow = policy({ send_payment: { ...rule, shadow: true } as typeof rule, get_balance: {} });
    const narrowed = diffPolicySets(set(base), set(toolShadow));
    expect(tool(narrowed, 'send_payment')).toMatchObject({ change: 'narrower' });
    expect(tool(narrowed, 'send_payment').examples[0]!.head).toMatchObject({ effect: 'deny', rule: 'default' });
    expect(narrowed.servers[0]!.changes.map((c) => c.kind)).toEqual(['shadow.changed']);
    // The whole policy in shadow: every call is allowed (observe only).
    const widened = diffPolicySets(set(base), set({ ...base, shadow: true } as Policy));
    expect(tool(widened, 'delete_account').change).toBe('wider');
    expect(tool(widened, 'send_payment').examples[0]!.call.args?.['currency']).not.toBe('EUR');
  });

  it('compares servers present on one side with no policy', () => {
    const diff = diffPolicySets([], set(policy({ get_balance: {} })));
    expect(diff.servers[0]!.status).toBe('added');
    expect(tool(diff, 'get_balance').change).toBe('wider');
    expect(tool(diff, 'send_payment').change).toBe('unchanged');
  });
});
