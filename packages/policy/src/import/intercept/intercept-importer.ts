import type { Diagnostic } from '../../diagnostic.js';
import { PolicyError } from '../../diagnostic.js';
import type { Condition, Limit, Policy, ToolRule } from '../../generated/policy-types.js';
import { formatJsonValue } from '../../format/policy-formatter.js';
import { tryCompilePolicy } from '../../compile/policy-compiler.js';
import type { ImportDifference, ImportDifferenceCode, ImportedRule, ImportLocation, ImportNote, InterceptImport, RuleTarget } from './intercept-import-report.js';
import { counterScope, type InterceptCondition, type InterceptPolicy, type InterceptRule, type InterceptSource, type InterceptTool } from './intercept-policy.js';
import { readInterceptPolicy, splitInlineFlags, type IgnoredKey } from './intercept-policy-reader.js';

/** The result of {@link importInterceptPolicy}: the import, or the reasons the file could not be read. */
export interface InterceptImportResult {
  readonly result: InterceptImport | undefined;
  /** Syntax (TG001, TG002) and Intercept validation (TG400) errors with file:line:col; empty on success. */
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * Turns a policy in Intercept's YAML format into an equivalent Tollgate policy, and reports
 * what each Intercept rule became and every semantic difference that could not be avoided.
 * The mapping (docs/migrating-from-intercept.md):
 * - each `evaluate` rule's argument conditions become `require` conditions, in rule order,
 *   each with its rule's `on_deny`, so the first failing rule's message wins as in Intercept;
 *   wildcard (`"*"`) rules follow each listed tool's own rules;
 * - a `deny` rule becomes `action: deny` when it is the tool's first rule, else an empty
 *   `deny_if` rule after the earlier rules' `require` conditions;
 * - a counter (`state`, or `rate_limit: N/window`) bounded by `lt`/`lte` on its own path becomes
 *   a global-scope limit of the same window (post-increment against the bound: `lte N` is at
 *   most N); a tool's counters go to its `limits`, wildcard counters to `all_tools.limits`;
 * - `hide` is kept (`"*"` also hides every listed tool, as in Intercept); `default` is kept,
 *   unless wildcard conditions would have to apply to unlisted tools, which Tollgate cannot do.
 * Pure: text in, result out.
 *
 * @throws PolicyError `import.invalid-output` if the policy built does not compile (a bug).
 * @example
 * const { result, diagnostics } = importInterceptPolicy(text, 'stripe.yaml');
 * if (result) writeFileSync('policies/stripe/policy.json', result.text);
 */
export function importInterceptPolicy(text: string, file: string): InterceptImportResult {
  const read = readInterceptPolicy(text, file);
  if (!read.policy) return { result: undefined, diagnostics: read.diagnostics };
  return { result: new Importer(read.policy, read.ignored).run(), diagnostics: [] };
}

/** A condition that never holds: `in` an empty list. It fails closed where a path cannot be written. */
const NEVER = { path: 'session.id', op: 'in', value: [] } as const;

/** Whether a loose comparison by text (Go's `%v`) could make a value of another type equal to this operand. */
function looselyAmbiguous(operand: unknown): boolean {
  if (typeof operand !== 'string') return true;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(operand) || operand === 'true' || operand === 'false' || operand === '<nil>' || operand.startsWith('[') || operand.startsWith('map[') || /^[+-]?Inf$|^NaN$/.test(operand);
}

function location(at: string, source: InterceptSource): ImportLocation {
  return { at, line: source.line, column: source.column };
}

function conditionText(c: InterceptCondition): string {
  return `${c.path} ${c.op} ${JSON.stringify(c.value ?? null)}`;
}

/**
 * A rule's counter as Tollgate can enforce it: a `limit`; or, when its bound admits no call
 * at all (`lte 0` on a call count), a `deny` after every condition; or, for a spend bound of
 * exactly 0, a `zero` requirement on the amount (Tollgate limits need a max above 0).
 */
interface PendingLimit {
  readonly rule: InterceptRule;
  readonly mode: 'limit' | 'deny' | 'zero';
  readonly limit: Limit;
  readonly detail: string;
}

class Importer {
  private readonly differences: ImportDifference[] = [];
  private readonly reported = new Set<string>();
  private readonly notes: ImportNote[] = [];
  private readonly targets = new Map<InterceptRule, RuleTarget[]>();

