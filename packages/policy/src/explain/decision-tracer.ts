import { Outcome, type CompiledCondition } from '../compile/condition-compiler.js';
import type { ApprovalLookup, ApprovalState, Decision, ShadowDecision, ToolCall } from '../evaluate/decision.js';
import { PolicyError } from '../diagnostic.js';
import type { LimitRequest, LimitResult, LimitStore } from '../evaluate/limit-store.js';
import { MISSING, parsePath, type PathGetter } from '../compile/path-expression.js';
import { compiledInternals, type CompiledInternals } from '../evaluate/compiled-internals.js';
import type { CompiledGate, CompiledLimit, CompiledTool } from '../evaluate/compiled-parts.js';
import type { CompiledPolicy, DecideContext } from '../evaluate/compiled-policy.js';
import { withoutApprovals } from '../evaluate/shadow-policy.js';
import { toolRuleId } from '../compile/policy-rules.js';
import {
  TRACE_STEPS,
  type DecisionTrace,
  type TraceApproval,
  type TraceCondition,
  type TraceEvaluation,
  type TraceLimit,
  type TraceRule,
  type TraceShadowMode,
  type TraceStep,
  type TraceStepName,
  type TraceVerdict,
} from './decision-trace.js';

/** One `acquire` the decision made: what it asked the limit store, and what the store answered. */
interface Acquisition {
  readonly requests: readonly LimitRequest[];
  readonly result: LimitResult;
}

/** One approval lookup the decision made. */
interface Lookup {
  readonly rule: string;
  readonly state: ApprovalState | undefined;
}

/**
 * Explains one decision: decides the call with `decide` (so the limit store is consulted and
 * counted exactly once, as for any call) and walks the evaluation order over the policy's own
 * compiled conditions, limits and decisions, step by step — each rule, each condition with the
 * value at its path (or missing) and whether it held, the approval lookup, and each limit's
 * counter before and after the call. The walk's verdicts are checked against the decision
 * (enforced and shadow): the trace can only ever tell the story of the decision it carries.
 *
 * Only synchronous limit stores (such as {@link MemoryLimitStore}) can be traced.
 *
 * @throws PolicyError `explain.unsupported` for a policy not made by `compilePolicy`,
 *   `limits.async` for an asynchronous store, and `explain.drift` should the walk ever disagree
 *   with `decide` (a bug: the property tests of this module prove it does not).
 * @example
 * const trace = traceDecision(policy, { tool: 'create_spot_market_order', args: { amount: 5000 } }, { now: Date.now() });
 * trace.enforced.verdict // { effect: 'deny', rule: 'tools.create_spot_market_order.require[0]', code: 'policy.denied', step: 'require' }
 */
export function traceDecision(policy: CompiledPolicy, call: ToolCall, context: DecideContext = {}): DecisionTrace {
  const internals = compiledInternals(policy);
  if (internals === undefined) throw new PolicyError('explain.unsupported', 'only a policy made by compilePolicy can be explained');
  const now = context.now ?? internals.parts.clock();
  const store = context.limits ?? internals.parts.limits;
  const acquisitions: Acquisition[] = [];
  const lookups: Lookup[] = [];
  const recording: LimitStore = {
    acquire(requests, at) {
      const result = store.acquire(requests, at);
      if (result instanceof Promise) throw new PolicyError('limits.async', 'this limit store is asynchronous; a decision can only be explained with a synchronous one (MemoryLimitStore)');
      acquisitions.push({ requests: requests.map((r) => ({ ...r })), result: { exceeded: result.exceeded, used: [...result.used] } });
      return result;
    },
  };
  const given = context.approvals;
  const approvals: ApprovalLookup | undefined =
    given === undefined
      ? undefined
      : (c, rule) => {
          const state = given(c, rule);
          lookups.push({ rule, state });
          return state;
        };
  const decided: DecideContext = { ...context, now, limits: recording, ...(approvals ? { approvals } : {}) };
  const decision = policy.decide(call, decided);

  const walk = new Walk(internals, call, decided, now, acquisitions, lookups);
  const { enforced, shadow, mode } = walk.run();
  walk.checkConsumed();
  agree('enforced', enforced.verdict, decision, call);
  if (shadow === null) {
    if (decision.shadow !== undefined) drift(call, `the decision has a shadow decision (${describe(decision.shadow)}) the trace did not evaluate`);
  } else {
    if (decision.shadow === undefined) drift(call, `the trace evaluated a shadow decision (${describe(shadow.verdict)}) the decision does not have`);
    agree('shadow', shadow.verdict, decision.shadow, call);
  }
  return { call, at: now, server: policy.server, revision: policy.revision, digest: policy.digest, shadow_mode: mode, enforced, shadow, decision };
}

