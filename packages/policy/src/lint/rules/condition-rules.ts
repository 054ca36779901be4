import { resolveArgumentPath, type ArgumentResolution } from '../../catalog/argument-path-resolver.js';
import { jsonEqual } from '../../json-value.js';
import { parsePath } from '../../compile/path-expression.js';
import { compileRegex } from '../../compile/regex-compiler.js';
import { describeTypes, describeValue, fits, pathSegments, pathText, reportUnknownArgument } from './argument-findings.js';
import type { ConditionSite, LintContext, LintRuleFamily } from '../lint-context.js';
import { analyseRegex, DEFAULT_REGEX_TIMEOUT_MS } from '../regex-safety.js';

/**
 * Each condition on its own: TG106 empty lists, TG101 ReDoS-prone patterns, and against the
 * catalog TG201 unknown arguments, TG202 operator/type mismatches, TG203/TG207 conditions a
 * call bypasses by leaving an optional argument out.
 */
export const conditionRules: LintRuleFamily = {
  activity: 'checking conditions',
  codes: ['TG101', 'TG106', 'TG201', 'TG202', 'TG203', 'TG207'],
  check: (ctx) => ctx.sites.forEach((s) => checkCondition(ctx, s)),
};

function checkCondition(ctx: LintContext, site: ConditionSite): void {
  const c = site.condition;
  const value: unknown = c.value;
  if ((c.op === 'in' || c.op === 'not_in') && Array.isArray(value) && value.length === 0) {
    ctx.report('TG106', `${site.pointer}/value`, `"${c.op}" with an empty list never holds${c.op === 'not_in' ? ' (not_in is false for a value whose type matches no member, and an empty list has no members)' : ''}`, {
      hint: c.op === 'in' ? 'list the allowed values, or remove the condition' : `list the values to exclude; to test presence use { "path": "${c.path}", "op": "exists" }`,
    });
  }
  if (c.op === 'regex' && typeof value === 'string' && ctx.options.checkRegexSafety !== false) checkRegex(ctx, site, value, c.flags ?? '');
  let root: 'args' | 'agent' | 'session';
  try {
    root = parsePath(c.path).root;
  } catch {
    return;
  }
  if (root !== 'args') {
    // agent.id, agent.labels.<key> and session.id are always strings, set by the gateway.
    checkOperand(ctx, site, c.path, { types: ['string'], itemTypes: null });
    return;
  }
  const tool = ctx.catalogTool(site.tool);
  if (!tool) return;
  const resolution = resolveArgumentPath(tool, c.path);
  if (resolution.status === 'unknown') {
    reportUnknownArgument(ctx, `${site.pointer}/path`, site.tool, c.path, resolution);
    return;
  }
  if (resolution.status === 'found') checkOperand(ctx, site, c.path, resolution);
  if ((site.section === 'deny_if' || site.section === 'approve_if') && site.reachable && c.op !== 'exists') checkOmission(ctx, site, resolution);
}

function checkRegex(ctx: LintContext, site: ConditionSite, pattern: string, flags: string): void {
  try {
    compileRegex(pattern, flags);
  } catch {
    return; // TG100 from the compiler already reports it.
  }
  const verdict = analyseRegex(pattern, flags, ctx.options.regexTimeoutMs ?? DEFAULT_REGEX_TIMEOUT_MS);
  const shown = JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern);
  if (verdict.status === 'vulnerable') {
    ctx.report('TG101', `${site.pointer}/value`, `regex ${shown} is open to catastrophic backtracking (ReDoS, ${verdict.complexity}): an input like ${verdict.attack} makes matching take ${verdict.complexity?.includes('exponential') ? 'exponential' : 'polynomial'} time`, {
      hint: 'remove nested or overlapping quantifiers such as (a+)+, (a|a)* or \\s*x*\\s*, anchor the pattern, and bound repetition with {m,n}',
    });
  } else if (verdict.status === 'unknown') {
    ctx.report('TG101', `${site.pointer}/value`, `regex ${shown} could not be proven safe from catastrophic backtracking: ${verdict.reason}`, {
      severity: 'warning',
      hint: 'simplify the pattern, with fewer nested quantifiers and alternations, so it can be checked',
    });
  }
}

