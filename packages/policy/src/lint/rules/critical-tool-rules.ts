import { toolRisk, type RiskClass } from '../../catalog/risk-classifier.js';
import type { LintContext, LintRuleFamily } from '../lint-context.js';

/** TG204: a critical-risk tool an agent can call with no condition, limit or approval in the way. */
export const criticalToolRules: LintRuleFamily = { activity: 'checking critical tools', codes: ['TG204'], check: checkCriticalTools };

function checkCriticalTools(ctx: LintContext): void {
  const policy = ctx.policy;
  const serverLimits = (policy.all_tools?.limits?.length ?? 0) > 0;
  const message = (name: string, risk: RiskClass, how: string, source: string): string =>
    `"${name}" is a critical-risk tool (${risk.category}${source}) and ${how} with no condition, limit or approval`;
  const hint = 'add require/deny_if conditions, a limit or rate_limit, approve_if or action "approve" — or deny or hide it';
  for (const v of ctx.views) {
    const { name, rule } = v;
    if (v.hiddenByList || rule.action === 'deny' || rule.action === 'hide' || rule.action === 'approve') continue;
    // A rule in shadow mode guards nothing: TG111 speaks for it.
    if (rule.shadow === true && policy.shadow !== true) continue;
    const classified = ctx.riskOf(name);
    if (!classified) continue; // TG200 already.
    const { risk, catalogTool } = classified;
    if (risk.level !== 'critical') continue;
    const limited = serverLimits || (rule.limits?.length ?? 0) > 0 || rule.rate_limit !== undefined;
    const conditioned = rule.action !== 'allow' && v.denyAll < 0 && ((rule.require?.length ?? 0) > 0 || (rule.deny_if?.length ?? 0) > 0 || (rule.approve_if?.length ?? 0) > 0);
    if (v.denyAll >= 0 && rule.action !== 'allow') continue; // every call is denied
    if (limited || conditioned) continue;
    const how = rule.action === 'allow' ? 'is allowed by action "allow"' : 'is allowed';
    const source = ctx.riskSource(risk, catalogTool);
    ctx.report('TG204', v.pointer, message(name, risk, how, source), { at: 'key', hint });
  }
  if (!ctx.catalog || policy.default !== 'allow' || ctx.hide.has('*') || serverLimits) return;
  for (const tool of ctx.catalog.tools) {
    if (policy.tools?.[tool.name] !== undefined || ctx.hide.has(tool.name)) continue;
    const risk = toolRisk(tool);
    if (risk.level !== 'critical') continue;
    const source = risk.source === 'catalog' ? `, per ${ctx.catalogName}` : ', classified from its name and annotations';
    ctx.report('TG204', '/default', message(tool.name, risk, 'is allowed by default "allow"', source), {
      hint: `list "${tool.name}" in tools with conditions, limits or an approval, hide it, or set default to "deny"`,
    });
  }
}
