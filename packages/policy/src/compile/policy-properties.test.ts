import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { ToolCall } from '../evaluate/decision.js';
import type { Condition, Limit, Policy, ToolRule, Window } from '../generated/policy-types.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import { compilePolicy, windowSeconds } from './policy-compiler.js';

const TOOLS = ['read', 'order', 'cancel', 'wire', 'list'];
const KEYS = ['amount', 'symbol', 'side', 'tags'];
const AGENTS = ['a1', 'a2', 'a3'];
const SESSIONS = ['s1', 's2'];

const scalar = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b', 'BTC', '5', ''), fc.boolean(), fc.constant(null));
const argValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));

const condition: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`), 'agent.id', 'session.id'), op: fc.constantFrom('eq', 'neq', 'contains'), value: scalar }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`)), op: fc.constantFrom('lt', 'lte', 'gt', 'gte'), value: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b')) }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`), 'agent.id'), op: fc.constantFrom('in', 'not_in'), value: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`)), op: fc.constant('exists'), value: fc.boolean() }),
  fc.record({ path: fc.constantFrom(...KEYS.map((k) => `args.${k}`)), op: fc.constant('regex'), value: fc.constantFrom('^a', 'B', '^[0-9]+$', '') }),
) as fc.Arbitrary<Condition>;

const limit: fc.Arbitrary<Limit> = fc.record(
  {
    counter: fc.constantFrom('c1', 'c2', 'c3'),
    max: fc.integer({ min: 1, max: 4 }),
    window: fc.constantFrom('second', 'minute', 5),
    scope: fc.constantFrom('agent', 'session', 'global'),
    increment_from: fc.constant('args.amount'),
  },
  { requiredKeys: ['counter', 'max', 'window'] },
) as fc.Arbitrary<Limit>;

