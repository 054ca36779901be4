import { Outcome } from '../compile/condition-compiler.js';
import { PendingStep, type CompiledPolicy, type DecideContext, type PendingDecision } from './compiled-policy.js';
import type { CompiledGate, CompiledLimit, CompiledTool, EvaluatorParts } from './compiled-parts.js';
import { INPUT_SCHEMA_RULE, type ApprovalLookup, type ApprovalState, type Decision, type LimitState, type ToolCall } from './decision.js';
import { PolicyError } from '../diagnostic.js';
import type { LimitRequest, LimitResult } from './limit-store.js';
import type { Policy } from '../generated/policy-types.js';
import type { PolicyRevision } from '../policy-revision.js';
import type { RuleInfo } from '../compile/policy-rules.js';

/** The most argument problems a decision lists (the reason names the first few). */
const MAX_ARGUMENT_ERRORS = 20;
const WINDOW_WORDS: Record<number, string> = { 1: 'second', 60: 'minute', 3600: 'hour', 86_400: 'day' };

/**
 * The limits step (7) that remains after steps 1–6 admitted a call: the counters to acquire
 * (one all-or-nothing group) and the decision they lead to.
 */
class PendingLimits extends PendingStep implements PendingDecision {
  constructor(
    readonly compiled: readonly CompiledLimit[],
    readonly requests: LimitRequest[],
    readonly now: number,
    readonly allow: Decision,
    readonly approvalId: string | undefined,
  ) {
    super();
  }

  get limits(): readonly (readonly LimitRequest[])[] {
    return [this.requests];
  }

  finish(results: readonly LimitResult[]): Decision {
    return limitsDecision(this, results[0]!);
  }
}

/**
 * Decides calls under one compiled policy, in DESIGN §2's evaluation order: hidden, the
 * arguments, the action, require, deny_if, approval, limits. It knows nothing of shadow mode:
 * a policy with rules in shadow is a {@link ShadowPolicy} over two evaluators.
 */
