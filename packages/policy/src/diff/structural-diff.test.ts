import { describe, expect, it } from 'vitest';
import type { Policy } from '../generated/policy-types.js';
import { diffPolicyStructure } from './structural-diff.js';

const base: Policy = {
  version: '1',
  default: 'deny',
  hide: ['withdraw'],
  all_tools: { limits: [{ counter: 'calls', max: 100, window: 'minute' }] },
  tools: {
    order: {
      require: [{ path: 'args.exchange', op: 'in', value: ['binance'] }],
      deny_if: [{ id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 2 }] }, { conditions: [{ path: 'args.side', op: 'eq', value: 'sell' }] }],
      approve_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 1 }] }],
      limits: [{ counter: 'spend', max: 5, window: 'day', increment_from: 'args.amount' }],
      rate_limit: { max: 10, window: 60 },
    },
    cancel: { action: 'approve' },
    balance: {},
  },
};

describe('diffPolicyStructure', () => {
  it('reports nothing for equal policies, and ignores descriptions', () => {
    const head = structuredClone(base);
    head.description = 'reworded';
    head.tools!['order']!.deny_if![0]!.description = 'why';
    expect(diffPolicyStructure('ccxt', base, head)).toEqual([]);
  });

  it('names every kind of edit', () => {
    const head = structuredClone(base) as Policy & { shadow?: boolean };
    head.default = 'allow';
    head.hide = ['*'];
    head.shadow = true;
    head.all_tools!.limits![0]!.max = 200;
    const order = head.tools!['order']!;
    order.require![0]!.value = ['binance', 'kraken'];
    order.deny_if = [{ id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 3 }] }, { id: 'new', conditions: [] }];
    order.approve_if = [];
    order.limits = [{ counter: 'spend', max: 5, window: 'hour', scope: 'global', increment_from: 'args.amount' }];
    delete order.rate_limit;
    (order as { shadow?: boolean }).shadow = true;
    head.tools!['cancel'] = { action: 'deny', reason: 'no' };
    delete head.tools!['balance'];
    head.tools!['trade'] = {};
    const texts = diffPolicyStructure('ccxt', base, head).map((c) => `${c.kind}: ${c.text}`);
    expect(texts).toEqual([
      'default.changed: default: deny → allow',
      'shadow.changed: the whole policy is now in shadow mode (observe only)',
      'hide.added: hide: now hides every tool not listed',
      'hide.removed: hide: "withdraw" is no longer hidden',
      'limit.changed: all_tools.limits[0] (counter "calls"): max 100 → 200',
      'tool.removed: tool "balance" removed: now decided by hide/default (allow)',
      'tool.changed: tools.cancel.action: "approve" → "deny"',
      'tool.changed: tools.cancel.reason: (none) → "no"',
      'shadow.changed: tool "order" is now in shadow mode (its rule is only recorded)',
      'rule.changed: tools.order.require[0]: require args.exchange in ["binance"] → args.exchange in ["binance","kraken"]',
      'rule.changed: big: deny if args.amount gt 2 → args.amount gt 3',
      'rule.added: new added: deny if always',
      'rule.removed: tools.order.deny_if[1] removed: deny if args.side eq "sell"',
      'rule.removed: tools.order.approve_if[0] removed: approve if args.amount gt 1',
      'limit.changed: tools.order.limits[0] (counter "spend"): scope (none) → "global", window "day" → "hour"',
      'limit.removed: tools.order.rate_limit removed: max 10 calls per 60s, scope agent',
      'tool.added: tool "trade" added',
    ]);
  });

  it('reports approval requirements, and whether approval got easier or harder to get', () => {
    const before: Policy = {
      version: '1',
      default: 'deny',
      tools: {
        cancel: { action: 'approve', approvers: ['risk'], timeout: '10m', min_approvals: 2 },
        order: {
          approve_if: [
            { id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 1 }], approvers: ['risk', 'ops'] },
            { id: 'huge', conditions: [{ path: 'args.amount', op: 'gt', value: 9 }], min_approvals: 2, timeout: '1h' },
          ],
        },
        balance: { min_approvals: 2 },
      },
    };
    const after = structuredClone(before);
    after.tools!['cancel'] = { action: 'approve', timeout: '1h', min_approvals: 1 };
    after.tools!['order']!.approve_if = [
      { id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 1 }], approvers: ['risk', 'desk'] },
      { id: 'huge', conditions: [{ path: 'args.amount', op: 'gt', value: 5 }], min_approvals: 3, timeout: '1h', reason: 'two heads' },
    ];
    after.tools!['balance'] = { min_approvals: 3 };
    const changes = diffPolicyStructure('ccxt', before, after);
    expect(changes.map((c) => `${c.kind} ${c.approval ?? '-'}: ${c.text}`)).toEqual([
      'tool.changed -: tools.balance.min_approvals: 2 → 3',
      'tool.changed wider: tools.cancel.approvers: ["risk"] → (any approver) (approval easier to get)',
      'tool.changed wider: tools.cancel.timeout: "10m" → "1h" (approval easier to get)',
      'tool.changed wider: tools.cancel.min_approvals: 2 → 1 (approval easier to get)',
      'rule.changed both: big: approvers ["risk","ops"] → ["risk","desk"] (approval easier to get in one way, harder in another)',
      'rule.changed narrower: huge: approve if args.amount gt 9 → args.amount gt 5; min_approvals 2 → 3 (approval harder to get)',
    ]);
    expect(changes[3]).toMatchObject({ place: 'tools.cancel.min_approvals', fields: ['min_approvals'], before: 2, after: 1, approval: 'wider' });

    // A rule without a timeout is compared as the gateway's default: 10 minutes unless told otherwise.
    const withTimeout = structuredClone(before);
    withTimeout.tools!['cancel'] = { action: 'approve', approvers: ['risk'], min_approvals: 2 };
    expect(diffPolicyStructure('ccxt', before, withTimeout).map((c) => c.text)).toEqual(['tools.cancel.timeout: "10m" → (gateway default)']);
    expect(diffPolicyStructure('ccxt', before, withTimeout, { defaultApprovalTimeoutMs: 60_000 }).map((c) => c.text)).toEqual([
      'tools.cancel.timeout: "10m" → (gateway default) (approval harder to get)',
    ]);
  });

  it('reports servers added and removed', () => {
    expect(diffPolicyStructure('ccxt', undefined, base)[0]).toMatchObject({ kind: 'server.added', text: 'server "ccxt" added (default deny)' });
    expect(diffPolicyStructure('ccxt', base, undefined)[0]).toMatchObject({ kind: 'server.removed' });
  });
});
