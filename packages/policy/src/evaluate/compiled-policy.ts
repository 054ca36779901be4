import type { ApprovalLookup, Decision, ToolCall } from './decision.js';
import type { LimitRequest, LimitResult, LimitStore } from './limit-store.js';
import type { Policy } from '../generated/policy-types.js';
import type { PolicyRevision } from '../policy-revision.js';
import type { RuleInfo } from '../compile/policy-rules.js';

/** Per-call inputs of {@link CompiledPolicy.decide} that override the compile options. */
export interface DecideContext {
  /** The decision time (epoch ms); default: the policy's clock. */
  readonly now?: number;
  /** The limit store for this call; default: the policy's store. */
  readonly limits?: LimitStore;
  /** Finds a granted approval for the call (DESIGN §5, step 6). */
  readonly approvals?: ApprovalLookup;
  /**
   * The tool's input schema as the upstream advertises it now (the gateway passes it on every
   * call); it takes the place of the compile-time `inputSchemas` entry.
   */
  readonly inputSchema?: object;
}

/**
 * A compiled, frozen policy. `decide` runs DESIGN §2's evaluation order — hidden, then the
 * arguments against the tool's input schema (when one is known), then the rules, then the
 * limits: a Map lookup and a few precompiled comparisons; decisions that do not depend on the
 * call are shared.
 */
export interface CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  /** Hex SHA-256 of the policy's canonical JSON (RFC 8785). */
  readonly digest: string;
  /** The policy as written (deep-frozen). */
  readonly policy: Policy;
  /** Every rule, in evaluation order (see {@link listRules}). */
  readonly rules: readonly RuleInfo[];
  /**
   * Decides one call with a synchronous limit store.
   * @throws PolicyError `limits.async` when the store answers with a promise: use {@link decideAsync}.
   */
  decide(call: ToolCall, context?: DecideContext): Decision;
  /** Decides one call; works with synchronous and asynchronous (PostgreSQL) limit stores. */
  decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision>;
  /**
   * Steps 1–6 of `decide`, leaving step 7 (the limits) to the caller: the decision, or a
   * {@link PendingDecision} whose counters the caller acquires (all-or-nothing per group, as
   * `LimitStore.acquire` does) and then finishes — so that a store can count the limits and
   * record the decision they lead to in one transaction. `context.limits` is not used.
   *
   * @example
   * const step = policy.prepare(call)
   * const decision = isPendingDecision(step) ? step.finish(step.limits.map((g) => store.acquire(g, step.now))) : step
   */
  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision;
  /**
   * Whether `tools/list` shows the tool: false when it is hidden or every call to it is
   * denied no matter the arguments (`action: deny`, default deny, a deny_if rule with no conditions).
   * It follows the enforced decision: a policy in shadow mode lists every tool, and a tool
   * whose rule is in shadow is listed as if it were not in `tools`.
   */
  isListed(tool: string): boolean;
  /**
   * Whether calls to `tool` are answered as an unknown tool (DESIGN §2, step 1): listed in
   * `hide`, hidden by `action: "hide"`, or not listed while `hide` holds `"*"`. It follows the
   * enforced decision: a policy in shadow mode hides nothing, and a tool whose rule is in
   * shadow is treated as if it were not listed. The gateway asks before validating arguments,
   * so invalid arguments cannot reveal a hidden tool.
   */
  hides(tool: string): boolean;
  /**
   * What {@link isListed} would say with shadow mode off: whether the policy's own rules
   * (in shadow or not) can let a call to the tool through. Equals `isListed` for a policy
   * with nothing in shadow.
   */
  wouldList(tool: string): boolean;
}

/**
 * A decision that waits only for its limit counters (see {@link CompiledPolicy.prepare}).
 * Immutable; `finish` may be called once per acquisition and allocates only the decision.
 */
export interface PendingDecision {
  /** The counters to acquire, in groups: each group all-or-nothing (one `LimitStore.acquire`), in order. */
  readonly limits: readonly (readonly LimitRequest[])[];
  /** The decision time (epoch ms) the counters' windows belong to. */
  readonly now: number;
  /** The decision, given each group's result (same order as {@link limits}). */
  finish(results: readonly LimitResult[]): Decision;
}

/** Tells a {@link PendingDecision} from a finished {@link Decision}. */
export function isPendingDecision(step: Decision | PendingDecision): step is PendingDecision {
  return step instanceof PendingStep;
}


/**
 * The base of every step that is not yet a {@link Decision}: what {@link isPendingDecision}
 * recognises. Internal to this package.
 */
export abstract class PendingStep {}
