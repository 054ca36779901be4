import { describe, expect, it } from 'vitest';
import type { Policy } from '../generated/policy-types.js';
import { compilePolicy } from '../compile/policy-compiler.js';
import { flipKind, replayDecisions, type RecordedCall } from './decision-replay.js';
import type { PolicySetEntry } from './policy-diff.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');

function set(tools: Policy['tools']): PolicySetEntry[] {
  return [{ server: 'pay', policy: compilePolicy({ version: '1', default: 'deny', tools }, { server: 'pay' }) }];
}

function recorded(n: number, tool: string, args: Record<string, unknown>, effect: RecordedCall['recorded']['effect'], extra: Partial<RecordedCall> = {}): RecordedCall {
  return { event_id: `e${n}`, at: T0 + n * 1000, server: 'pay', call: { tool, args, agent: { id: 'a1' } }, recorded: { effect, rule: null }, approval_id: null, replayable: true, ...extra };
}

describe('flipKind', () => {
  it('names each flip', () => {
    expect(flipKind('allow', 'allow')).toBeNull();
    expect(flipKind('allow', 'deny')).toBe('allow_to_deny');
    expect(flipKind('allow', 'hidden')).toBe('allow_to_deny');
    expect(flipKind('hidden', 'allow')).toBe('deny_to_allow');
    expect(flipKind('deny', 'approval_required')).toBe('to_approval');
    expect(flipKind('allow', 'approval_required')).toBe('to_approval');
    expect(flipKind('approval_required', 'allow')).toBe('approval_to_allow');
    expect(flipKind('approval_required', 'deny')).toBe('approval_to_deny');
    expect(flipKind('deny', 'hidden')).toBe('deny_hidden');
  });
});

describe('replayDecisions', () => {
  it('re-decides in time order with limits counted per policy, and counts flips from base to head', () => {
    const base = set({ pay: { rate_limit: { max: 2, window: 'minute' } }, refund: {} });
    const head = set({ pay: { rate_limit: { max: 3, window: 'minute' }, approve_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 100 }] }] }, refund: { action: 'deny' } });
    const calls = [
      recorded(4, 'pay', { amount: 5 }, 'deny'), // third pay in the minute: base denies, head allows
      recorded(1, 'pay', { amount: 5 }, 'allow'),
      recorded(2, 'pay', { amount: 500 }, 'allow'), // head holds it for approval
      recorded(5, 'refund', {}, 'allow'),
      recorded(6, 'refund', { note: '[REDACTED]' }, 'allow', { replayable: false }),
      recorded(7, 'pay', { amount: 500 }, 'allow', { approval_id: 'ap-1', at: T0 + 120_000 }), // approved: head lets it through
    ];
    const report = replayDecisions(calls, base, head);
    expect(report).toMatchObject({ calls: 6, replayed: 5, not_replayable: 1, recorded_mismatch: 0 });
    expect(report.flips).toEqual({ allow_to_deny: 1, deny_to_allow: 1, to_approval: 1, approval_to_allow: 0, approval_to_deny: 0, deny_hidden: 0 });
    expect(report.examples.map((e) => [e.kind, e.event_id])).toEqual([
      ['to_approval', 'e2'],
      ['deny_to_allow', 'e4'],
      ['allow_to_deny', 'e5'],
    ]);
  });

  it('counts calls whose base decision differs from the recorded one', () => {
    const report = replayDecisions([recorded(1, 'pay', {}, 'deny')], set({ pay: {} }), set({ pay: {} }));
    expect(report.recorded_mismatch).toBe(1);
    expect(report.flips.allow_to_deny + report.flips.deny_to_allow).toBe(0);
  });

  it('treats a server without a policy on one side as denying', () => {
    const report = replayDecisions([recorded(1, 'pay', {}, 'allow')], [], set({ pay: {} }));
    expect(report.flips.deny_to_allow).toBe(1);
  });
});
