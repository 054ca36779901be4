/** What the policy decided for one call. */
export type Effect = 'allow' | 'deny' | 'approval_required' | 'hidden';

/**
 * Why a call was not allowed, as agents and the ledger see it: `policy.denied` (a rule),
 * `rate_limited` (a limit), `approval.required`, `tool.hidden`, `invalid_arguments` (the
 * arguments do not fit the tool's input schema, or hold a non-finite number). The gateway
 * adds codes for what it refuses without a policy rule (`gateway.closing`, `ledger.unavailable`, …).
 */
export type DecisionCode = 'policy.denied' | 'rate_limited' | 'approval.required' | 'tool.hidden' | 'invalid_arguments';

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
  readonly approvers: readonly string[] | null;
  /** How long the request stays open, in milliseconds (default 10 minutes). */
  readonly timeout_ms: number;
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
  readonly revision: number | null;
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
  /** For a call allowed by a granted approval: that approval's id, to be marked used. */
  readonly approval_id?: string;
  /**
   * Present exactly when a policy or tool rule in shadow mode was evaluated for this call:
   * what it would have decided. The fields above are the enforced decision.
   */
  readonly shadow?: ShadowDecision;
}

/**
 * Finds a granted, unexpired, unused approval for exactly this call (§5) and returns its
 * id, or undefined. The gateway backs it with its approval store; tests with a flag.
 */
export type ApprovalLookup = (call: ToolCall, rule: string) => string | undefined;
