import type { Decision, DecisionCode, Effect, ToolCall } from '../evaluate/decision.js';
import type { Operator, Scope } from '../generated/policy-types.js';
import type { PolicyRevision } from '../policy-revision.js';

/**
 * The steps of the evaluation order (docs/policy-language.md, "Evaluation order"), in order:
 * hidden, the arguments against the tool's input schema, the default for a tool not in
 * `tools`, the tool's `action`, `require`, `deny_if`, `approve_if` (with the approval
 * lookup), the limits (`all_tools` first, then the tool's own), and the allow.
 */
export const TRACE_STEPS = ['hidden', 'arguments', 'default', 'action', 'require', 'deny_if', 'approve_if', 'limits', 'allow'] as const;

/** One of {@link TRACE_STEPS}. */
export type TraceStepName = (typeof TRACE_STEPS)[number];

/**
 * What a step did for the call: `decided` it (the first step that decides wins), `passed` it
 * on to the next step, was `skipped` (it does not apply: no schema known, a tool with
 * `action: "allow"`, a policy in shadow mode…), or was `not_reached` because an earlier step decided.
 */
export type TraceStepStatus = 'decided' | 'passed' | 'skipped' | 'not_reached';

/** One condition of a rule, with what the call holds at its path. */
export interface TraceCondition {
  /** The condition in words: `args.amount lte 1000`. */
  readonly text: string;
  readonly path: string;
  readonly op: Operator;
  /** Whether the path is present in the call. */
  readonly found: boolean;
  /** The value at the path when it is present. */
  readonly actual?: unknown;
  /**
   * Whether the condition holds for the call: `too_long` when a regex was not run on a value
   * longer than the pattern-input bound (the call is then denied, fail closed).
   */
  readonly result: 'held' | 'failed' | 'too_long';
  /**
   * Whether `decide` evaluated it. Conditions of a rule are ANDed in order and the first that
   * fails ends the rule; the ones after it (and the rules of steps not reached) are shown
   * with their result all the same, marked not evaluated.
   */
  readonly evaluated: boolean;
}

/** A `require` condition, a `deny_if` rule or an `approve_if` rule, and what it did. */
export interface TraceRule {
  /** The id decisions carry: the rule's own `id`, else its positional id. */
  readonly id: string;
  /** Its place in the document, e.g. `tools.cancel_order.deny_if[0]`. */
  readonly positional_id: string;
  /**
   * `decided`: a require condition that failed, a deny_if or approve_if rule whose conditions
   * all held, or a value too long for a pattern; `matched`: an approve_if rule whose conditions
   * held and whose granted approval let the call go on; `passed`: evaluated without deciding;
   * `not_reached`: an earlier rule or step decided.
   */
  readonly status: 'decided' | 'matched' | 'passed' | 'not_reached';
  readonly conditions: readonly TraceCondition[];
}

/** The approval lookup of step 6 for the rule that asks for a human approval. */
export interface TraceApproval {
  /** The rule that asks: `tools.<t>.action` or an approve_if rule's id. */
  readonly rule: string;
  /**
   * What the lookup found: no approval request for this call (`none`: the call needs one),
   * a `granted`, `denied` or `expired` one, or `not_looked_up` (a rule in shadow mode never
   * asks anyone).
   */
  readonly lookup: 'none' | 'granted' | 'denied' | 'expired' | 'not_looked_up';
  /** The approval request's id, when one was found. */
  readonly id?: string;
}

/** A counter a limit counts a call in: which limit, whose count, which window. */
export interface LimitCounter {
  /** The limit's rule id (`all_tools.limits[0]`, `tools.<t>.rate_limit`, its own `id`). */
  readonly rule: string;
  readonly counter: string;
  readonly scope: Scope;
  /** The agent id or session id the counter is kept for; empty for `global`. */
  readonly scope_id: string;
  /** Window length in seconds. */
  readonly window: number;
  /** The current window (epoch milliseconds): fixed, aligned to the UTC epoch. */
  readonly window_start: number;
  readonly window_end: number;
  readonly max: number;
  /** A limit in shadow mode counts in shadow counters, never shared with enforced ones (the ledger does not record them). */
  readonly shadow_counter: boolean;
}