export class PolicyEvaluator implements CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly policy: Policy;
  readonly rules: readonly RuleInfo[];
  readonly #p: EvaluatorParts;

  constructor(parts: EvaluatorParts) {
    this.server = parts.server;
    this.revision = parts.revision;
    this.digest = parts.digest;
    this.policy = parts.policy;
    this.rules = Object.freeze([...parts.rules]);
    this.#p = parts;
    Object.freeze(this);
  }

  isListed(tool: string): boolean {
    const p = this.#p;
    if (p.hideSet.has(tool)) return false;
    const t = p.tools.get(tool);
    if (t === undefined) return !p.hideAll && p.defaultDecision.effect === 'allow';
    return !t.alwaysDenied;
  }

  hides(tool: string): boolean {
    const p = this.#p;
    if (p.hideSet.has(tool)) return true;
    const t = p.tools.get(tool);
    return t === undefined ? p.hideAll : t.hidden !== null;
  }

  wouldList(tool: string): boolean {
    return this.isListed(tool);
  }

  decide(call: ToolCall, context?: DecideContext): Decision {
    const step = this.#evaluate(call, context);
    // One check on the hot path: most calls end in a shared decision.
    if (!(step instanceof PendingLimits)) return step;
    const result = (context?.limits ?? this.#p.limits).acquire(step.requests, step.now);
    if (result instanceof Promise) {
      throw new PolicyError('limits.async', 'this limit store is asynchronous: call decideAsync instead of decide');
    }
    return limitsDecision(step, result);
  }

  async decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision> {
    const step = this.#evaluate(call, context);
    if (!(step instanceof PendingLimits)) return step;
    return limitsDecision(step, await (context?.limits ?? this.#p.limits).acquire(step.requests, step.now));
  }

  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision {
    return this.#evaluate(call, context);
  }

  /**
   * Step 2: the call's arguments against its tool's input schema, and no non-finite number
   * anywhere in them. Null when they pass or no schema is known for the tool. Enforced
   * whatever is in shadow mode: it is not a rule of the policy but the shape of the call.
   */
  checkArguments(call: ToolCall, context: DecideContext | undefined): Decision | null {
    const p = this.#p;
    if (!p.checksArguments) return null;
    const schema = context?.inputSchema ?? p.inputSchemas?.get(call.tool);
    if (schema === undefined) return null;
    const check = p.validator.validate(schema, call.args);
    if (check.valid) return null;
    return Object.freeze({
      effect: 'deny',
      rule: INPUT_SCHEMA_RULE,
      reason: `invalid arguments for ${call.tool}: ${check.message}`,
      code: 'invalid_arguments',
      revision: this.revision,
      digest: this.digest,
      errors: Object.freeze(check.errors.slice(0, MAX_ARGUMENT_ERRORS)),
      ...(check.nonFinite ? { non_finite: Object.freeze([...check.nonFinite]) } : {}),
    });
  }

  /** Steps 1–6 of DESIGN §2, and the preparation of step 7. */
  #evaluate(call: ToolCall, context: DecideContext | undefined): Decision | PendingLimits {
    const p = this.#p;
    const tool = call.tool;
    // 1. Hidden, before the arguments are looked at: invalid arguments must not reveal a hidden tool.
    if (p.hideSet.has(tool)) return p.hiddenByList;
    const t = p.tools.get(tool);
    if (t === undefined) {
      if (p.hideAll) return p.hiddenByList;
      // 2. The arguments.
      const invalid = this.checkArguments(call, context);
      if (invalid !== null) return invalid;
      // Not listed: the default. An allowed call still counts against all_tools limits.
      if (p.defaultDecision.effect === 'deny' || p.defaultLimits.length === 0) return p.defaultDecision;
      return this.#prepareLimits(call, context, p.defaultLimits, p.defaultDecision, undefined);
    }
    if (t.hidden !== null) return t.hidden;
    const invalid = this.checkArguments(call, context);
    if (invalid !== null) return invalid;
    return this.#evaluateTool(t, call, context, context?.approvals);
  }

  /** Steps 3–7 for a listed tool that is not hidden. */
  #evaluateTool(t: CompiledTool, call: ToolCall, context: DecideContext | undefined, approvals: ApprovalLookup | undefined): Decision | PendingLimits {
    // 3. Unconditional action.
    if (t.actionDeny !== null) return t.actionDeny;
    let approvalId: string | undefined;
    let allow = t.allow;
    if (!t.skipChecks) {
      // 4. require: the first condition that fails denies.
      for (let i = 0; i < t.require.length; i++) {
        const r = t.require[i]!;
        const o = r.condition.test(call);
        if (o !== Outcome.True) return o === Outcome.TooLong ? r.tooLong : r.deny;
      }
      // 5. deny_if: the first rule whose conditions all hold denies.
      for (let i = 0; i < t.denyIf.length; i++) {
        const g = t.denyIf[i]!;
        const o = matchAll(g, call);
        if (o === MATCH) return g.decision;
        if (o !== NO_MATCH) return o;
      }
      // 6. Approval, unless one was granted for exactly this call.
      let approval: Decision | null = t.actionApprove;
      if (approval === null) {
        for (let i = 0; i < t.approveIf.length; i++) {
          const g = t.approveIf[i]!;
          const o = matchAll(g, call);
          if (o === MATCH) {
            approval = g.decision;
            break;
          }
          if (o !== NO_MATCH) return o;
        }
      }
      if (approval !== null) {
        const state = approvals?.(call, approval.rule!);
        if (state === undefined) return approval;
        if (state.status !== 'granted') return this.#approvalRefused(approval, state);
        approvalId = state.id;
        allow = this.#approvedAllow(approval.rule!, approvalId);
      }
    }
    // 7. Limits.
    if (t.limits.length === 0) return allow;
    return this.#prepareLimits(call, context, t.limits, allow, approvalId);
  }

  /** The call's approval request was denied, or expired before it was granted: the call is denied by the rule that asked. */
  #approvalRefused(approval: Decision, state: Exclude<ApprovalState, { status: 'granted' }>): Decision {
    const reason =
      state.status === 'denied'
        ? `approval ${state.id} was denied${state.approver ? ` by ${state.approver}` : ''}${state.reason ? `: ${state.reason}` : ''}`
        : `approval ${state.id} expired before it was granted; make the call again to ask anew`;
    return Object.freeze({
      effect: 'deny',
      rule: approval.rule,
      reason,
      code: state.status === 'denied' ? 'approval.denied' : 'approval.expired',
      revision: this.revision,
      digest: this.digest,
      approval_id: state.id,
    });
  }

  #approvedAllow(rule: string, approvalId: string): Decision {
    return Object.freeze({ effect: 'allow', rule, reason: `allowed by approval ${approvalId}`, code: null, revision: this.revision, digest: this.digest, approval_id: approvalId });
  }

  #prepareLimits(call: ToolCall, context: DecideContext | undefined, limits: readonly CompiledLimit[], allow: Decision, approvalId: string | undefined): Decision | PendingLimits {
    const now = context?.now ?? this.#p.clock();
    const requests: LimitRequest[] = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      let amount = 1;
      if (l.incrementFrom !== null) {
        const v = l.incrementFrom(call);
        // Spend caps fail closed: no number, a negative one (which would refund the counter) or a non-finite one denies.
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return l.missingAmount!;
        amount = v;
      }
      const windowStart = Math.floor(now / l.windowMs) * l.windowMs;
      const scopeId = l.scope === 'agent' ? (call.agent?.id ?? '') : l.scope === 'session' ? (call.session?.id ?? '') : '';
      requests[i] = { key: l.keyPrefix + scopeId, amount, max: l.max, windowStart, windowEnd: windowStart + l.windowMs };
    }
    return new PendingLimits(limits, requests, now, allow, approvalId);
  }
}

