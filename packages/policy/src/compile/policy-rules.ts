import type { Policy, ToolRule } from '../generated/policy-types.js';
import { pointerOf } from '../parse/source-document.js';

/** The kinds of rule a decision can name. */
export type RuleKind = 'default' | 'hide' | 'action' | 'require' | 'deny_if' | 'approve_if' | 'limit' | 'rate_limit';

/** One rule of a policy: the id decisions report, where it is, and what it governs. */
export interface RuleInfo {
  /** The id decisions carry: the rule's own `id`, else its positional id. */
  readonly id: string;
  /** Its place in the document, e.g. `tools.cancel_order.deny_if[0]`. */
  readonly positionalId: string;
  readonly kind: RuleKind;
  /** The tool it belongs to; null for `default`, `hide` and `all_tools` limits. */
  readonly tool: string | null;
  /** JSON pointer of the rule in the policy document. */
  readonly pointer: string;
  /**
   * In shadow mode: the policy is (`"shadow": true` at the top level), or the rule belongs to
   * a tool rule that is. Such a rule decides only `Decision.shadow`, never the enforced decision.
   */
  readonly shadow: boolean;
}

/** The positional id of a tool's rule: `tools.<tool>.<part>`. */
export function toolRuleId(tool: string, part: string): string {
  return `tools.${tool}.${part}`;
}

/**
 * Lists every rule of a (schema-valid) policy in evaluation order: `hide`, `default`, then
 * `all_tools` limits, then each tool's action, require, deny_if, approve_if, limits and
 * rate_limit. Tests use it for coverage; lint for duplicate ids and reachability. Rules in
 * shadow mode are marked `shadow` (every rule of a policy in shadow; the rules of a tool rule
 * in shadow; `hide`, `default` and `all_tools` limits stay enforced in the latter case).
 */
export function listRules(policy: Policy): RuleInfo[] {
  const rules: RuleInfo[] = [];
  const shadow = policy.shadow === true;
  if (policy.hide && policy.hide.length > 0) rules.push({ id: 'hide', positionalId: 'hide', kind: 'hide', tool: null, pointer: '/hide', shadow });
  rules.push({ id: 'default', positionalId: 'default', kind: 'default', tool: null, pointer: '/default', shadow });
  (policy.all_tools?.limits ?? []).forEach((limit, i) => {
    const positionalId = `all_tools.limits[${i}]`;
    rules.push({ id: limit.id ?? positionalId, positionalId, kind: 'limit', tool: null, pointer: pointerOf('all_tools', 'limits', i), shadow });
  });
  for (const [tool, rule] of Object.entries(policy.tools ?? {})) {
    if (rule) rules.push(...toolRules(tool, rule, shadow || rule.shadow === true));
  }
  return rules;
}

function toolRules(tool: string, rule: ToolRule, shadow: boolean): RuleInfo[] {
  const out: RuleInfo[] = [];
  const add = (part: string, kind: RuleKind, pointer: string, id?: string): void => {
    const positionalId = toolRuleId(tool, part);
    out.push({ id: id ?? positionalId, positionalId, kind, tool, pointer, shadow });
  };
  if (rule.action) add('action', 'action', pointerOf('tools', tool, 'action'));
  (rule.require ?? []).forEach((_, i) => add(`require[${i}]`, 'require', pointerOf('tools', tool, 'require', i)));
  (rule.deny_if ?? []).forEach((r, i) => add(`deny_if[${i}]`, 'deny_if', pointerOf('tools', tool, 'deny_if', i), r.id));
  (rule.approve_if ?? []).forEach((r, i) => add(`approve_if[${i}]`, 'approve_if', pointerOf('tools', tool, 'approve_if', i), r.id));
  (rule.limits ?? []).forEach((l, i) => add(`limits[${i}]`, 'limit', pointerOf('tools', tool, 'limits', i), l.id));
  if (rule.rate_limit) add('rate_limit', 'rate_limit', pointerOf('tools', tool, 'rate_limit'));
  return out;
}