// TG202: operator and operand against the argument's JSON Schema type(s) and enum.
function checkOperand(ctx: LintContext, site: ConditionSite, path: string, r: Pick<ArgumentResolution, 'types' | 'enum' | 'itemTypes'>): void {
  const types = r.types;
  if (types === null) return;
  const c = site.condition;
  const value: unknown = c.value;
  const is = `${path} is ${describeTypes(types)}`;
  const never = 'so the condition can never hold';
  switch (c.op) {
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const kind = typeof value === 'number' ? 'number' : 'string';
      if (fits(kind === 'number' ? 0.5 : '', types) || (kind === 'number' && types.includes('integer'))) return;
      ctx.report('TG202', `${site.pointer}/value`, `${is}, but "${c.op}" ${JSON.stringify(value)} compares ${kind}s (comparisons never convert types), ${never}`, {
        hint: types.includes('string') || types.includes('number') || types.includes('integer') ? `compare with a ${types.includes('string') ? 'string' : 'number'} value` : `"${c.op}" works on numbers and strings; use eq, in or exists for ${describeTypes(types)}`,
      });
      return;
    }
    case 'regex':
      if (types.includes('string')) return;
      ctx.report('TG202', `${site.pointer}/op`, `${is}, but "regex" matches strings only, ${never}`, { hint: `use eq, in or a comparison for ${describeTypes(types)}` });
      return;
    case 'contains': {
      const onString = typeof value === 'string' && types.includes('string');
      const onArray = types.includes('array') && (r.itemTypes === null || fits(value, r.itemTypes));
      if (onString || onArray) return;
      if (!types.includes('string') && !types.includes('array')) {
        ctx.report('TG202', `${site.pointer}/op`, `${is}, but "contains" works on strings and arrays only, ${never}`, { hint: 'use eq or in to test a single value' });
      } else {
        const target = types.includes('array') ? `an array of ${describeTypes(r.itemTypes ?? [], true)}` : 'a string';
        ctx.report('TG202', `${site.pointer}/value`, `${path} is ${target}, so it can never contain ${JSON.stringify(value)}`, {
          hint: types.includes('array') ? `look for ${describeTypes(r.itemTypes ?? [])} element` : 'look for a substring: a string value',
        });
      }
      return;
    }
    case 'eq':
    case 'neq': {
      if (!fits(value, types)) {
        ctx.report('TG202', `${site.pointer}/value`, `${is}, but ${JSON.stringify(value)} is ${describeValue(value)} (no type conversion), ${c.op === 'eq' ? never : 'so "neq" is false for every valid call (a value of another type never satisfies neq)'}`, {
          hint: `compare with ${describeTypes(types)}`,
        });
        return;
      }
      if (c.op === 'eq' && r.enum && !r.enum.some((e) => jsonEqual(e, value))) {
        ctx.report('TG202', `${site.pointer}/value`, `${path} is one of ${r.enum.map((e) => JSON.stringify(e)).join(', ')}, so eq ${JSON.stringify(value)} ${never}`, { hint: 'use one of the allowed values' });
      }
      return;
    }
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value) || value.length === 0) return;
      const fitting = value.filter((m) => fits(m, types));
      if (fitting.length === 0) {
        ctx.report('TG202', `${site.pointer}/value`, `${is}, but no member of the list is (no type conversion), ${c.op === 'in' ? never : 'so "not_in" is false for every valid call'}`, { hint: `list ${describeTypes(types, false, true)} values` });
        return;
      }
      value.forEach((m, i) => {
        if (!fits(m, types)) {
          ctx.report('TG202', `${site.pointer}/value/${i}`, `${is}: the member ${JSON.stringify(m)} is ${describeValue(m)} and can never match`, { severity: 'warning', hint: 'remove it, or write it with the argument\'s type' });
        }
      });
      if (c.op === 'in' && r.enum) {
        const enumValues = r.enum;
        const inside = fitting.filter((m) => enumValues.some((e) => jsonEqual(e, m)));
        if (inside.length === 0) {
          ctx.report('TG202', `${site.pointer}/value`, `${path} is one of ${enumValues.map((e) => JSON.stringify(e)).join(', ')}, and no member of the list is, ${never}`, { hint: 'list allowed values' });
          return;
        }
        value.forEach((m, i) => {
          if (fits(m, types) && !enumValues.some((e) => jsonEqual(e, m))) {
            ctx.report('TG202', `${site.pointer}/value/${i}`, `${path} is one of ${enumValues.map((e) => JSON.stringify(e)).join(', ')}: the member ${JSON.stringify(m)} can never match`, { severity: 'warning', hint: 'remove it' });
          }
        });
      }
      return;
    }
    case 'exists':
      return;
  }
}

// TG203/TG207: a deny_if/approve_if condition on an argument a valid call may leave out.
function checkOmission(ctx: LintContext, site: ConditionSite, r: ArgumentResolution): void {
  if (r.required) return;
  const path = site.condition.path;
  const rule = ctx.policy.tools?.[site.tool];
  // A require condition on the path (or below it) denies calls that leave it out, before deny_if runs.
  const guarded = (rule?.require ?? []).some((q) => !(q.op === 'exists' && q.value === false) && (q.path === path || q.path.startsWith(`${path}.`) || q.path.startsWith(`${path}[`)));
  if (guarded) return;
  const step = r.steps.find((s) => !s.required);
  const optional = step === undefined ? path : pathText(pathSegments(path).slice(0, r.steps.indexOf(step) + 1));
  const deny = site.section === 'deny_if';
  const ruleId = `tools.${site.tool}.${site.section}[${site.rule ?? 0}]`;
  ctx.report(deny ? 'TG203' : 'TG207', `${site.pointer}/path`,
    `${optional} is optional for "${site.tool}": a call that leaves it out skips ${ruleId}, so the ${deny ? 'deny' : 'approval'} is bypassable by omission`,
    { hint: `add { "path": "${path}", "op": "exists" } to tools.${site.tool}.require so calls without it are denied, or express the check as a require condition` });
}
