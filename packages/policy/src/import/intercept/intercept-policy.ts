/**
 * A policy in the YAML format of PolicyLayer's Intercept gateway, as read and checked by
 * `readInterceptPolicy`: defaults applied (`default: allow`, `action: evaluate`, increment 1)
 * and the `rate_limit: N/window` shorthand expanded into its counter and condition. Every node
 * keeps the JSON pointer and position it came from, so the import report can point at it.
 */
export interface InterceptPolicy {
  readonly file: string;
  readonly description: string | undefined;
  readonly default: 'allow' | 'deny';
  /** The `hide` entries, in order (may include `"*"`). */
  readonly hide: readonly string[];
  /** Tools in the order written, including the wildcard `"*"` when present. */
  readonly tools: readonly InterceptTool[];
}

/** A 1-based place in the source file, with the JSON pointer of the node. */
export interface InterceptSource {
  readonly pointer: string;
  readonly line: number;
  readonly column: number;
}

/** One entry of `tools`: a tool name (or `"*"`) and its rules. */
export interface InterceptTool {
  readonly name: string;
  readonly rules: readonly InterceptRule[];
  readonly source: InterceptSource;
}

/** A window of an Intercept counter: calendar-aligned in UTC. */
export type InterceptWindow = 'minute' | 'hour' | 'day';

/** The operators of Intercept conditions. */
export const INTERCEPT_OPERATORS = ['eq', 'neq', 'in', 'not_in', 'lt', 'lte', 'gt', 'gte', 'regex', 'contains', 'exists'] as const;

/** An operator of an Intercept condition. */
export type InterceptOperator = (typeof INTERCEPT_OPERATORS)[number];

/** One condition: `path` (`args.…` or `state.<scope>.<counter>`), `op` and `value`. */
export interface InterceptCondition {
  readonly path: string;
  readonly op: InterceptOperator;
  readonly value: unknown;
  readonly source: InterceptSource;
}

/** A rule's `state` block: a counter over a window, incremented by `increment` or by an argument. */
export interface InterceptState {
  readonly counter: string;
  readonly window: InterceptWindow;
  /** The fixed increment (default 1). */
  readonly increment: number;
  /** `args.<field>` whose value is added instead of `increment`. */
  readonly incrementFrom: string | undefined;
}

/** One rule of a tool, after defaults and `rate_limit` expansion. */
export interface InterceptRule {
  /** The tool the rule is written under (`"*"` for wildcard rules). */
  readonly tool: string;
  /** Its index in the tool's `rules`. */
  readonly index: number;
  /** `tools.<tool>.rules[<index>]`, the rule's place as Intercept's own errors name it. */
  readonly place: string;
  readonly name: string;
  readonly action: 'evaluate' | 'deny';
  readonly conditions: readonly InterceptCondition[];
  /** The message of a denial: `on_deny`, or the message Intercept generates for a `rate_limit`. */
  readonly onDeny: string | undefined;
  readonly state: InterceptState | undefined;
  /** The `rate_limit` shorthand the rule was written with, if any. */
  readonly rateLimit: { readonly count: number; readonly window: InterceptWindow } | undefined;
  readonly source: InterceptSource;
}

/** The counter scope of a tool's rules: the tool's name, or `_global` for the wildcard. */
export function counterScope(tool: string): string {
  return tool === '*' ? '_global' : tool;
}