const toolRule: fc.Arbitrary<ToolRule> = fc.record(
  {
    action: fc.constantFrom('allow', 'deny', 'hide', 'approve'),
    require: fc.array(condition, { maxLength: 2 }),
    deny_if: fc.array(fc.record({ conditions: fc.array(condition, { maxLength: 2 }) }), { maxLength: 3 }),
    approve_if: fc.array(fc.record({ conditions: fc.array(condition, { minLength: 1, maxLength: 2 }) }), { maxLength: 2 }),
    limits: fc.array(limit, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const policy: fc.Arbitrary<Policy> = fc.record(
  {
    version: fc.constant('1' as const),
    default: fc.constantFrom('allow' as const, 'deny' as const),
    hide: fc.uniqueArray(fc.constantFrom(...TOOLS, '*'), { maxLength: 2 }),
    all_tools: fc.record({ limits: fc.array(limit, { maxLength: 1 }) }),
    tools: fc.dictionary(fc.constantFrom(...TOOLS), toolRule, { maxKeys: 4 }),
  },
  { requiredKeys: ['version', 'default'] },
);

const toolCall: fc.Arbitrary<ToolCall> = fc.record({
  tool: fc.constantFrom(...TOOLS, 'unlisted'),
  args: fc.dictionary(fc.constantFrom(...KEYS), argValue, { maxKeys: 4 }),
  agent: fc.record({ id: fc.constantFrom(...AGENTS) }),
  session: fc.record({ id: fc.constantFrom(...SESSIONS) }),
});

/** A call with the time it is made at, advancing by up to 3 s between calls. */
const timedCalls = fc.array(fc.tuple(toolCall, fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 40 });

const T0 = Date.parse('2026-05-01T00:00:00Z');

// An independent, deliberately plain reading of DESIGN §2's condition semantics.
function read(call: ToolCall, path: string): { found: boolean; value?: unknown } {
  if (path === 'agent.id') return call.agent ? { found: true, value: call.agent.id } : { found: false };
  if (path === 'session.id') return call.session ? { found: true, value: call.session.id } : { found: false };
  const key = path.slice('args.'.length);
  return call.args && Object.hasOwn(call.args, key) ? { found: true, value: call.args[key] } : { found: false };
}
function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
function holds(call: ToolCall, c: Condition): boolean {
  const { found, value } = read(call, c.path);
  const want = c.value as unknown;
  if (c.op === 'exists') return found === (want ?? true);
  if (!found) return false;
  switch (c.op) {
    case 'eq':
      return same(value, want);
    case 'neq':
      return typeOf(value) === typeOf(want) && !same(value, want);
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      if (typeOf(value) !== typeOf(want)) return false;
      const [a, b] = [value as number, want as number];
      return c.op === 'lt' ? a < b : c.op === 'lte' ? a <= b : c.op === 'gt' ? a > b : a >= b;
    }
    case 'in':
      return (want as unknown[]).some((m) => same(m, value));
    case 'not_in':
      return (want as unknown[]).some((m) => typeOf(m) === typeOf(value)) && !(want as unknown[]).some((m) => same(m, value));
    case 'regex':
      return typeof value === 'string' && new RegExp(want as string).test(value);
    case 'contains':
      return typeof value === 'string' && typeof want === 'string' ? value.includes(want) : Array.isArray(value) && value.some((e) => same(e, want));
  }
}

function isHidden(p: Policy, tool: string): boolean {
  const hide = p.hide ?? [];
  const listed = p.tools !== undefined && Object.hasOwn(p.tools, tool);
  return hide.includes(tool) || (hide.includes('*') && !listed) || (listed && p.tools![tool]!.action === 'hide');
}

describe('properties of decide over random policies and calls', () => {
  test('decide is deterministic: the same policy and calls give the same decisions', () => {
    fc.assert(
      fc.property(policy, timedCalls, (p, calls) => {
        const run = () => {
          const compiled = compilePolicy(p);
          const limits = new MemoryLimitStore();
          let now = T0;
          return calls.map(([c, dt]) => {
            now += dt;
            return compiled.decide(c, { now, limits });
          });
        };
        expect(run()).toEqual(run());
      }),
      { numRuns: 300 },
    );
  });

  test('a hidden tool is never allowed: it is always answered as hidden', () => {
    fc.assert(
      fc.property(policy, toolCall, (p, c) => {
        const d = compilePolicy(p).decide(c, { now: T0 });
        if (isHidden(p, c.tool)) expect(d.effect).toBe('hidden');
        else expect(d.effect).not.toBe('hidden');
      }),
      { numRuns: 1000 },
    );
  });

  test('an unlisted tool gets the default (only all_tools limits may still deny it)', () => {
    fc.assert(
      fc.property(policy, toolCall, (p, c) => {
        fc.pre(!(p.tools !== undefined && Object.hasOwn(p.tools, c.tool)) && !isHidden(p, c.tool));
        const d = compilePolicy(p).decide(c, { now: T0 });
        if (p.default === 'deny') expect(d).toMatchObject({ effect: 'deny', rule: 'default' });
        else if (d.effect === 'deny') expect(d.rule).toMatch(/^all_tools\.limits\[\d+\]$/);
        else expect(d).toMatchObject({ effect: 'allow', rule: 'default' });
      }),
      { numRuns: 1000 },
    );
  });

  test('a call that matches a reachable deny_if rule is never allowed, not even with an approval', () => {
    fc.assert(
      fc.property(policy, toolCall, (p, c) => {
        const rule = p.tools !== undefined && Object.hasOwn(p.tools, c.tool) ? p.tools[c.tool]! : undefined;
        fc.pre(rule !== undefined && rule.action !== 'allow' && (rule.deny_if ?? []).some((r) => r.conditions.every((k) => holds(c, k))));
        const d = compilePolicy(p).decide(c, { now: T0, approvals: () => ({ status: 'granted', id: 'granted' }) });
        expect(d.effect).not.toBe('allow');
        expect(d.effect).not.toBe('approval_required');
      }),
      { numRuns: 2000 },
    );
  });

  test('the compiled conditions agree with a plain reading of the operators', () => {
    fc.assert(
      fc.property(condition, toolCall, (k, c) => {
        const d = compilePolicy({ version: '1', default: 'deny', tools: { [c.tool]: { require: [k] } } }).decide(c);
        expect(d.effect === 'allow').toBe(holds(c, k));
      }),
      { numRuns: 3000 },
    );
  });

  test('limits never admit more than max in a window, under interleaved agents and sessions', () => {
    fc.assert(
      fc.property(policy, timedCalls, (p, calls) => {
        const compiled = compilePolicy(p);
        const limits = new MemoryLimitStore();
        // Sum of admitted amounts per counter key, scope id and window, per limit's max.
        const admitted = new Map<string, number>();
        let now = T0;
        for (const [c, dt] of calls) {
          now += dt;
          const d = compiled.decide(c, { now, limits });
          if (d.effect !== 'allow' || !d.limits) continue;
          for (const s of d.limits) {
            const scopeId = s.scope === 'agent' ? c.agent!.id : s.scope === 'session' ? c.session!.id : '';
            const windowStart = Math.floor(now / (s.window * 1000));
            const key = `${s.counter}|${s.scope}|${scopeId}|${s.window}|${windowStart}`;
            const total = (admitted.get(key) ?? 0) + s.amount;
            admitted.set(key, total);
            expect(total).toBeLessThanOrEqual(s.max);
            expect(s.used).toBe(total);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test('limits admit exactly max counting calls per window for one key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.constantFrom<Window>('second', 'minute', 'hour', 'day', 7), fc.integer({ min: 1, max: 60 }), (max, window, n) => {
        const p = compilePolicy({ version: '1', default: 'deny', tools: { t: { limits: [{ counter: 'c', max, window }] } } });
        const limits = new MemoryLimitStore();
        const w = windowSeconds(window) * 1000;
        const start = Math.ceil(T0 / w) * w;
        let allowed = 0;
        for (let i = 0; i < n; i++) if (p.decide({ tool: 't', agent: { id: 'x' } }, { now: start + (i % 3), limits }).effect === 'allow') allowed += 1;
        expect(allowed).toBe(Math.min(n, max));
      }),
      { numRuns: 300 },
    );
  });
});

describe('properties of shadow mode over random policies and calls', () => {
  type Run = Array<ReturnType<ReturnType<typeof compilePolicy>['decide']>>;
  const runOn = (p: Policy, calls: ReadonlyArray<readonly [ToolCall, number]>, limits = new MemoryLimitStore()): Run => {
    const compiled = compilePolicy(p);
    let now = T0;
    return calls.map(([c, dt]) => {
      now += dt;
      return compiled.decide(c, { now, limits });
    });
  };
  const verdict = (d: { effect: string; rule: string | null; reason: string; code: string | null }) => ({ effect: d.effect, rule: d.rule, reason: d.reason, code: d.code });

  test('a policy in shadow allows every call and records exactly what the policy would have decided', () => {
    fc.assert(
      fc.property(policy, timedCalls, (p, calls) => {
        // One store for both: shadow counters must not disturb the enforced policy's.
        const limits = new MemoryLimitStore();
        const shadowPolicy = compilePolicy({ ...p, shadow: true });
        const enforcedPolicy = compilePolicy(p);
        let now = T0;
        const pairs = calls.map(([c, dt]) => {
          now += dt;
          return [shadowPolicy.decide(c, { now, limits }), enforcedPolicy.decide(c, { now, limits })] as const;
        });
        const alone = runOn(p, calls);
        pairs.forEach(([shadow, enforced], i) => {
          expect(verdict(shadow)).toEqual({ effect: 'allow', rule: null, reason: 'allowed: the policy is in shadow mode and enforces nothing', code: null });
          expect(shadow.shadow).toEqual(verdict(alone[i]!));
          expect(enforced).toEqual(alone[i]);
        });
        for (const tool of [...TOOLS, 'unlisted']) expect(shadowPolicy.isListed(tool)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test('a tool rule in shadow: enforced as if the tool were not listed, recorded as its rule would decide', () => {
    fc.assert(
      fc.property(policy, timedCalls, fc.constantFrom(...TOOLS), (p, calls, tool) => {
        const rule = p.tools?.[tool];
        fc.pre(rule !== undefined);
        const inShadow: Policy = { ...p, tools: { ...p.tools, [tool]: { ...rule, shadow: true } } };
        const { [tool]: _removed, ...others } = p.tools!;
        const without: Policy = { ...p, tools: others };
        const decided = runOn(inShadow, calls);
        const enforced = runOn(without, calls);
        // The rule's would-be decisions are the policy as written deciding only the calls that
        // reached the rule (its shadow counters, all_tools ones included, count nothing else).
        const alone = runOn(p, timedOnly(calls, tool, p));
        decided.forEach((d, i) => {
          const { shadow, digest: _d, ...rest } = d;
          const { digest: _e, ...expected } = enforced[i]!;
          expect(rest).toEqual(expected);
          expect(shadow !== undefined).toBe(calls[i]![0].tool === tool && !(p.hide ?? []).includes(tool));
        });
        const shadows = decided.filter((d) => d.shadow !== undefined).map((d) => d.shadow);
        expect(shadows).toEqual(alone.map(verdict));
        expect(compilePolicy(inShadow).isListed(tool)).toBe(compilePolicy(without).isListed(tool));
      }),
      { numRuns: 300 },
    );
  });
});

/** The calls to `tool` that reach its rule, each at the time it was made in the full sequence. */
function timedOnly(calls: ReadonlyArray<readonly [ToolCall, number]>, tool: string, p: Policy): Array<readonly [ToolCall, number]> {
  const out: Array<readonly [ToolCall, number]> = [];
  let now = 0;
  let last = 0;
  for (const [c, dt] of calls) {
    now += dt;
    if (c.tool !== tool || (p.hide ?? []).includes(tool)) continue;
    out.push([c, now - last]);
    last = now;
  }
  return out;
}