/** One limit at step 7: the counter it counts in, and what this call did to it. */
export interface TraceLimit extends LimitCounter {
  /** For a spend limit (`increment_from`): the path and what the call holds there. */
  readonly amount_from?: { readonly path: string; readonly found: boolean; readonly actual?: unknown };
  /** What the call adds: 1, or its `increment_from` value; null when it has no usable amount. */
  readonly amount: number | null;
  /** The counter before this call's increment (with the increments of earlier limits of this call on the same counter); null when not consulted. */
  readonly used_before: number | null;
  /** The counter after the call: `used_before + amount` when admitted; null when not consulted. */
  readonly used_after: number | null;
  /**
   * `admitted` (fits: counted when every limit fits), `exceeded` (would pass max: denies),
   * `no_amount` (a spend limit without a non-negative finite number: denies, fail closed),
   * `not_checked` (an earlier limit decided, or the call never reached the store).
   */
  readonly outcome: 'admitted' | 'exceeded' | 'no_amount' | 'not_checked';
}

/** One step of the evaluation order and what it did. */
export interface TraceStep {
  readonly step: TraceStepName;
  readonly status: TraceStepStatus;
  /** What happened, in words. */
  readonly detail: string;
  /** When the step decided: the decision it made (the rule and effect the final decision carries). */
  readonly decided?: TraceVerdict;
  /** For `arguments` that do not fit the tool's input schema: each problem. */
  readonly errors?: readonly string[];
  /** For `require`, `deny_if` and `approve_if`: each rule, in order. */
  readonly rules?: readonly TraceRule[];
  /** For `approve_if` when a rule asks for approval: the lookup. */
  readonly approval?: TraceApproval;
  /** For `limits`: each limit, in the order they are checked. */
  readonly limits?: readonly TraceLimit[];
}

/** What an evaluation decided: the same fields a {@link Decision} carries, and the step that decided. */
export interface TraceVerdict {
  readonly effect: Effect;
  readonly rule: string | null;
  readonly code: DecisionCode | null;
  readonly step: TraceStepName;
}

/** One walk through the evaluation order: every step, and the verdict of the step that decided. */
export interface TraceEvaluation {
  readonly steps: readonly TraceStep[];
  readonly verdict: TraceVerdict;
}

/**
 * What is in shadow mode for the call's tool: `none`; `policy` (`"shadow": true` at the top
 * level: enforced allow, the policy's would-be decision recorded); `tool` (the tool's rule is in
 * shadow: enforced as a tool not in `tools`, the rule's would-be decision recorded). The
 * would-be evaluation does not run when the arguments are invalid, or when `hide` names the tool.
 */
export type TraceShadowMode = 'none' | 'policy' | 'tool';

/**
 * The explanation of one decision, like `opa eval --explain`: the enforced evaluation step by
 * step, the would-be evaluation of what is in shadow mode, and the decision `decide` made.
 * Built by {@link traceDecision} from the compiled policy's own compiled rules; its verdicts
 * are checked against the decision, so a trace never tells another story than `decide`.
 */
export interface DecisionTrace {
  readonly call: ToolCall;
  /** The decision time (epoch milliseconds): it sets the limit windows. */
  readonly at: number;
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly shadow_mode: TraceShadowMode;
  /** The evaluation whose verdict is the enforced decision. */
  readonly enforced: TraceEvaluation;
  /** The evaluation of what is in shadow mode, when it ran (its verdict is `decision.shadow`). */
  readonly shadow: TraceEvaluation | null;
  /** The decision, exactly as `decide` returned it. */
  readonly decision: Decision;
}
