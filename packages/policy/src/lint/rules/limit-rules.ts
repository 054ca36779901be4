import { resolveArgumentPath } from '../../catalog/argument-path-resolver.js';
import type { Limit } from '../../generated/policy-types.js';
import { parsePath } from '../../compile/path-expression.js';
import { pointerOf } from '../../parse/source-document.js';
import { describeTypes, reportUnknownArgument } from './argument-findings.js';
import type { LintContext, LintRuleFamily } from '../lint-context.js';

/** TG201/TG202 for `increment_from`: a spend cap needs a number, or it denies every call (fail closed). */
export const limitRules: LintRuleFamily = { activity: 'checking limits', codes: ['TG201', 'TG202'], check: checkLimits };

function checkLimits(ctx: LintContext): void {
  const allTools = ctx.policy.all_tools?.limits ?? [];
  allTools.forEach((limit, i) => checkAllToolsIncrement(ctx, limit, pointerOf('all_tools', 'limits', i)));
  for (const v of ctx.views) {
    (v.rule.limits ?? []).forEach((limit, i) => {
      if (limit.increment_from === undefined) return;
      const pointer = pointerOf('tools', v.name, 'limits', i, 'increment_from');
      const path = limit.increment_from;
      if (!readsArguments(ctx, pointer, path, `the spend limit denies every call to "${v.name}"`)) return;
      const tool = ctx.catalogTool(v.name);
      if (!tool) return;
      const r = resolveArgumentPath(tool, path);
      if (r.status === 'unknown') {
        reportUnknownArgument(ctx, pointer, v.name, path, r, 'increment_from: ');
      } else if (r.status === 'found' && r.types !== null && !r.types.includes('number') && !r.types.includes('integer')) {
        ctx.report('TG202', pointer, `increment_from ${path} is ${describeTypes(r.types)}, not a number: the spend limit denies every call to "${v.name}" (fail closed)`, { hint: 'point increment_from at a numeric argument' });
      }
    });
  }
}

function checkAllToolsIncrement(ctx: LintContext, limit: Limit, limitPointer: string): void {
  if (limit.increment_from === undefined) return;
  const pointer = `${limitPointer}/increment_from`;
  const path = limit.increment_from;
  if (!readsArguments(ctx, pointer, path, 'this limit denies every call to the server')) return;
  if (!ctx.catalog) return;
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const tool of ctx.catalog.tools) {
    if (!ctx.mayBeAllowed(tool.name)) continue;
    const r = resolveArgumentPath(tool, path);
    if (r.status === 'unknown') missing.push(tool.name);
    else if (r.status === 'found' && r.types !== null && !r.types.includes('number') && !r.types.includes('integer')) wrong.push(tool.name);
  }
  const list = (names: string[]): string => names.slice(0, 8).map((n) => `"${n}"`).join(', ') + (names.length > 8 ? ` and ${names.length - 8} more` : '');
  if (missing.length > 0) {
    ctx.report('TG201', pointer, `increment_from ${path}: ${list(missing)} ${missing.length === 1 ? 'has' : 'have'} no such argument, so this all_tools limit denies every call to ${missing.length === 1 ? 'it' : 'them'} (fail closed)`, {
      hint: 'move the spend limit to the tools that take this argument (tools.<tool>.limits)',
    });
  }
  if (wrong.length > 0) {
    ctx.report('TG202', pointer, `increment_from ${path} is not a number in ${list(wrong)}, so this all_tools limit denies every call to ${wrong.length === 1 ? 'it' : 'them'} (fail closed)`, {
      hint: 'move the spend limit to the tools whose argument is a number',
    });
  }
}

/**
 * Whether `increment_from` is a well-formed path into the arguments. A path into `agent` or
 * `session` reads a string, never a number: TG202, with `effect` saying what that does. (A
 * malformed path is the schema's to report.)
 */
function readsArguments(ctx: LintContext, pointer: string, path: string, effect: string): boolean {
  let root: string;
  try {
    root = parsePath(path).root;
  } catch {
    return false;
  }
  if (root === 'args') return true;
  ctx.report('TG202', pointer, `increment_from ${path} is a string, not a number: ${effect} (fail closed)`, { hint: 'point increment_from at a numeric argument, e.g. args.amount' });
  return false;
}
