import { pointerOf } from '../../parse/source-document.js';
import type { LintContext, LintRuleFamily, ToolView } from '../lint-context.js';

/** TG104 for approval fields nothing reads, TG113 for approvals no one can give. */
export const approvalRules: LintRuleFamily = {
  activity: 'checking approvals',
  codes: ['TG104', 'TG113'],
  check: (ctx) => ctx.views.forEach((v) => checkApprovals(ctx, v)),
};

/** What a tool rule says about its approvals; only `action: "approve"` reads them. */
const APPROVAL_FIELDS = ['approvers', 'timeout', 'min_approvals'] as const;
/** The approver that stands for the agent's own user, who approves in-band (DESIGN §5). */
const USER_APPROVER = 'user';

function checkApprovals(ctx: LintContext, v: ToolView): void {
  const { name, rule } = v;
  const fields = APPROVAL_FIELDS.filter((f) => rule[f] !== undefined);
  if (rule.action !== 'approve') {
    // A hidden tool's rule never runs at all; the hidden-tool rules say so once.
    if (v.hiddenByList) return;
    const hasApproveIf = (rule.approve_if ?? []).length > 0;
    for (const field of fields) {
      const first = hasApproveIf ? `tools.${name}.approve_if[0].${field}` : undefined;
      ctx.report('TG104', pointerOf('tools', name, field), `tools.${name}.${field} is never used: on a tool rule, approvers, timeout and min_approvals only go with action "approve"${rule.action ? ` (this tool's action is "${rule.action}")` : ' (this tool has no action)'}`, {
        at: 'key',
        hint: first ? `move it to the approve_if rule it is meant for, e.g. ${first}` : `add action "approve" to hold every call for approval, or remove ${field}`,
      });
    }
  } else {
    checkApprovalRequirement(ctx, name, pointerOf('tools', name), `action "approve" of "${name}"`, rule);
  }
  (rule.approve_if ?? []).forEach((r, j) => checkApprovalRequirement(ctx, name, pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}]`, r));
}

function checkApprovalRequirement(ctx: LintContext, tool: string, pointer: string, what: string, r: { approvers?: string[]; min_approvals?: number }): void {
  const approvers = r.approvers;
  if (approvers === undefined) return;
  if (approvers.length === 0) {
    ctx.report('TG113', `${pointer}/approvers`, `${what} can never be approved: "approvers" is empty, so no one may decide its requests and every call to "${tool}" it holds expires`, {
      hint: 'name the approver ids or groups who may approve, or remove "approvers" to let any configured approver decide',
    });
    return;
  }
  const min = r.min_approvals ?? 1;
  if (min > 1 && approvers.length === 1 && approvers[0] === USER_APPROVER) {
    ctx.report('TG113', `${pointer}/min_approvals`, `${what} can never be approved: it needs ${min} distinct approvers, but "approvers" is ["user"], the agent's own user, who is one person`, {
      hint: 'add the approver ids or groups who make up the other approvals (e.g. ["user", "risk-desk"]), or set min_approvals to 1',
    });
  }
}
