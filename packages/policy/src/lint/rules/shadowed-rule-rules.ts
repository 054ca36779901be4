import { canonicalJson } from '../../canonical-json.js';
import type { Condition } from '../../generated/policy-types.js';
import { pointerOf } from '../../parse/source-document.js';
import type { LintContext, LintRuleFamily, ToolView } from '../lint-context.js';

/** TG105: a deny_if or approve_if rule that an earlier rule always decides first. */
export const shadowedRuleRules: LintRuleFamily = {
  activity: 'checking shadowed rules',
  codes: ['TG105'],
  check: (ctx) => ctx.views.forEach((v) => checkShadowing(ctx, v)),
};

function checkShadowing(ctx: LintContext, v: ToolView): void {
  if (!v.checksRun) return;
  const { name, rule } = v;
  const denyIf = (rule.deny_if ?? []).map((r) => conditionKeys(r.conditions));
  const approveIf = (rule.approve_if ?? []).map((r) => conditionKeys(r.conditions));
  const shadowedBy = (keys: ReadonlySet<string>, earlier: readonly ReadonlySet<string>[], upTo: number): number => {
    for (let i = 0; i < upTo; i++) {
      const e = earlier[i]!;
      // An earlier rule with no conditions makes the later one unreachable: TG104 says so.
      if (e.size === 0) return -1;
      if ([...e].every((k) => keys.has(k))) return i;
    }
    return -1;
  };
  denyIf.forEach((keys, j) => {
    if (v.denyAll >= 0 && j > v.denyAll) return;
    const i = shadowedBy(keys, denyIf, j);
    if (i < 0) return;
    ctx.report('TG105', pointerOf('tools', name, 'deny_if', j), `tools.${name}.deny_if[${j}] never decides: every call it matches is denied first by deny_if[${i}], whose conditions it includes`, {
      hint: `remove it, merge it into deny_if[${i}], or move it before deny_if[${i}] if its on_deny should win`,
    });
  });
  if (rule.action === 'approve' || v.denyAll >= 0) return;
  approveIf.forEach((keys, j) => {
    if (v.approveAll >= 0 && j > v.approveAll) return;
    const d = shadowedBy(keys, denyIf, denyIf.length);
    if (d >= 0) {
      ctx.report('TG105', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never holds a call: every call it matches is denied first by deny_if[${d}], whose conditions it includes`, {
        hint: `remove it, or narrow deny_if[${d}] if such calls should be approved instead`,
      });
      return;
    }
    const i = shadowedBy(keys, approveIf, j);
    if (i < 0) return;
    ctx.report('TG105', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never decides: every call it matches is held first by approve_if[${i}], whose conditions it includes`, {
      hint: `remove it, merge it into approve_if[${i}], or move it first if its approvers or timeout should win`,
    });
  });
}

/** Canonical keys of conditions as they decide (without on_deny), for shadowing. */
function conditionKeys(conditions: readonly Condition[]): Set<string> {
  return new Set(
    conditions.map((c) => {
      const key: Record<string, unknown> = { path: c.path, op: c.op };
      if (c.op === 'exists') key.value = c.value ?? true;
      else if (c.value !== undefined) key.value = c.value;
      if (c.op === 'regex' && c.flags) key.flags = [...c.flags].sort().join('');
      try {
        return canonicalJson(key);
      } catch {
        return JSON.stringify(key);
      }
    }),
  );
}
