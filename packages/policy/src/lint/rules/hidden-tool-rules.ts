import { pointerOf } from '../../parse/source-document.js';
import type { LintContext, LintRuleFamily } from '../lint-context.js';

/** TG104 for `hide`: tool rules of hidden tools, and a `default` that `hide: ["*"]` overrides. */
export const hiddenToolRules: LintRuleFamily = { activity: 'checking hidden tools', codes: ['TG104'], check: checkHide };

function checkHide(ctx: LintContext): void {
  for (const v of ctx.views) {
    if (!v.hiddenByList) continue;
    const i = (ctx.policy.hide ?? []).indexOf(v.name);
    ctx.report('TG104', v.pointer, `tools.${v.name} never runs: "${v.name}" is in hide (at ${ctx.where(pointerOf('hide', i))}), and a hidden tool is answered as unknown before any of its rules`, {
      at: 'key',
      hint: `remove "${v.name}" from hide to enforce these rules, or remove tools.${v.name}`,
    });
  }
  if (ctx.hide.has('*') && ctx.policy.default === 'allow') {
    ctx.report('TG104', '/default', 'default "allow" never applies: hide contains "*", which hides every tool not listed in tools', {
      hint: 'set default to "deny" to say what happens, or remove "*" from hide to let unlisted tools through',
    });
  }
}