/** Step 7's decision, given what the limit store answered for the step's counters. */
function limitsDecision(step: PendingLimits, result: LimitResult): Decision {
  const { compiled: limits, requests, now, allow } = step;
  const { revision, digest } = allow;
  const states: LimitState[] = new Array(limits.length);
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    const r = requests[i]!;
    states[i] = { rule: l.rule, counter: l.counter, scope: l.scope, window: l.windowSec, max: l.max, used: result.used[i] ?? 0, amount: r.amount, resets_at: r.windowEnd };
  }
  if (result.exceeded < 0) {
    return { effect: 'allow', rule: allow.rule, reason: allow.reason, code: null, revision, digest, limits: states, ...(step.approvalId !== undefined ? { approval_id: step.approvalId } : {}) };
  }
  const l = limits[result.exceeded]!;
  const r = requests[result.exceeded]!;
  const retryAfter = Math.max(1, Math.ceil((r.windowEnd - now) / 1000));
  const per = `per ${WINDOW_WORDS[l.windowSec] ?? `${l.windowSec}s`}${l.scope === 'global' ? '' : ` per ${l.scope}`}`;
  const reason =
    l.onDeny ??
    (l.incrementFrom === null
      ? `rate limit exceeded: "${l.counter}" allows ${l.max} calls ${per}; retry after ${retryAfter}s`
      : `spend limit exceeded: "${l.counter}" would reach ${round(states[result.exceeded]!.used + r.amount)} of ${l.max} ${per}; retry after ${retryAfter}s`);
  return { effect: 'deny', rule: l.rule, reason, code: 'rate_limited', revision, digest, retry_after: retryAfter, limits: states };
}

const MATCH = 1 as const;
const NO_MATCH = 0 as const;

/** ANDs a gate's conditions: MATCH, NO_MATCH, or the fail-closed denial of a too-long value. */
function matchAll(g: CompiledGate, call: ToolCall): typeof MATCH | typeof NO_MATCH | Decision {
  const cs = g.conditions;
  for (let i = 0; i < cs.length; i++) {
    const o = cs[i]!.test(call);
    if (o === Outcome.False) return NO_MATCH;
    if (o === Outcome.TooLong) return g.tooLong[i]!;
  }
  return MATCH;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
