import type { ToolRule } from '../../generated/policy-types.js';
import { pointerOf } from '../../parse/source-document.js';
import type { LintContext, LintRuleFamily } from '../lint-context.js';

/** TG110–TG112: a policy in shadow mode, a critical tool's rule in shadow, a shadow rule that changes nothing. */
export const shadowModeRules: LintRuleFamily = { activity: 'checking shadow mode', codes: ['TG110', 'TG111', 'TG112'], check: checkShadow };

function checkShadow(ctx: LintContext): void {
  const policy = ctx.policy;
  if (policy.shadow === true) {
    ctx.report('TG110', '/shadow', 'the policy is in shadow mode: it enforces nothing — every call is allowed and every tool listed; its decisions are only recorded (shadow_effect, shadow_rule)', {
      hint: 'remove "shadow": true to enforce the policy once its recorded decisions look right (audit_shadow_decisions in the ledger shows them)',
    });
    for (const v of ctx.views) {
      if (v.rule.shadow !== true) continue;
      ctx.report('TG112', pointerOf('tools', v.name, 'shadow'), `tools.${v.name}.shadow changes nothing: the whole policy is already in shadow mode`, {
        at: 'key',
        hint: 'remove it; to keep this tool in shadow once the policy is enforced, leave it and remove the top-level "shadow" instead',
      });
    }
    return;
  }
  const hideAll = ctx.hide.has('*');
  const enforced: 'allow' | 'deny' | 'hidden' = hideAll ? 'hidden' : policy.default;
  for (const v of ctx.views) {
    const { name, rule } = v;
    // A tool named in hide never reaches its rule: TG104 says so.
    if (rule.shadow !== true || v.hiddenByList) continue;
    if (decidesLikeDefault(rule, enforced)) {
      const by = hideAll ? 'hide "*"' : `default "${policy.default}"`;
      ctx.report('TG112', pointerOf('tools', name, 'shadow'), `tools.${name} is in shadow mode, but its rule decides every call as ${by} does: the shadow decision never differs from the enforced one`, {
        at: 'key',
        hint: `add the conditions, limits or action to try out in shadow, or remove tools.${name}`,
      });
    }
    if (enforced !== 'allow') continue;
    const classified = ctx.riskOf(name);
    if (!classified || classified.risk.level !== 'critical') continue;
    const { risk, catalogTool } = classified;
    const source = ctx.riskSource(risk, catalogTool);
    const serverLimits = (policy.all_tools?.limits?.length ?? 0) > 0;
    ctx.report('TG111', pointerOf('tools', name, 'shadow'), `"${name}" is a critical-risk tool (${risk.category}${source}) whose rule is in shadow mode: its calls are decided by default "allow"${serverLimits ? ' (only all_tools limits apply)' : ', with no condition, limit or approval in the way'}`, {
      at: 'key',
      hint: 'keep the tool\'s rule enforced (remove "shadow") until the change has been tried, or try it under default "deny"',
    });
  }
}

/** Whether a tool rule decides every call as a tool not in `tools` would be under `effect`. */
function decidesLikeDefault(rule: ToolRule, effect: 'allow' | 'deny' | 'hidden'): boolean {
  const restricts =
    (rule.require?.length ?? 0) > 0 ||
    (rule.deny_if?.length ?? 0) > 0 ||
    (rule.approve_if?.length ?? 0) > 0 ||
    (rule.limits?.length ?? 0) > 0 ||
    rule.rate_limit !== undefined;
  if (effect === 'allow') return !restricts && (rule.action === undefined || rule.action === 'allow');
  return rule.action === (effect === 'deny' ? 'deny' : 'hide');
}