function describe(d: { effect: string; rule: string | null; code: string | null }): string {
  return `${d.effect} by ${d.rule ?? 'no rule'}${d.code ? ` (${d.code})` : ''}`;
}

function drift(call: ToolCall, what: string): never {
  throw new PolicyError('explain.drift', `the explanation of the call to "${call.tool}" does not agree with its decision: ${what}`);
}

function agree(which: string, verdict: TraceVerdict, decision: Decision | ShadowDecision, call: ToolCall): void {
  if (verdict.effect !== decision.effect || verdict.rule !== decision.rule || verdict.code !== decision.code) {
    drift(call, `the ${which} trace says ${describe(verdict)}, decide says ${describe(decision)}`);
  }
}

function verdictOf(d: Decision, step: TraceStepName): TraceVerdict {
  return { effect: d.effect, rule: d.rule, code: d.code, step };
}

/** The steps of one evaluation, in order; the first that decides ends it. */
class StepList {
  readonly #steps: TraceStep[] = [];
  #verdict: TraceVerdict | undefined;

  constructor(
    readonly call: ToolCall,
    readonly tool: CompiledTool | undefined,
  ) {}

  get decided(): boolean {
    return this.#verdict !== undefined;
  }

  add(step: TraceStep): void {
    if (this.#verdict !== undefined) throw new PolicyError('explain.drift', `step ${step.step} after the decision`);
    this.#steps.push(step);
  }

  decide(step: TraceStepName, verdict: TraceVerdict, detail: string, extra: Partial<TraceStep> = {}): void {
    this.add({ step, status: 'decided', detail, decided: verdict, ...extra });
    this.#verdict = verdict;
  }

  /** The evaluation: the steps after the deciding one are listed as not reached. */
  finish(): TraceEvaluation {
    const verdict = this.#verdict;
    if (verdict === undefined) throw new PolicyError('explain.drift', 'the evaluation ended without a decision');
    const last = TRACE_STEPS.indexOf(this.#steps.at(-1)!.step);
    const steps = [...this.#steps];
    for (const name of TRACE_STEPS.slice(last + 1)) {
      const rules = ruleListFor(name, this.tool, this.call, 'not_reached');
      steps.push({ step: name, status: 'not_reached', detail: `the call was decided at step ${verdict.step}`, ...(rules && rules.length > 0 ? { rules } : {}) });
    }
    return { steps, verdict };
  }
}

const getters = new Map<string, PathGetter>();

function getter(path: string): PathGetter {
  let get = getters.get(path);
  if (get === undefined) {
    get = parsePath(path).get;
    getters.set(path, get);
  }
  return get;
}

/** What the call holds at a path, as a trace shows it. */
function valueAt(path: string, call: ToolCall): { found: boolean; actual?: unknown } {
  const v = getter(path)(call);
  return v === MISSING ? { found: false } : { found: true, actual: v };
}

function conditionTrace(c: CompiledCondition, call: ToolCall, evaluated: boolean): TraceCondition {
  const o = c.test(call);
  return { text: c.text, path: c.path, op: c.op, ...valueAt(c.path, call), result: o === Outcome.True ? 'held' : o === Outcome.TooLong ? 'too_long' : 'failed', evaluated };
}

/**
 * A gate's conditions ANDed in order, as `decide` does: the first that does not hold ends the
 * rule (a too-long value denies). `reached`: whether decide evaluated the rule at all.
 */
function gateTrace(g: CompiledGate, positionalId: string, call: ToolCall, reached: boolean): { rule: TraceRule; stop: number; outcome: 'match' | 'no_match' | 'too_long' } {
  let stop = -1;
  const conditions = g.conditions.map((c, i) => {
    const t = conditionTrace(c, call, reached && stop < 0);
    if (stop < 0 && t.result !== 'held') stop = i;
    return t;
  });
  const outcome = stop < 0 ? 'match' : conditions[stop]!.result === 'too_long' ? 'too_long' : 'no_match';
  const status = !reached ? 'not_reached' : outcome === 'no_match' ? 'passed' : 'decided';
  return { rule: { id: g.decision.rule!, positional_id: positionalId, status, conditions }, stop, outcome };
}

/** The rules of a step that was not reached or was skipped, listed with their conditions' values. */
function ruleListFor(step: TraceStepName, tool: CompiledTool | undefined, call: ToolCall, status: 'not_reached'): TraceRule[] | undefined {
  if (tool === undefined) return undefined;
  if (step === 'require') {
    return tool.require.map((r, i) => ({ id: r.deny.rule!, positional_id: toolRuleId(tool.name, `require[${i}]`), status, conditions: [conditionTrace(r.condition, call, false)] }));
  }
  if (step === 'deny_if') return tool.denyIf.map((g, i) => gateTrace(g, toolRuleId(tool.name, `deny_if[${i}]`), call, false).rule);
  if (step === 'approve_if') return tool.approveIf.map((g, i) => gateTrace(g, toolRuleId(tool.name, `approve_if[${i}]`), call, false).rule);
  return undefined;
}

/** The walk over a compiled policy that mirrors `decide` step by step. */
class Walk {
  readonly #x: CompiledInternals;
  readonly #call: ToolCall;
  readonly #context: DecideContext;
  readonly #now: number;
  readonly #acquisitions: Acquisition[];
  readonly #lookups: Lookup[];
  /** This walk is the would-be evaluation of a policy in shadow mode: approvals never looked up, shadow counters. */
  readonly #ofShadowPolicy: boolean;

  constructor(x: CompiledInternals, call: ToolCall, context: DecideContext, now: number, acquisitions: Acquisition[], lookups: Lookup[], ofShadowPolicy = false) {
    this.#x = x;
    this.#ofShadowPolicy = ofShadowPolicy;
    this.#call = call;
    this.#context = context;
    this.#now = now;
    this.#acquisitions = [...acquisitions];
    this.#lookups = [...lookups];
  }

  checkConsumed(): void {
    if (this.#acquisitions.length > 0) drift(this.#call, `the decision consulted the limit store ${this.#acquisitions.length} more time(s) than the trace`);
    if (this.#lookups.length > 0) drift(this.#call, `the decision looked up an approval for ${this.#lookups[0]!.rule} that the trace did not`);
  }

  run(): { enforced: TraceEvaluation; shadow: TraceEvaluation | null; mode: TraceShadowMode } {
    const x = this.#x;
    if (x.shadowAllow !== null) return this.#shadowPolicy(x.shadowAllow);
    const p = x.parts;
    const call = this.#call;
    const tool = call.tool;
    const t = p.tools.get(tool);
    const inShadow = t !== undefined && x.shadowRules.has(tool);
    const asUnlisted = t === undefined || inShadow;
    // A tool whose rule is in shadow is enforced as if it were not listed: its rules belong to the shadow evaluation.
    const s = new StepList(call, asUnlisted ? undefined : t);
    const mode: TraceShadowMode = inShadow ? 'tool' : 'none';
    // 1. Hidden, before the arguments are looked at.
    if (p.hideSet.has(tool)) {
      s.decide('hidden', verdictOf(p.hiddenByList, 'hidden'), `"${tool}" is named in "hide"${inShadow ? ' (its rule in shadow mode is not evaluated)' : ''}`);
      return { enforced: s.finish(), shadow: null, mode };
    }
    const hidden = asUnlisted ? p.hideAll : t.hidden !== null;
    if (hidden) {
      if (asUnlisted) {
        const why = t === undefined ? `"${tool}" is not in tools` : `the rule of "${tool}" is in shadow mode, so the call is enforced as for a tool not in tools`;
        s.decide('hidden', verdictOf(p.hiddenByList, 'hidden'), `"hide" holds "*" and ${why}`);
      } else {
        s.decide('hidden', verdictOf(t.hidden!, 'hidden'), `the rule of "${tool}" has action "hide"`);
      }
      const enforced = s.finish();
      return { enforced, shadow: inShadow ? this.#shadowTool(t, 'not checked: the enforced decision hid the tool first') : null, mode };
    }
    s.add({ step: 'hidden', status: 'passed', detail: `not hidden: "${tool}" is not in "hide"${p.hideAll ? ' (which holds "*", but the tool is in tools)' : ''}${t && !inShadow ? ' and its rule has no action "hide"' : ''}` });
    // 2. The arguments.
    if (!this.#arguments(s)) return { enforced: s.finish(), shadow: null, mode };
    if (t === undefined) {
      this.#unlisted(s, `"${tool}" is not in tools`);
      return { enforced: s.finish(), shadow: null, mode };
    }
    if (inShadow) {
      this.#unlisted(s, `the rule of "${tool}" is in shadow mode: the call is enforced as for a tool not in tools`);
      const enforced = s.finish();
      return { enforced, shadow: this.#shadowTool(t, 'checked once, for the enforced decision'), mode };
    }
    this.#tool(s, t, this.#ofShadowPolicy ? 'shadow' : this.#context.approvals !== undefined ? 'lookup' : 'none', this.#ofShadowPolicy);
    return { enforced: s.finish(), shadow: null, mode };
  }

  /** Step 2 with the policy's own check; false when the arguments decided the call. */
  #arguments(s: StepList): boolean {
    const call = this.#call;
    const invalid = this.#x.checkArguments(call, this.#context);
    if (invalid !== null) {
      s.decide('arguments', verdictOf(invalid, 'arguments'), `the arguments do not fit the input schema of "${call.tool}"`, { errors: invalid.errors ?? [] });
      return false;
    }
    const known = this.#context.inputSchema !== undefined || this.#x.parts.inputSchemas?.get(call.tool) !== undefined;
    s.add(
      known
        ? { step: 'arguments', status: 'passed', detail: `the arguments fit the input schema of "${call.tool}"` }
        : { step: 'arguments', status: 'skipped', detail: `no input schema is known for "${call.tool}" (no catalog entry), so the arguments were not checked` },
    );
    return true;
  }

  /** A policy in shadow mode: the arguments are enforced, then every call is allowed; its rules decide only the shadow. */
  #shadowPolicy(allow: Decision): { enforced: TraceEvaluation; shadow: TraceEvaluation | null; mode: TraceShadowMode } {
    const call = this.#call;
    const s = new StepList(call, undefined);
    s.add({ step: 'hidden', status: 'skipped', detail: 'the policy is in shadow mode: it hides nothing' });
    if (!this.#arguments(s)) return { enforced: s.finish(), shadow: null, mode: 'policy' };
    for (const step of ['default', 'action', 'require', 'deny_if', 'approve_if', 'limits'] as const) {
      s.add({ step, status: 'skipped', detail: 'the policy is in shadow mode and enforces nothing: its rules decide only the shadow decision' });
    }
    s.decide('allow', verdictOf(allow, 'allow'), 'allowed: the policy is in shadow mode');
    const enforced = s.finish();
    // The rules, for the record: the policy's own evaluation, approvals never looked up, shadow counters.
    const rules = new Walk({ ...this.#x, shadowAllow: null }, call, withoutApprovals(this.#context), this.#now, this.#acquisitions.splice(0), this.#lookups.splice(0), true);
    const evaluation = rules.run();
    rules.checkConsumed();
    return { enforced, shadow: evaluation.enforced, mode: 'policy' };
  }

  /** The would-be decision of a tool rule in shadow mode: steps 3–8, approvals never looked up, shadow counters. */
  #shadowTool(t: CompiledTool, argumentsDetail: string): TraceEvaluation {
    const s = new StepList(this.#call, t);
    if (t.hidden !== null) {
      s.decide('hidden', verdictOf(t.hidden, 'hidden'), `the rule of "${t.name}" has action "hide"`);
      return s.finish();
    }
    s.add({ step: 'hidden', status: 'passed', detail: `the rule of "${t.name}" has no action "hide"` });
    s.add({ step: 'arguments', status: 'skipped', detail: argumentsDetail });
    this.#tool(s, t, 'shadow', true);
    return s.finish();
  }

  /** Step 2's default for a tool not in tools (or whose rule is in shadow); hideAll never holds here. */
  #unlisted(s: StepList, why: string): void {
    const p = this.#x.parts;
    const d = p.defaultDecision;
    if (d.effect === 'deny') {
      s.decide('default', verdictOf(d, 'default'), `${why}: default "deny"`);
      return;
    }
    s.add({ step: 'default', status: 'passed', detail: `${why}: default "allow"${p.defaultLimits.length > 0 ? ', once the all_tools limits admit the call' : ''}` });
    for (const step of ['action', 'require', 'deny_if', 'approve_if'] as const) s.add({ step, status: 'skipped', detail: 'the call is decided by the default, not by a tool rule' });
    if (p.defaultLimits.length === 0) {
      s.add({ step: 'limits', status: 'skipped', detail: 'the policy has no all_tools limits' });
      s.decide('allow', verdictOf(d, 'allow'), 'allowed by the default');
      return;
    }
    this.#limits(s, p.defaultLimits, verdictOf(d, 'allow'), 'allowed by the default', false);
  }

  /**
   * Steps 3–8 for a listed tool that is not hidden. `approvals`: how step 6 finds an approval —
   * the decision's lookup, none given (the call needs one), or none asked for (shadow mode).
   */
  #tool(s: StepList, t: CompiledTool, approvals: 'lookup' | 'none' | 'shadow', shadowCounters: boolean): void {
    const call = this.#call;
    s.add({ step: 'default', status: 'passed', detail: `"${t.name}" is in tools: its rule decides` });
    // 3. The unconditional action.
    if (t.actionDeny !== null) {
      s.decide('action', verdictOf(t.actionDeny, 'action'), 'action "deny"');
      return;
    }
    let allow: TraceVerdict = verdictOf(t.allow, 'allow');
    let allowDetail = 'allowed by the rule';
    if (t.skipChecks) {
      s.add({ step: 'action', status: 'passed', detail: 'action "allow": require, deny_if and approvals are skipped; the limits still apply' });
      for (const step of ['require', 'deny_if', 'approve_if'] as const) {
        const rules = ruleListFor(step, t, call, 'not_reached');
        s.add({ step, status: 'skipped', detail: 'skipped by action "allow"', ...(rules && rules.length > 0 ? { rules } : {}) });
      }
    } else {
      s.add({ step: 'action', status: 'passed', detail: t.actionApprove !== null ? 'action "approve": every call needs a human approval, asked after require and deny_if' : 'no action' });
      // 4. require.
      if (t.require.length === 0) s.add({ step: 'require', status: 'skipped', detail: 'the rule has no require conditions' });
      else {
        const rules: TraceRule[] = [];
        let failed: { index: number; decision: Decision } | undefined;
        t.require.forEach((r, i) => {
          const reached = failed === undefined;
          const c = conditionTrace(r.condition, call, reached);
          const decides = reached && c.result !== 'held';
          rules.push({ id: r.deny.rule!, positional_id: toolRuleId(t.name, `require[${i}]`), status: !reached ? 'not_reached' : decides ? 'decided' : 'passed', conditions: [c] });
          if (decides) failed = { index: i, decision: c.result === 'too_long' ? r.tooLong : r.deny };
        });
        if (failed !== undefined) {
          const c = rules[failed.index]!.conditions[0]!;
          s.decide('require', verdictOf(failed.decision, 'require'), c.result === 'too_long' ? `${c.path} is too long to match against a pattern (fail closed)` : `${c.text} does not hold`, { rules });
          return;
        }
        s.add({ step: 'require', status: 'passed', detail: rules.length === 1 ? 'its condition held' : `all ${rules.length} conditions held`, rules });
      }
      // 5. deny_if.
      if (t.denyIf.length === 0) s.add({ step: 'deny_if', status: 'skipped', detail: 'the rule has no deny_if rules' });
      else if (this.#gates(s, 'deny_if', t, t.denyIf)) return;
      // 6. Approval.
      let approval: Decision | null = t.actionApprove;
      let rules: TraceRule[] | undefined;
      if (t.approveIf.length > 0) {
        rules = [];
        let matched = approval !== null;
        for (let i = 0; i < t.approveIf.length; i++) {
          const g = t.approveIf[i]!;
          // With action "approve" the approve_if rules are never evaluated.
          const r = gateTrace(g, toolRuleId(t.name, `approve_if[${i}]`), call, !matched);
          rules.push(r.rule);
          if (matched) continue;
          if (r.outcome === 'too_long') {
            s.decide('approve_if', verdictOf(g.tooLong[r.stop]!, 'approve_if'), `${g.conditions[r.stop]!.path} is too long to match against a pattern (fail closed)`, { rules: [...rules, ...rest(t, i, call)] });
            return;
          }
          if (r.outcome === 'match') {
            approval = g.decision;
            matched = true;
          }
        }
      }
      if (approval === null) {
        s.add(rules ? { step: 'approve_if', status: 'passed', detail: 'no approve_if rule matched', rules } : { step: 'approve_if', status: 'skipped', detail: 'the rule asks for no approval' });
      } else {
        const rule = approval.rule!;
        const lookup = approvals === 'lookup' ? this.#lookup(rule) : undefined;
        const asked = approval === t.actionApprove ? 'action "approve" asks for a human approval' : `${rule} matched: the call needs a human approval`;
        const extra = rules ? { rules } : {};
        if (lookup === undefined) {
          const approvalTrace: TraceApproval = { rule, lookup: approvals === 'shadow' ? 'not_looked_up' : 'none' };
          const why = approvals === 'shadow' ? 'in shadow mode no one is asked: recorded as approval_required' : 'there is no approval for this call';
          s.decide('approve_if', verdictOf(approval, 'approve_if'), `${asked}; ${why}`, { ...extra, approval: approvalTrace });
          return;
        }
        if (lookup.status !== 'granted') {
          const code = lookup.status === 'denied' ? 'approval.denied' : 'approval.expired';
          s.decide('approve_if', { effect: 'deny', rule, code, step: 'approve_if' }, `${asked}; its approval ${lookup.id} was ${lookup.status === 'denied' ? 'denied' : 'not granted before it expired'}`, {
            ...extra,
            approval: { rule, lookup: lookup.status, id: lookup.id },
          });
          return;
        }
        // The rule matched, but did not decide: its granted approval lets the call go on to the limits.
        const matched = rules ? { rules: rules.map((r) => (r.status === 'decided' ? { ...r, status: 'matched' as const } : r)) } : {};
        s.add({ step: 'approve_if', status: 'passed', detail: `${asked}; approval ${lookup.id} was granted`, ...matched, approval: { rule, lookup: 'granted', id: lookup.id } });
        allow = { effect: 'allow', rule, code: null, step: 'allow' };
        allowDetail = `allowed by approval ${lookup.id}`;
      }
    }
    // 7. Limits.
    if (t.limits.length === 0) {
      s.add({ step: 'limits', status: 'skipped', detail: 'no limits apply (no all_tools limits, and the rule has none)' });
      s.decide('allow', allow, allowDetail);
      return;
    }
    this.#limits(s, t.limits, allow, allowDetail, shadowCounters);
  }

  /** A deny_if step; true when it decided. */
  #gates(s: StepList, step: 'deny_if', t: CompiledTool, gates: readonly CompiledGate[]): boolean {
    const rules: TraceRule[] = [];
    for (let i = 0; i < gates.length; i++) {
      const g = gates[i]!;
      const r = gateTrace(g, toolRuleId(t.name, `${step}[${i}]`), this.#call, true);
      rules.push(r.rule);
      if (r.outcome === 'no_match') continue;
      const remaining = gates.slice(i + 1).map((h, j) => gateTrace(h, toolRuleId(t.name, `${step}[${i + 1 + j}]`), this.#call, false).rule);
      if (r.outcome === 'too_long') {
        s.decide(step, verdictOf(g.tooLong[r.stop]!, step), `${g.conditions[r.stop]!.path} is too long to match against a pattern (fail closed)`, { rules: [...rules, ...remaining] });
      } else {
        const what = g.conditions.length === 0 ? 'has no conditions, so it always matches' : g.conditions.length === 1 ? 'matched: its condition held' : `matched: all ${g.conditions.length} conditions held`;
        s.decide(step, verdictOf(g.decision, step), `${r.rule.id} ${what}`, { rules: [...rules, ...remaining] });
      }
      return true;
    }
    s.add({ step, status: 'passed', detail: rules.length === 1 ? 'its rule did not match' : `none of its ${rules.length} rules matched`, rules });
    return false;
  }

  #lookup(rule: string): ApprovalState | undefined {
    const next = this.#lookups.shift();
    if (next === undefined) drift(this.#call, `the trace looks up an approval for ${rule}, the decision did not`);
    if (next.rule !== rule) drift(this.#call, `the decision looked up an approval for ${next.rule}, the trace for ${rule}`);
    return next.state;
  }

  /** Step 7 over the limits `decide` consults, with the counters the store reported. */
  #limits(s: StepList, limits: readonly CompiledLimit[], allow: TraceVerdict, allowDetail: string, shadowCounters: boolean): void {
    const call = this.#call;
    const now = this.#now;
    const base = limits.map((l) => {
      const windowStart = Math.floor(now / l.windowMs) * l.windowMs;
      const scopeId = l.scope === 'agent' ? (call.agent?.id ?? '') : l.scope === 'session' ? (call.session?.id ?? '') : '';
      const raw = l.incrementFrom === null ? 1 : l.incrementFrom(call);
      const amount = typeof raw === 'number' && Number.isFinite(raw) && raw >= 0 ? raw : null;
      const entry: TraceLimit = {
        rule: l.rule,
        counter: l.counter,
        scope: l.scope,
        scope_id: scopeId,
        window: l.windowSec,
        window_start: windowStart,
        window_end: windowStart + l.windowMs,
        max: l.max,
        shadow_counter: shadowCounters,
        ...(l.incrementPath !== null ? { amount_from: { path: l.incrementPath, ...valueAt(l.incrementPath, call) } } : {}),
        amount,
        used_before: null,
        used_after: null,
        outcome: 'not_checked',
      };
      return { l, entry, key: l.keyPrefix + scopeId, windowStart };
    });
    // Spend amounts are read in order before the store is asked; the first unusable one denies.
    const missing = base.findIndex((b) => b.entry.amount === null);
    if (missing >= 0) {
      const entries = base.map((b, i) => (i === missing ? { ...b.entry, outcome: 'no_amount' as const } : b.entry));
      const l = base[missing]!.l;
      s.decide('limits', verdictOf(l.missingAmount!, 'limits'), `spend limit ${l.rule} needs a non-negative number at ${l.incrementPath}; the call has none (fail closed)`, { limits: entries });
      return;
    }
    const observed = this.#acquisitions.shift();
    if (observed === undefined) drift(call, 'the trace reaches the limits, the decision did not consult the limit store');
    const { requests, result } = observed;
    if (requests.length !== base.length) drift(call, `the decision consulted ${requests.length} counter(s), the trace ${base.length}`);
    base.forEach((b, i) => {
      const r = requests[i]!;
      if (r.key !== b.key || r.amount !== b.entry.amount || r.windowStart !== b.windowStart || r.max !== b.l.max) drift(call, `the decision counted limit ${b.l.rule} differently from the trace`);
    });
    const exceeded = result.exceeded;
    const entries: TraceLimit[] = base.map((b, i) => {
      const used = result.used[i] ?? 0;
      const amount = b.entry.amount!;
      if (exceeded < 0 || i < exceeded) return { ...b.entry, used_before: round(used - amount), used_after: used, outcome: 'admitted' };
      if (i === exceeded) return { ...b.entry, used_before: used, used_after: null, outcome: 'exceeded' };
      return { ...b.entry, used_before: used, used_after: null, outcome: 'not_checked' };
    });
    if (exceeded >= 0) {
      const l = base[exceeded]!.l;
      const e = entries[exceeded]!;
      s.decide('limits', { effect: 'deny', rule: l.rule, code: 'rate_limited', step: 'limits' }, `${l.rule}: "${l.counter}" is at ${round(e.used_before!)} of ${l.max}; this call would add ${round(e.amount!)}`, { limits: entries });
      return;
    }
    s.add({ step: 'limits', status: 'passed', detail: `every limit admits the call (${entries.length} counter${entries.length === 1 ? '' : 's'} incremented together)`, limits: entries });
    s.decide('allow', allow, allowDetail);
  }
}

/** The approve_if rules after index `i`, not reached. */
function rest(t: CompiledTool, i: number, call: ToolCall): TraceRule[] {
  return t.approveIf.slice(i + 1).map((g, j) => gateTrace(g, toolRuleId(t.name, `approve_if[${i + 1 + j}]`), call, false).rule);
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
