import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ArgumentValidator } from '../evaluate/argument-validator.js';
import type { ApprovalState, Decision, ToolCall } from '../evaluate/decision.js';
import type { Condition, Limit, Policy, ToolRule } from '../generated/policy-types.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { tryCompilePolicy } from '../compile/policy-compiler.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { TRACE_STEPS, type DecisionTrace, type TraceEvaluation } from './decision-trace.js';
import { traceDecision } from './decision-tracer.js';

// The generators of policy-properties.test.ts, widened to every part of the evaluation order the
// trace walks: input schemas, ids, shadow flags, rate limits, spend limits, labels, too-long values.
const TOOLS = ['read', 'order', 'cancel', 'wire', 'list'];
const KEYS = ['amount', 'symbol', 'side', 'tags'];
const AGENTS = ['a1', 'a2'];
const SESSIONS = ['s1', 's2'];
/** Regexes are never run on values longer than this (a compile option), so `too long` is reached. */
const MAX_PATTERN_INPUT = 4;

const scalar = fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom(0.5, 1.5), fc.constantFrom('a', 'b', 'BTC', '5', '', 'aaaaaa'), fc.boolean(), fc.constant(null));
const argValue = fc.oneof({ weight: 5, arbitrary: scalar }, { weight: 2, arbitrary: fc.array(scalar, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant(Number.POSITIVE_INFINITY) });
const path = fc.constantFrom(...KEYS.map((k) => `args.${k}`), 'agent.id', 'session.id', 'agent.labels.team');

const condition: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({ path, op: fc.constantFrom('eq', 'neq', 'contains'), value: scalar }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`)), op: fc.constantFrom('lt', 'lte', 'gt', 'gte'), value: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom('a', 'b')) }),
  fc.record({ path, op: fc.constantFrom('in', 'not_in'), value: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`), 'agent.labels.team'), op: fc.constant('exists'), value: fc.boolean() }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`)), op: fc.constant('regex'), value: fc.constantFrom('^a', 'B', '^[0-9]+$', '') }),
) as fc.Arbitrary<Condition>;

/** `arb` one time in `oneIn`, else undefined (the key is then left out). */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const limit: fc.Arbitrary<Limit> = fc
  .record({
    counter: fc.constantFrom('c1', 'c2'),
    max: fc.integer({ min: 1, max: 3 }),
    window: fc.constantFrom('second', 'minute', 5),
    scope: sometimes(fc.constantFrom('agent', 'session', 'global'), 2),
    increment_from: sometimes(fc.constant('args.amount'), 4),
  })
  .map((l) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as unknown as Limit);

const ruleId = fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined });

const gate = (minLength: number) =>
  fc.record({ id: ruleId, conditions: fc.array(condition, { minLength, maxLength: 2 }) }).map((r) => (r.id === undefined ? { conditions: r.conditions } : r));

const toolRule: fc.Arbitrary<ToolRule> = fc
  .record({
    action: sometimes(fc.constantFrom('allow', 'deny', 'hide', 'approve', 'approve'), 2),
    require: sometimes(fc.array(condition, { minLength: 1, maxLength: 2 }), 2),
    deny_if: sometimes(fc.array(gate(0), { minLength: 1, maxLength: 2 }), 2),
    approve_if: sometimes(fc.array(gate(1), { minLength: 1, maxLength: 2 }), 2),
    limits: sometimes(fc.array(limit, { minLength: 1, maxLength: 2 }), 3),
    rate_limit: sometimes(fc.record({ max: fc.integer({ min: 1, max: 3 }), window: fc.constantFrom('second', 'minute') }), 4),
    shadow: sometimes(fc.constant(true), 6),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as ToolRule);

const policy: fc.Arbitrary<Policy> = fc
  .record({
    version: fc.constant('1' as const),
    default: fc.constantFrom('allow' as const, 'deny' as const),
    shadow: sometimes(fc.constant(true), 6),
    hide: sometimes(fc.uniqueArray(fc.constantFrom(...TOOLS, '*'), { minLength: 1, maxLength: 2 }), 4),
    all_tools: sometimes(fc.record({ limits: fc.array(limit, { minLength: 1, maxLength: 1 }) }), 3),
    tools: fc.dictionary(fc.constantFrom(...TOOLS), toolRule, { minKeys: 1, maxKeys: 5 }),
  })
  .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as Policy);

/** Input schemas for some tools: `amount` must be a number when present, so some calls are invalid. */
const AMOUNT_SCHEMA = Object.freeze({ type: 'object', properties: { amount: { type: 'number' } } });
const schemas = fc.subarray([...TOOLS, 'unlisted'], { maxLength: 2 }).map((tools) => new Map<string, object>(tools.map((t) => [t, AMOUNT_SCHEMA])));
/** One validator for every policy, so the one schema is compiled once. */
const validator = new ArgumentValidator();

const approval: fc.Arbitrary<ApprovalState | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({ status: 'granted' as const, id: 'ap-1' }),
  fc.constant({ status: 'denied' as const, id: 'ap-2', approver: 'lead' }),
  fc.constant({ status: 'expired' as const, id: 'ap-3' }),
);

const toolCall: fc.Arbitrary<ToolCall> = fc.record(
  {
    tool: fc.constantFrom(...TOOLS, 'unlisted'),
    args: fc.dictionary(fc.constantFrom(...KEYS), argValue, { maxKeys: 4 }),
    agent: fc.record({ id: fc.constantFrom(...AGENTS), labels: fc.dictionary(fc.constantFrom('team'), fc.constantFrom('desk', 'ops'), { maxKeys: 1 }) }, { requiredKeys: ['id'] }),
    session: fc.record({ id: fc.constantFrom(...SESSIONS) }),
  },
  { requiredKeys: ['tool', 'args'] },
);

/** Calls with the time each is made at (advancing by up to 3 s) and the approval state it finds. */
const timedCalls = fc.array(fc.tuple(toolCall, fc.integer({ min: 0, max: 3000 }), approval, fc.boolean()), { minLength: 1, maxLength: 25 });

const T0 = Date.parse('2026-05-01T00:00:00Z');

function compile(p: Policy, inputSchemas: ReadonlyMap<string, object>): CompiledPolicy | undefined {
  return tryCompilePolicy(p, { server: 'srv', inputSchemas, maxPatternInput: MAX_PATTERN_INPUT, validator }).policy;
}

function expectWellFormed(e: TraceEvaluation): void {
  expect(e.steps.map((s) => s.step)).toEqual([...TRACE_STEPS]);
  const decided = e.steps.filter((s) => s.status === 'decided');
  expect(decided).toHaveLength(1);
  expect(decided[0]!.step).toBe(e.verdict.step);
  expect(decided[0]!.decided).toEqual(e.verdict);
  const at = TRACE_STEPS.indexOf(e.verdict.step);
  e.steps.forEach((s, i) => expect(s.status === 'not_reached').toBe(i > at));
}

/** The trace's counters are the decision's: each limit's state after the call is what the trace shows. */
function expectCountersAgree(trace: DecisionTrace, decision: Decision): void {
  const limits = trace.enforced.steps.find((s) => s.step === 'limits')?.limits;
  if (decision.limits === undefined) return;
  expect(limits).toBeDefined();
  expect(limits!.map((l) => l.rule)).toEqual(decision.limits.map((l) => l.rule));
  decision.limits.forEach((state, i) => {
    const l = limits![i]!;
    expect(l.amount).toBe(state.amount);
    expect(l.window_end).toBe(state.resets_at);
    expect(l.outcome === 'admitted' ? l.used_after : l.used_before).toBe(state.used);
  });
}

describe('the trace agrees with decide', () => {
  test('over random policies and call sequences: the trace`s verdicts are decide`s, enforced and in shadow, with approvals and limits', () => {
    fc.assert(
      fc.property(policy, schemas, timedCalls, (p, inputSchemas, calls) => {
        const traced = compile(p, inputSchemas);
        fc.pre(traced !== undefined);
        // An independent twin: same policy, its own store, decided by `decide` alone.
        const twin = compile(p, inputSchemas)!;
        const traceStore = new MemoryLimitStore();
        const twinStore = new MemoryLimitStore();
        let now = T0;
        for (const [call, dt, state, withLookup] of calls) {
          now += dt;
          const approvals = withLookup ? () => state : undefined;
          const trace = traceDecision(traced, call, { now, limits: traceStore, ...(approvals ? { approvals } : {}) });
          const expected = twin.decide(call, { now, limits: twinStore, ...(approvals ? { approvals } : {}) });
          expect(trace.decision).toEqual(expected);
          const { effect, rule, code } = expected;
          expect({ effect: trace.enforced.verdict.effect, rule: trace.enforced.verdict.rule, code: trace.enforced.verdict.code }).toEqual({ effect, rule, code });
          expectWellFormed(trace.enforced);
          if (expected.shadow === undefined) expect(trace.shadow).toBeNull();
          else {
            expect(trace.shadow).not.toBeNull();
            const s = trace.shadow!.verdict;
            expect({ effect: s.effect, rule: s.rule, code: s.code }).toEqual({ effect: expected.shadow.effect, rule: expected.shadow.rule, code: expected.shadow.code });
            expectWellFormed(trace.shadow!);
          }
          const listed = p.tools !== undefined && Object.hasOwn(p.tools, call.tool) ? p.tools[call.tool] : undefined;
          expect(trace.shadow_mode).toBe(p.shadow === true ? 'policy' : listed?.shadow === true ? 'tool' : 'none');
          expectCountersAgree(trace, expected);
        }
      }),
      { numRuns: 400 },
    );
  });

  test('every condition shown holds or fails as the path`s value says, and a decided rule is one whose conditions decide', () => {
    fc.assert(
      fc.property(policy, schemas, toolCall, (p, inputSchemas, call) => {
        const compiled = compile(p, inputSchemas);
        fc.pre(compiled !== undefined);
        const trace = traceDecision(compiled, call, { now: T0 });
        for (const e of [trace.enforced, ...(trace.shadow ? [trace.shadow] : [])]) {
          for (const step of e.steps) {
            for (const rule of step.rules ?? []) {
              for (const c of rule.conditions) {
                // `found` and `actual` describe the call itself.
                if (c.found) expect(c.actual).not.toBeUndefined();
                if (!c.found && c.op !== 'exists') expect(c.result).toBe('failed');
              }
              if (step.status === 'decided' && rule.status === 'decided') {
                if (step.step === 'require') expect(rule.conditions[0]!.result).not.toBe('held');
                else expect(rule.conditions.every((c) => c.result === 'held') || rule.conditions.some((c) => c.result === 'too_long')).toBe(true);
              }
              if (rule.status === 'not_reached') expect(rule.conditions.every((c) => !c.evaluated)).toBe(true);
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
