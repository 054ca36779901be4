/* Generated from schema/policy.schema.json by scripts/generate-types.mjs. Do not edit. */

/**
 * A stable rule id, reported as the decision's `rule`.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "RuleId".
 */
export type RuleId = string;
/**
 * A named window or a number of seconds. Windows are fixed and aligned to the UTC epoch.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Window".
 */
export type Window = ('second' | 'minute' | 'hour' | 'day') | number;
/**
 * Whose calls a counter counts: each agent's (default), each session's, or everyone's.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Scope".
 */
export type Scope = 'agent' | 'session' | 'global';
/**
 * args.<field> (with dots and [index]), agent.id, agent.labels.<key> or session.id.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Path".
 */
export type Path = string;
/**
 * With `action: approve`: how long a request stays open (default: the gateway's approvals.timeout, 10m).
 */
export type Duration = string;
/**
 * With `action: approve`: how many distinct approvers must grant a request (default 1).
 */
export type MinApprovals = number;
/**
 * A test of one path. A missing path makes every operator false except `exists`.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Condition".
 */
export type Condition = Condition1;
/**
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Operator".
 */
export type Operator =
  'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'in' | 'not_in' | 'exists' | 'regex' | 'contains';
/**
 * How long the request stays open before it expires (default: the gateway's approvals.timeout, 10m).
 */
export type Duration1 = string;
/**
 * How many distinct approvers must grant the request (a two-person rule with 2); one denial decides it. Default 1.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "MinApprovals".
 */
export type MinApprovals1 = number;
/**
 * A duration such as "30s", "10m", "2h", "1d".
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Duration".
 */
export type Duration2 = string;

/**
 * A Tollgate policy (language version "1"): the rules for one upstream MCP server's tool calls.
 */
export interface Policy {
  /**
   * Optional URI of this schema, for editors.
   */
  $schema?: string;
  /**
   * Language version. Always "1".
   */
  version: '1';
  /**
   * Free text for reviewers.
   */
  description?: string;
  /**
   * The decision for a tool that is not listed in `tools`.
   */
  default: 'allow' | 'deny';
  /**
   * Shadow mode (dry run): the policy is evaluated and its would-be decision recorded (`shadow_effect`, `shadow_rule`), but every call is allowed and every tool listed. Its limits count in their own shadow counters. See docs/policy-language.md, "Shadow mode".
   */
  shadow?: boolean;
  /**
   * Tool names removed from tools/list and answered as an unknown tool. "*" hides every tool not listed in `tools`.
   */
  hide?: string[];
  all_tools?: AllTools;
  /**
   * Tool name to tool rule. Under `default: deny`, listing a tool as {} allows it.
   */
  tools?: {
    [k: string]: ToolRule | undefined;
  };
}
/**
 * Rules that apply to every call to this server.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "AllTools".
 */
export interface AllTools {
  limits?: Limit[];
}
/**
 * A counter over a fixed, UTC-aligned window. Counters with the same name share state across tools. With `increment_from` (a path), the numeric value there is added instead of 1 (a spend cap); a call without a non-negative number there is denied.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "Limit".
 */
export interface Limit {
  id?: RuleId;
  /**
   * Counter name; the same name on several tools shares one count.
   */
  counter: string;
  /**
   * The most the counter may reach within one window.
   */
  max: number;
  window: Window;
  scope?: Scope;
  increment_from?: Path;
  /**
   * The reason given to the agent when this limit denies.
   */
  on_deny?: string;
}
/**
 * The rules for one tool, evaluated in the order of DESIGN §2: action, require, deny_if, approve_if, limits.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "ToolRule".
 */
export interface ToolRule {
  /**
   * Free text for reviewers.
   */
  description?: string;
  /**
   * Shadow mode for this tool's rule: it is evaluated and its would-be decision recorded, but the call is decided as if the tool were not in `tools` (by `hide` and `default`). Its limits count in their own shadow counters; an approval it would ask for is only recorded.
   */
  shadow?: boolean;
  /**
   * An unconditional verdict. `approve`: every call needs a human approval.
   */
  action?: 'allow' | 'deny' | 'hide' | 'approve';
  /**
   * Text shown when `action: deny` denies a call, or when `action: approve` holds one.
   */
  reason?: string;
  /**
   * With `action: approve`: who may approve (approver ids or groups; "user" lets the agent's own user approve in-band). Default: any configured approver.
   */
  approvers?: string[];
  timeout?: Duration;
  min_approvals?: MinApprovals;
  /**
   * Conditions that must all hold; the first that fails denies the call.
   */
  require?: Condition[];
  /**
   * Deny rules; the first whose conditions all hold denies the call.
   */
  deny_if?: DenyRule[];
  /**
   * Approval rules; the first whose conditions all hold holds the call for a human approval.
   */
  approve_if?: ApproveRule[];
  limits?: Limit[];
  rate_limit?: RateLimit;
}
export interface Condition1 {
  path: Path;
  op: Operator;
  /**
   * The operand; its type depends on `op`.
   */
  value?: string | number | boolean | null | unknown[] | {};
  /**
   * Flags of a `regex` pattern: any of i, m, s, u.
   */
  flags?: string;
  /**
   * The reason given when this condition fails in `require`.
   */
  on_deny?: string;
}
/**
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "DenyRule".
 */
export interface DenyRule {
  id?: RuleId;
  description?: string;
  /**
   * ANDed; an empty list always matches.
   */
  conditions: Condition[];
  /**
   * The reason given to the agent when this rule denies.
   */
  on_deny?: string;
}
/**
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "ApproveRule".
 */
export interface ApproveRule {
  id?: RuleId;
  description?: string;
  /**
   * ANDed; an empty list always matches.
   */
  conditions: Condition[];
  /**
   * Why the call needs an approval; shown to the agent and the approver.
   */
  reason?: string;
  /**
   * Who may approve: approver ids or groups; "user" lets the agent's own user approve in-band.
   */
  approvers?: string[];
  timeout?: Duration1;
  min_approvals?: MinApprovals1;
}
/**
 * Shorthand for one counting limit of this tool.
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "RateLimit".
 */
export interface RateLimit {
  max: number;
  window: Window;
  scope?: Scope;
  /**
   * Counter name; defaults to `<tool>.rate_limit`.
   */
  counter?: string;
}
