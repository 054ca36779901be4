import { isPendingDecision, PendingStep, type CompiledPolicy, type DecideContext, type PendingDecision } from './compiled-policy.js';
import type { Decision, ShadowDecision, ToolCall } from './decision.js';
import type { LimitRequest, LimitResult } from './limit-store.js';
import type { Policy } from '../generated/policy-types.js';
import type { PolicyRevision } from '../policy-revision.js';
import type { RuleInfo } from '../compile/policy-rules.js';

/**
 * Shadow mode as a wrapper around two compiled policies: the **enforced** one decides every
 * call, and for a call to a tool in shadow the **recorded** one decides it too, for the
 * record only (`Decision.shadow`), with approvals never looked up (a shadow rule asks no one)
 * and its limits in shadow counters of their own.
 *
 * - A policy in shadow mode (`"shadow": true`): the enforced policy allows every call whose
 *   arguments fit and hides nothing; the recorded one is the policy; every tool is in shadow.
 * - A tool rule in shadow (`tools.<tool>.shadow: true`): the enforced policy is the policy
 *   without those rules (the tools decided as if not in `tools`); the recorded one is the
 *   whole policy; only those tools are in shadow.
 *
 * Arguments that do not fit the tool are refused with no shadow decision: shadow mode relaxes
 * rules, not the call's shape. The two decisions share one decision time, and a prepared
 * call's counter groups are the enforced policy's, then the recorded one's.
 */
export class ShadowPolicy implements CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly policy: Policy;
  readonly rules: readonly RuleInfo[];
  readonly #enforced: CompiledPolicy;
  readonly #recorded: CompiledPolicy;
  readonly #inShadow: ReadonlySet<string> | 'every tool';
  readonly #clock: () => number;

  /**
   * @param inShadow the tools whose calls the recorded policy decides too (a tool that
   *   the hide list hides is decided at step 1, before any rule, and so never in shadow).
   */
  constructor(enforced: CompiledPolicy, recorded: CompiledPolicy, inShadow: ReadonlySet<string> | 'every tool', clock: () => number) {
    this.server = recorded.server;
    this.revision = recorded.revision;
    this.digest = recorded.digest;
    this.policy = recorded.policy;
    this.rules = recorded.rules;
    this.#enforced = enforced;
    this.#recorded = recorded;
    this.#inShadow = inShadow;
    this.#clock = clock;
    Object.freeze(this);
  }

  isListed(tool: string): boolean {
    return this.#enforced.isListed(tool);
  }

  hides(tool: string): boolean {
    return this.#enforced.hides(tool);
  }

  wouldList(tool: string): boolean {
    return this.#recorded.isListed(tool);
  }

  decide(call: ToolCall, context?: DecideContext): Decision {
    if (!this.#covers(call.tool)) return this.#enforced.decide(call, context);
    const at = this.#at(context);
    const enforced = this.#enforced.decide(call, at);
    if (refusesShape(enforced)) return enforced;
    return withShadow(enforced, this.#recorded.decide(call, withoutApprovals(at)));
  }

  async decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision> {
    if (!this.#covers(call.tool)) return this.#enforced.decideAsync(call, context);
    const at = this.#at(context);
    const enforced = await this.#enforced.decideAsync(call, at);
    if (refusesShape(enforced)) return enforced;
    return withShadow(enforced, await this.#recorded.decideAsync(call, withoutApprovals(at)));
  }

  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision {
    if (!this.#covers(call.tool)) return this.#enforced.prepare(call, context);
    const at = this.#at(context);
    const enforced = this.#enforced.prepare(call, at);
    if (!isPendingDecision(enforced) && refusesShape(enforced)) return enforced;
    const recorded = this.#recorded.prepare(call, withoutApprovals(at));
    if (!isPendingDecision(enforced) && !isPendingDecision(recorded)) return withShadow(enforced, recorded);
    return new PendingPair(enforced, recorded, at.now);
  }

  #covers(tool: string): boolean {
    return this.#inShadow === 'every tool' || this.#inShadow.has(tool);
  }

  /** The context with its decision time fixed, so that both policies decide at the same instant. */
  #at(context: DecideContext | undefined): DecideContext & { readonly now: number } {
    return context?.now !== undefined ? (context as DecideContext & { now: number }) : { ...context, now: this.#clock() };
  }
}

/** The enforced and the recorded decision of a call, either of them waiting for its counters. */
class PendingPair extends PendingStep implements PendingDecision {
  readonly limits: readonly (readonly LimitRequest[])[];
  /** How many of the groups are the enforced policy's. */
  readonly #split: number;

  constructor(
    readonly enforced: Decision | PendingDecision,
    readonly recorded: Decision | PendingDecision,
    readonly now: number,
  ) {
    super();
    const own = groupsOf(enforced);
    this.#split = own.length;
    this.limits = [...own, ...groupsOf(recorded)];
  }

  finish(results: readonly LimitResult[]): Decision {
    const split = this.#split;
    const e = isPendingDecision(this.enforced) ? this.enforced.finish(results.slice(0, split)) : this.enforced;
    const r = isPendingDecision(this.recorded) ? this.recorded.finish(results.slice(split)) : this.recorded;
    return withShadow(e, r);
  }
}

function groupsOf(step: Decision | PendingDecision): readonly (readonly LimitRequest[])[] {
  return isPendingDecision(step) ? step.limits : [];
}

/** Step 2 refused the call: its arguments do not fit the tool, whatever is in shadow. */
function refusesShape(d: Decision): boolean {
  return d.code === 'invalid_arguments';
}

/** The enforced decision with the would-be decision of what is in shadow. */
function withShadow(enforced: Decision, recorded: Decision): Decision {
  const shadow: ShadowDecision = { effect: recorded.effect, rule: recorded.rule, reason: recorded.reason, code: recorded.code };
  return { ...enforced, shadow };
}

/** The context without its approval lookup: what is in shadow asks no one. */
export function withoutApprovals<C extends DecideContext | undefined>(context: C): C {
  if (context?.approvals === undefined) return context;
  const { approvals: _, ...rest } = context;
  return rest as C;
}
