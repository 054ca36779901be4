import type { PolicyRevision } from '../policy-revision.js';

/** What the policy decided for one call. */
export type Effect = 'allow' | 'deny' | 'approval_required' | 'hidden';

/**
 * Why a call was not allowed, as agents and the ledger see it: `policy.denied` (a rule),
 * `rate_limited` (a limit), `approval.required`, `approval.denied` / `approval.expired` (the
 * call's approval request was denied by an approver, or expired), `tool.hidden`, `invalid_arguments` (the
 * arguments do not fit the tool's input schema, or hold a non-finite number). The gateway
 * adds codes for what it refuses without a policy rule (`gateway.closing`, `ledger.unavailable`, …).
 */
export type DecisionCode = 'policy.denied' | 'rate_limited' | 'approval.required' | 'approval.denied' | 'approval.expired' | 'tool.hidden' | 'invalid_arguments';

/** The rule id of a call refused because its arguments do not fit the tool's input schema (step 2). */
export const INPUT_SCHEMA_RULE = 'input_schema';

/** The identity a call is made under. */
export interface Agent {
  readonly id: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** One MCP tool call as the policy sees it. */
export interface ToolCall {
  /** The upstream's own tool name (without any `<server>__` prefix). */
  readonly tool: string;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly agent?: Agent;
  readonly session?: { readonly id: string };
}

/** The state of one limit after a decision: what it counts, and how much of it is used. */
export interface LimitState {
  /** The limit's rule id, e.g. `tools.create_spot_market_order.limits[0]`. */
  readonly rule: string;
  readonly counter: string;
  readonly scope: 'agent' | 'session' | 'global';
  /** Window length in seconds. */
  readonly window: number;
  readonly max: number;
  /** The counter's value in this window, including this call when it was admitted. */
  readonly used: number;
  /** What this call adds: 1, or its `increment_from` value. */
  readonly amount: number;
  /** When the window ends (epoch milliseconds). */
  readonly resets_at: number;
}

/** What an approval must satisfy, carried by an `approval_required` decision. */
export interface ApprovalRequirement {
  /** Approver ids or groups that may decide; null = any configured approver. */
  readonly approvers: readonly string[] | null;
  /** How long the request stays open, in milliseconds; null = the gateway's `approvals.timeout`. */
  readonly timeout_ms: number | null;
  /** Distinct approvers who must grant it (1 unless the rule sets `min_approvals`). */
  readonly min_approvals: number;
}

/**
 * The would-be decision of a policy or tool rule in shadow mode (`"shadow": true`): what it
 * would have decided had it been enforced. The ledger records `effect` and `rule` as
 * `shadow_effect` and `shadow_rule`.
 */
export interface ShadowDecision {
  readonly effect: Effect;
  /** The rule that would have decided (same ids as {@link Decision.rule}); null for a plain allow. */
  readonly rule: string | null;
  readonly reason: string;
  readonly code: DecisionCode | null;
}

/**
 * The result of {@link CompiledPolicy.decide}. Decisions that do not depend on the call's
 * values are shared frozen objects, so the hot path allocates nothing for them.
 */
export interface Decision {
  readonly effect: Effect;
  /**
   * The stable id of the rule that decided: its own `id`, else its place in the document
   * (`default`, `hide`, `tools.<t>.deny_if[0]`, …); `null` for a plain allow.
   */
  readonly rule: string | null;
  readonly reason: string;
  readonly code: DecisionCode | null;
  /** The policy's revision (from its bundle), or null for a policy read from a directory. */
  readonly revision: PolicyRevision;
  /** Hex SHA-256 of the policy's canonical JSON. */
  readonly digest: string;
  /** Seconds until a rate-limited call may succeed. */
  readonly retry_after?: number;
  /** The limits consulted, with their state (present when the call reached step 7). */
  readonly limits?: readonly LimitState[];
  /** For `approval_required`: who may approve and for how long. */
  readonly approval?: ApprovalRequirement;
  /** For `invalid_arguments`: each problem with the arguments, in words (`args.amount must be number`). */
  readonly errors?: readonly string[];
  /** For `invalid_arguments` caused by non-finite numbers: their paths (`args.price`). */
  readonly non_finite?: readonly string[];
  /** For a call allowed by a granted approval: that approval's id, to be marked used; for `approval.denied` / `approval.expired`: the request's id. */
  readonly approval_id?: string;
  /**
   * Present exactly when a policy or tool rule in shadow mode was evaluated for this call:
   * what it would have decided. The fields above are the enforced decision.
   */
  readonly shadow?: ShadowDecision;
}

/**
 * The approval request of exactly this call (§5), as an {@link ApprovalLookup} found it: granted
 * (and unexpired, unused: the call may run), denied by an approver, or expired ungranted.
 */
export type ApprovalState =
  | { readonly status: 'granted'; readonly id: string }
  | { readonly status: 'denied'; readonly id: string; readonly approver?: string; readonly reason?: string | null }
  | { readonly status: 'expired'; readonly id: string };

/**
 * Finds the approval request of exactly this call for the rule that asks for one, or
 * undefined when there is none to go by (step 6 then answers `approval_required`). The
 * gateway backs it with its approval store; `tollgate test` with a step's `approval`.
 */
export type ApprovalLookup = (call: ToolCall, rule: string) => ApprovalState | undefined;