  constructor(
    private readonly source: InterceptPolicy,
    private readonly ignored: readonly IgnoredKey[],
  ) {}

  private differ(code: ImportDifferenceCode, at: string, where: InterceptSource, message: string): void {
    const key = `${code}\u0000${at}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.differences.push({ code, ...location(at, where), message });
  }

  private note(code: ImportNote['code'], at: string, where: InterceptSource, message: string): void {
    this.notes.push({ code, ...location(at, where), message });
  }

  private target(rule: InterceptRule, t: RuleTarget): void {
    const list = this.targets.get(rule) ?? [];
    if (!list.some((x) => x.kind === t.kind && x.rule === t.rule && x.detail === t.detail)) list.push(t);
    this.targets.set(rule, list);
  }

  run(): InterceptImport {
    const ip = this.source;
    const wildcard = ip.tools.find((t) => t.name === '*');
    const listed = ip.tools.filter((t) => t.name !== '*');
    const hideAll = ip.hide.includes('*');
    const hiddenByName = new Set(ip.hide.filter((h) => h !== '*'));
    const policy: Policy = { version: '1', description: ip.description ?? `Imported from the Intercept policy ${ip.file.split(/[\\/]/).pop()}.`, default: ip.default };
    const posture: RuleTarget[] = [];
    const top: InterceptSource = { pointer: '', line: 1, column: 1 };

    if (ip.hide.length > 0) {
      policy.hide = [...ip.hide];
      posture.push({ kind: 'hide', rule: 'hide', detail: `hide: ${ip.hide.map((h) => JSON.stringify(h)).join(', ')}${hideAll ? ' (every listed tool also gets action: hide)' : ''}` });
      this.note('hidden-answer', 'hide', top, 'Tollgate answers a call to a hidden tool as an unknown tool (JSON-RPC error -32602); Intercept answers it with a denial. Neither forwards it.');
    }

    // Wildcard rules: counters go to all_tools; conditions and deny rules follow each listed tool's rules.
    const wildcardRules = wildcard?.rules ?? [];
    const wildcardDenyAt = wildcardRules.findIndex((r) => this.deniesAlways(r));
    const wildcardLive = wildcardDenyAt < 0 ? wildcardRules : wildcardRules.slice(0, wildcardDenyAt + 1);
    for (const r of wildcardRules.slice(wildcardLive.length)) this.neverRuns(r, `it comes after the deny rule ${wildcardRules[wildcardDenyAt]!.place}`);
    const wildcardCounters: PendingLimit[] = [];
    if (wildcardDenyAt < 0) {
      for (const r of wildcardLive) {
        const pending = this.limitOf(r);
        if (pending) wildcardCounters.push(pending);
      }
    } else {
      for (const r of wildcardLive) if (r.state) this.neverRuns(r, `its counter never counts: every call reaches the deny rule ${wildcardRules[wildcardDenyAt]!.place}`, 'dropped');
    }
    // A wildcard counter that admits no call denies every call: then no counter ever counts.
    const wildcardDenies = wildcardCounters.some((p) => p.mode === 'deny');
    const allToolsLimits = wildcardDenies ? [] : wildcardCounters.filter((p) => p.mode === 'limit');
    const wildcardTail = wildcardDenies ? wildcardCounters.filter((p) => p.mode === 'deny').slice(0, 1) : wildcardCounters.filter((p) => p.mode === 'zero');
    if (wildcardDenies) for (const p of wildcardCounters.filter((x) => x.mode === 'limit')) this.neverRuns(p.rule, 'its counter never counts: another wildcard counter admits no call', 'dropped');
    allToolsLimits.forEach((p, i) => this.target(p.rule, { kind: 'all_tools', rule: `all_tools.limits[${i}]`, detail: p.detail }));
    if (allToolsLimits.length > 0) policy.all_tools = { limits: allToolsLimits.map((p) => p.limit) };

    const gatesUnlisted = [
      ...wildcardLive.filter((r) => this.deniesAlways(r) || r.conditions.some((c) => c.path.startsWith('args.'))),
      ...wildcardTail.map((p) => p.rule),
    ];
    if (ip.default === 'allow' && gatesUnlisted.length > 0) {
      policy.default = 'deny';
      posture.push({ kind: 'default', rule: 'default', detail: 'default: deny (Intercept: allow) — see wildcard-on-unlisted-tools' });
      for (const r of gatesUnlisted) {
        this.differ(
          'wildcard-on-unlisted-tools',
          r.place,
          r.source,
          this.deniesAlways(r)
            ? `Intercept denies every unlisted tool here with this rule's message; the import denies them by default: deny, with Tollgate's default-deny reason.`
            : `Intercept allows an unlisted tool when it passes this rule's conditions; Tollgate cannot apply conditions to unlisted tools, so the import denies them (default: deny). List each tool you need under tools; it then gets these conditions.`,
        );
        this.target(r, { kind: 'default', rule: 'default', detail: 'unlisted tools: denied by default (see wildcard-on-unlisted-tools)' });
      }
    } else {
      posture.push({ kind: 'default', rule: 'default', detail: `default: ${ip.default}${wildcard === undefined || ip.default === 'deny' ? '' : ' (unlisted tools still count against the wildcard limits)'}` });
    }

    const tools: Record<string, ToolRule> = {};
    for (const tool of listed) {
      if (hideAll) {
        tools[tool.name] = { action: 'hide' };
        for (const r of tool.rules) this.target(r, { kind: 'hide', rule: `tools.${tool.name}.action`, detail: 'hidden (hide: "*"): the rule never runs' });
        continue;
      }
      if (hiddenByName.has(tool.name)) {
        for (const r of tool.rules) this.target(r, { kind: 'hide', rule: 'hide', detail: 'the tool is hidden: the rule never runs' });
        continue;
      }
      tools[tool.name] = this.toolRule(tool, wildcardLive, allToolsLimits.length > 0, wildcardTail);
    }
    policy.tools = tools;

    if (policy.default === 'deny') this.note('default-deny-reason', 'default', top, 'An unlisted tool is denied with Tollgate\'s reason "not allowed by policy (default deny)" instead of Intercept\'s "not permitted by policy" message.');
    this.note('denial-prefix', '', top, 'Tollgate\'s denial text reads "[POLICY DENIED] <reason>" where Intercept\'s reads "[INTERCEPT POLICY DENIED] <reason>"; the reasons are the rules\' own on_deny messages.');
    if (Object.values(tools).some((t) => t.action === 'deny')) {
      this.note('denied-tools-listed', '', top, 'Tollgate leaves a tool it always denies (action: deny) out of tools/list; Intercept still lists it.');
    }
    for (const k of this.ignored) this.note('ignored-key', k.source.pointer, k.source, `"${k.key}" is not an Intercept key; Intercept ignores it, and so does the import (a misspelling?)`);

    const compiled = tryCompilePolicy(policy);
    if (!compiled.policy) {
      throw new PolicyError('import.invalid-output', `${ip.file}: the imported policy does not compile: ${compiled.diagnostics.map((d) => d.message).join('; ')}`, { diagnostics: compiled.diagnostics });
    }
    const rules: ImportedRule[] = ip.tools.flatMap((t) => t.rules.map((r) => ({ ...location(r.place, r.source), tool: r.tool, name: r.name, became: this.targets.get(r) ?? [] })));
    return {
      source: ip.file,
      policy,
      text: formatJsonValue(policy, 'policy'),
      exact: this.differences.length === 0,
      rules,
      posture,
      differences: [...this.differences].sort((a, b) => a.line - b.line || a.column - b.column),
      notes: this.notes,
    };
  }

  private neverRuns(rule: InterceptRule, why: string, kind: RuleTarget['kind'] = 'dropped'): void {
    this.target(rule, { kind, rule: null, detail: `never runs: ${why}` });
    this.note('rule-never-runs', rule.place, rule.source, `${rule.place} ("${rule.name}") never decides a call: ${why}.`);
  }

  /** One listed tool: its own rules, then the wildcard's, as require conditions, a deny, and limits. */
  private toolRule(tool: InterceptTool, wildcardRules: readonly InterceptRule[], wildcardHasLimits: boolean, wildcardTail: readonly PendingLimit[]): ToolRule {
    const t = tool.name;
    const entry: ToolRule = {};
    const require: Condition[] = [];
    const limits: PendingLimit[] = [];
    const rules = [...tool.rules, ...wildcardRules];
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (this.deniesAlways(r)) {
        const reason = r.onDeny ?? `Denied by rule "${r.name}"`;
        if (require.length === 0) {
          entry.action = 'deny';
          entry.reason = reason;
          this.target(r, { kind: 'action', rule: `tools.${t}.action`, detail: r.action === 'deny' ? 'action: deny' : 'action: deny (its counter bound admits not even 0, so the rule denies every call)' });
        } else {
          entry.deny_if = [{ conditions: [], on_deny: reason }];
          this.target(r, { kind: 'deny_if', rule: `tools.${t}.deny_if[0]`, detail: 'deny_if with no conditions, after the earlier rules\' require conditions' });
        }
        // Every call that gets this far is denied: later rules never run, earlier counters never count.
        for (const later of rules.slice(i + 1)) if (later.tool === t) this.neverRuns(later, `it comes after the deny rule ${r.place}`);
        for (const p of limits) if (p.rule.tool === t) this.neverRuns(p.rule, `its counter never counts: every call it would count reaches the deny rule ${r.place}`);
        return this.finish(t, entry, require, [], false);
      }
      for (const c of r.conditions) {
        if (c.path.startsWith('state.')) {
          if (!this.isOwnBound(r, c)) {
            this.differ('state-read', `${r.place}.conditions[${r.conditions.indexOf(c)}]`, c.source, `"${conditionText(c)}" reads a counter other than as its own rule's upper bound; Tollgate cannot read counters in conditions, so it was dropped and calls it would deny are let through.`);
            this.target(r, { kind: 'dropped', rule: null, detail: `${conditionText(c)} (see state-read)` });
          }
          continue;
        }
        require.push(this.condition(r, c));
        this.target(r, { kind: 'require', rule: `tools.${t}.require[${require.length - 1}]`, detail: conditionText(c) });
      }
      if (r.state && r.tool === t) {
        const pending = this.limitOf(r, require);
        if (pending) limits.push(pending);
      }
    }
    // Reservation order: the tool's counters, then the wildcard's.
    return this.finish(t, entry, require, [...limits, ...wildcardTail], wildcardHasLimits);
  }

  /** Puts a tool's counters in place: limits, a final deny for a counter that admits nothing, amount requirements. */
  private finish(t: string, entry: ToolRule, require: Condition[], counters: readonly PendingLimit[], wildcardHasLimits: boolean): ToolRule {
    const deny = counters.find((p) => p.mode === 'deny');
    let limits: PendingLimit[] = [];
    if (deny) {
      entry.deny_if = [{ conditions: [], on_deny: deny.limit.on_deny! }];
      this.target(deny.rule, { kind: 'deny_if', rule: `tools.${t}.deny_if[0]`, detail: `${deny.detail}: every call that passes the conditions is denied` });
      for (const p of counters) if (p !== deny && p.rule.tool === t) this.neverRuns(p.rule, `its counter never counts: ${deny.rule.place} admits no call`, 'dropped');
    } else {
      for (const p of counters.filter((x) => x.mode === 'zero')) {
        require.push({ path: p.limit.increment_from!, op: 'eq', value: 0, on_deny: p.limit.on_deny! });
        this.target(p.rule, { kind: 'require', rule: `tools.${t}.require[${require.length - 1}]`, detail: p.detail });
      }
      limits = counters.filter((x) => x.mode === 'limit' && x.rule.tool === t);
      if (limits.length > 0 && counters.some((x, i) => x.mode === 'zero' && counters.slice(0, i).some((y) => y.mode === 'limit'))) {
        this.differ('limit-order', limits[0]!.rule.place, limits[0]!.rule.source, 'A spend bound of 0 is checked as a require condition, before the limits; when both it and an earlier counter deny, the message is the bound\'s, not the earlier counter\'s.');
      }
    }
    if (require.length > 0) entry.require = require;
    if (limits.length > 0) {
      entry.limits = limits.map((p) => p.limit);
      limits.forEach((p, i) => this.target(p.rule, { kind: 'limits', rule: `tools.${t}.limits[${i}]`, detail: p.detail }));
      if (wildcardHasLimits) {
        this.differ('limit-order', limits[0]!.rule.place, limits[0]!.rule.source, `When both this counter and a wildcard counter are exhausted, Intercept denies with this rule's message; Tollgate checks all_tools limits first and gives the wildcard rule's. The call is denied either way.`);
      }
    }
    return entry;
  }

  /**
   * True when a rule denies every call that reaches it: a deny rule, or a counter whose own bound
   * fails even for a counter at 0 (`lt 0`, `lte -1`): Intercept checks the condition on the
   * current value before reserving, so such a rule denies where it stands, with its message.
   */
  private deniesAlways(r: InterceptRule): boolean {
    if (r.action === 'deny') return true;
    return r.conditions.some((c) => this.isOwnBound(r, c) && (c.op === 'lte' ? (c.value as number) < 0 : (c.value as number) <= 0));
  }

  /** True when a state condition is its own rule's upper bound: `lt`/`lte` on the rule's own counter. */
  private isOwnBound(r: InterceptRule, c: InterceptCondition): boolean {
    return r.state !== undefined && (c.op === 'lt' || c.op === 'lte') && c.path === `state.${counterScope(r.tool)}.${r.state.counter}`;
  }

  /** An argument path in Tollgate's syntax, or undefined when it cannot be written there. */
  private argumentPath(path: string, at: string, where: InterceptSource): string | undefined {
    const steps = path.slice('args.'.length).split('.');
    if (steps.some((s) => s === '' || /[[\]]/.test(s))) {
      this.differ('path-not-expressible', at, where, `The path "${path}" cannot be written in Tollgate (an empty step, or a key with brackets); the condition was replaced by one that never holds, so calls that reach it are denied.`);
      return undefined;
    }
    if (steps.some((s) => /^\d+$/.test(s) || s === 'length')) {
      this.differ('path-array-step', at, where, `In "${path}", a step that is a number or "length" reads an array's element or length in Tollgate; Intercept's path finds nothing there (it walks maps only).`);
    }
    return `args.${steps.join('.')}`;
  }

  private condition(r: InterceptRule, c: InterceptCondition): Condition {
    const at = `${r.place}.conditions[${r.conditions.indexOf(c)}]`;
    const onDeny = r.onDeny ?? `Denied by rule "${r.name}"`;
    const path = this.argumentPath(c.path, at, c.source);
    if (path === undefined) return { ...NEVER, value: [], on_deny: onDeny };
    const value = c.value === undefined ? null : c.value;
    switch (c.op) {
      case 'eq':
      case 'in':
      case 'contains': {
        const operands = c.op === 'in' ? (value as unknown[]) : [value];
        if (operands.some(looselyAmbiguous)) {
          this.differ('loose-equality', at, c.source, `"${conditionText(c)}": Intercept compares by text across types (a string "5" equals the number 5, "true" equals true); Tollgate's ${c.op} compares strictly, so it denies such a call that Intercept lets through.`);
        }
        break;
      }
      case 'neq':
      case 'not_in':
        this.differ('strict-negation', at, c.source, `"${conditionText(c)}": for an argument of another type than the operand (or null), Intercept's ${c.op} holds and lets the call through; Tollgate's does not, and denies it.`);
        break;
      case 'exists':
        this.differ('exists-null', at, c.source, `"${conditionText(c)}": Intercept treats an argument that is present but null as absent; Tollgate treats it as present.`);
        break;
      case 'regex': {
        this.differ('regex-dialect', at, c.source, `"${conditionText(c)}": Intercept matches Go RE2 syntax, Tollgate ECMAScript; they agree on common patterns but differ at the edges (\\s, Unicode classes, astral characters), ECMAScript can backtrack (run tollgate lint: TG101), and Tollgate denies a value longer than 8,192 characters.`);
        const { body, flags } = splitInlineFlags(value as string);
        return { path, op: 'regex', value: body, ...(flags ? { flags } : {}), on_deny: onDeny };
      }
      default:
        break;
    }
    return { path, op: c.op, value, on_deny: onDeny } as Condition;
  }

  /**
   * The Tollgate limit of a rule's counter: post-increment against the tightest `lt`/`lte` bound
   * on its own path. A fixed increment k counts calls instead: k·n ≤ N is n ≤ ⌊N/k⌋.
   */
  private limitOf(r: InterceptRule, require?: Condition[]): PendingLimit | undefined {
    const state = r.state;
    if (!state) return undefined;
    const bounds = r.conditions.filter((c) => this.isOwnBound(r, c));
    if (bounds.length === 0) {
      this.target(r, { kind: 'dropped', rule: null, detail: `counter "${state.counter}" has no lt/lte bound on its own path, so it limits nothing` });
      return undefined;
    }
    if (!state.incrementFrom && state.increment < 0) {
      this.differ('negative-increment', r.place, r.source, `The counter "${state.counter}" goes down by ${-state.increment} on every call; Tollgate limits only count up, so it was left out.`);
      this.target(r, { kind: 'dropped', rule: null, detail: `counter "${state.counter}" with a negative increment (see negative-increment)` });
      return undefined;
    }
    let incrementFrom: string | undefined;
    if (state.incrementFrom) {
      incrementFrom = this.argumentPath(state.incrementFrom, `${r.place}.state`, r.source);
      if (incrementFrom === undefined) {
        // Fail closed: the amount cannot be read, so no call of this rule's tool passes.
        require?.push({ ...NEVER, value: [], on_deny: r.onDeny ?? `Rate limit exceeded for ${r.name}` });
        return undefined;
      }
    }
    let max = Infinity;
    for (const b of bounds) {
      const n = b.value as number;
      let m: number;
      if (incrementFrom) {
        if (b.op === 'lte') m = n;
        else {
          m = Math.ceil(n) - 1;
          this.differ('lt-with-fractional-increments', r.place, b.source, `"${conditionText(b)}" with amounts from ${state.incrementFrom} becomes max ${m}: exact for whole-number amounts; an amount with a fraction that brings the counter above ${m} but below ${n} is denied by Tollgate and allowed by Intercept's "less than".`);
        }
      } else {
        m = b.op === 'lte' ? Math.floor(n / state.increment) : Math.ceil(n / state.increment) - 1;
      }
      max = Math.min(max, m);
    }
    const scope = counterScope(r.tool);
    const mode: PendingLimit['mode'] = incrementFrom ? (max < 0 ? 'deny' : max === 0 ? 'zero' : 'limit') : max < 1 ? 'deny' : 'limit';
    const limit: Limit = {
      counter: `${scope}.${state.counter}`,
      max,
      window: state.window,
      scope: 'global',
      ...(incrementFrom ? { increment_from: incrementFrom } : {}),
      on_deny: r.onDeny ?? `Rate limit exceeded for ${r.name}`,
    };
    if (incrementFrom) {
      this.differ('negative-increment-from', r.place, r.source, `A negative ${state.incrementFrom} lowers Intercept's counter "${state.counter}"; Tollgate denies a call whose amount is negative (a spend limit cannot be refunded by the caller).`);
    }
    const per = `per ${state.window}, over every agent`;
    if (mode === 'deny') return { rule: r, mode, limit, detail: `bound ${bounds.map((b) => `${b.op} ${String(b.value)}`).join(', ')} admits no call` };
    if (mode === 'zero') return { rule: r, mode, limit, detail: `bound ${bounds.map((b) => `${b.op} ${String(b.value)}`).join(', ')}: only an amount of 0 passes` };
    this.differ('counter-rollback', r.place, r.source, `Intercept gives the counter "${state.counter}" back when the upstream call fails; Tollgate counts every call it admits, failed or not.`);
    const detail = incrementFrom
      ? `${incrementFrom} adds up to at most ${max} ${per}`
      : state.increment === 1
        ? `at most ${max} calls ${per}`
        : `at most ${max} calls ${per} (each adds ${state.increment}, bound ${bounds.map((b) => `${b.op} ${String(b.value)}`).join(', ')})`;
    return { rule: r, mode, limit, detail };
  }
}
