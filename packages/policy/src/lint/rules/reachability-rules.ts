import { pointerOf } from '../../parse/source-document.js';
import type { LintContext, LintRuleFamily, ToolView } from '../lint-context.js';

/** TG104: rules the evaluation order never reaches, and fields nothing reads. */
export const reachabilityRules: LintRuleFamily = {
  activity: 'checking reachability',
  codes: ['TG104'],
  check: (ctx) => ctx.views.forEach((v) => checkReachability(ctx, v)),
};

const ARRAY_SECTIONS = ['require', 'deny_if', 'approve_if', 'limits'] as const;

function checkReachability(ctx: LintContext, v: ToolView): void {
  // A tool named in hide never runs at all; the hidden-tool rules say so once.
  if (v.hiddenByList) return;
  const { name, rule } = v;
  const at = (key: string): string => pointerOf('tools', name, key);
  const present = (key: (typeof ARRAY_SECTIONS)[number] | 'rate_limit'): boolean =>
    key === 'rate_limit' ? rule.rate_limit !== undefined : (rule[key]?.length ?? 0) > 0;
  if (rule.action === 'deny' || rule.action === 'hide') {
    const verdict = rule.action === 'deny' ? 'denies' : 'hides';
    for (const key of [...ARRAY_SECTIONS, 'rate_limit'] as const) {
      if (!present(key)) continue;
      ctx.report('TG104', at(key), `tools.${name}.${key} never runs: action "${rule.action}" ${verdict} every call to "${name}" first`, {
        at: 'key',
        hint: `remove ${key}, or remove action "${rule.action}" if the tool should be allowed under these rules`,
      });
    }
  }
  if (rule.action === 'allow') {
    for (const key of ['require', 'deny_if', 'approve_if'] as const) {
      if (!present(key)) continue;
      ctx.report('TG104', at(key), `tools.${name}.${key} never runs: action "allow" skips require, deny_if and approve_if (only limits apply)`, {
        at: 'key',
        hint: `remove action "allow" to enforce ${key}, or remove ${key}`,
      });
    }
  }
  if (v.checksRun && rule.action === 'approve' && present('approve_if')) {
    ctx.report('TG104', at('approve_if'), `tools.${name}.approve_if never runs: action "approve" already holds every call for approval`, {
      at: 'key',
      hint: 'remove approve_if, or remove action "approve" to hold only the calls approve_if matches',
    });
  }
  if (v.checksRun) {
    const denyIf = rule.deny_if ?? [];
    if (v.denyAll >= 0) {
      const by = `tools.${name}.deny_if[${v.denyAll}] has no conditions and denies every call first`;
      for (let j = v.denyAll + 1; j < denyIf.length; j++) {
        ctx.report('TG104', pointerOf('tools', name, 'deny_if', j), `tools.${name}.deny_if[${j}] never runs: ${by}`, { hint: 'remove it, or give the earlier rule conditions' });
      }
      if (rule.action === 'approve') {
        ctx.report('TG104', at('action'), `action "approve" never applies: ${by}`, { hint: 'remove one of the two' });
      } else if (present('approve_if')) {
        ctx.report('TG104', at('approve_if'), `tools.${name}.approve_if never runs: ${by}`, { at: 'key', hint: 'remove approve_if, or give the deny_if rule conditions' });
      }
      for (const key of ['limits', 'rate_limit'] as const) {
        if (!present(key)) continue;
        ctx.report('TG104', at(key), `tools.${name}.${key} never counts a call: ${by}`, { at: 'key', hint: `remove ${key}, or give the deny_if rule conditions` });
      }
    }
    const approveIf = rule.approve_if ?? [];
    if (v.approveAll >= 0 && v.denyAll < 0 && rule.action !== 'approve') {
      for (let j = v.approveAll + 1; j < approveIf.length; j++) {
        ctx.report('TG104', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never runs: approve_if[${v.approveAll}] has no conditions and holds every call first`, {
          hint: 'remove it, or give the earlier rule conditions',
        });
      }
    }
  }
  if (rule.reason !== undefined && rule.action !== 'deny' && rule.action !== 'approve') {
    ctx.report('TG104', at('reason'), `tools.${name}.reason is never shown: only action "deny" and action "approve" use it${rule.action ? ` (this tool's action is "${rule.action}")` : ' (this tool has no action)'}`, {
      at: 'key',
      severity: 'warning',
      hint: 'for deny_if give the rule an on_deny; for approve_if give the rule a reason; for require give the condition an on_deny',
    });
  }
  for (const section of ['deny_if', 'approve_if'] as const) {
    (rule[section] ?? []).forEach((r, j) => {
      r.conditions.forEach((c, i) => {
        if (c.on_deny === undefined) return;
        ctx.report('TG104', pointerOf('tools', name, section, j, 'conditions', i, 'on_deny'), `on_deny on a condition is only used in require; in ${section} it is never shown`, {
          at: 'key',
          hint: section === 'deny_if' ? `move it to the rule: tools.${name}.deny_if[${j}].on_deny` : `use the rule's reason: tools.${name}.approve_if[${j}].reason`,
        });
      });
    });
  }
}
