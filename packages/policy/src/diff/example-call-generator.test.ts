import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import type { Policy } from '../generated/policy-types.js';
import { generateExampleCalls, withAmounts } from './example-call-generator.js';

const catalog = buildCatalog('x', [
  {
    name: 'transfer',
    inputSchema: {
      type: 'object',
      properties: {
        amount: { type: 'number', maximum: 10000 },
        asset: { type: 'string', enum: ['BTC', 'ETH', 'SOL'] },
        memo: { type: 'string' },
        order: { type: 'object', properties: { legs: { type: 'array', items: { type: 'object', properties: { qty: { type: 'integer' } } } } } },
      },
      required: ['amount', 'asset'],
    },
  },
]);

const policy = (tools: Policy['tools']): Policy => ({ version: '1', default: 'deny', tools });

describe('generateExampleCalls', () => {
  it('fills required arguments from the catalog and varies every conditioned path over its boundaries', () => {
    const { calls } = generateExampleCalls({
      tool: 'transfer',
      policies: [policy({ transfer: { deny_if: [{ conditions: [{ path: 'args.amount', op: 'gte', value: 0.5 }] }] } })],
      catalogTool: catalog.tools[0],
    });
    const amounts = new Set(calls.map((c) => c.args?.['amount']));
    for (const v of [0.5, 0.501, 0.499, 1.5, -0.5, 10000, 10000.01]) expect(amounts.has(v)).toBe(true);
    expect(calls.some((c) => !('amount' in (c.args ?? {})))).toBe(true);
    expect(calls.every((c) => ['BTC', 'ETH', 'SOL'].includes(c.args?.['asset'] as string))).toBe(true);
    expect(calls[0]!.agent).toEqual({ id: 'test-agent' });
  });

  it('builds nested paths, labels, sessions, lists and exists', () => {
    const { calls } = generateExampleCalls({
      tool: 'transfer',
      policies: [
        policy({
          transfer: {
            require: [{ path: 'args.asset', op: 'in', value: ['BTC', 'ETH'] }, { path: 'agent.labels.team', op: 'eq', value: 'desk' }],
            deny_if: [{ conditions: [{ path: 'args.order.legs[0].qty', op: 'gt', value: 3 }, { path: 'args.memo', op: 'exists' }, { path: 'session.id', op: 'eq', value: 's-9' }] }],
          },
        }),
      ],
      catalogTool: catalog.tools[0],
    });
    const denying = calls.find((c) => (c.args?.['order'] as { legs: Array<{ qty: number }> } | undefined)?.legs[0]?.qty === 4 && 'memo' in (c.args ?? {}) && c.session?.id === 's-9' && c.agent?.labels?.['team'] === 'desk');
    expect(denying).toBeDefined();
    expect(calls.some((c) => c.args?.['asset'] === 'SOL')).toBe(true);
    expect(calls.some((c) => c.session === undefined)).toBe(true);
    expect(calls.some((c) => c.agent?.labels === undefined)).toBe(true);
  });

  it('proposes limit probes past each max, with alternating callers when the limits differ', () => {
    const base = policy({ transfer: { limits: [{ counter: 'n', max: 3, window: 'minute' }, { counter: 'v', max: 100, window: 'day', increment_from: 'args.amount' }] } });
    const head = policy({ transfer: { limits: [{ counter: 'n', max: 3, window: 'hour', scope: 'global' }, { counter: 'v', max: 100, window: 'day', increment_from: 'args.amount' }] } });
    const { sequences } = generateExampleCalls({ tool: 'transfer', policies: [base, head], catalogTool: catalog.tools[0] });
    // Counting probes carry a spend amount small enough (10: 4 calls twice stay under 100) not to hit the spend cap first.
    const small = [{ path: 'args.amount', value: 10 }];
    expect(sequences).toContainEqual({ length: 4, interval_seconds: 0, alternating: null, amounts: small });
    expect(sequences).toContainEqual({ length: 8, interval_seconds: 0, alternating: 'agent', amounts: small });
    expect(sequences).toContainEqual({ length: 4, interval_seconds: 60, alternating: null, amounts: small });
    expect(sequences).toContainEqual({ length: 3, interval_seconds: 0, alternating: null, amounts: [{ path: 'args.amount', value: 50 }] });
    expect(withAmounts({ tool: 'transfer', args: { amount: 1 } }, [{ path: 'args.amount', value: 50 }]).args).toEqual({ amount: 50 });
  });
});
