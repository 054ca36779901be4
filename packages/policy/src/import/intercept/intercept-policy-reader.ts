import type { Diagnostic } from '../../diagnostic.js';
import { parseSourceDocument, pointerOf, type SourceDocument } from '../../parse/source-document.js';
import {
  counterScope,
  INTERCEPT_OPERATORS,
  type InterceptCondition,
  type InterceptOperator,
  type InterceptPolicy,
  type InterceptRule,
  type InterceptSource,
  type InterceptState,
  type InterceptTool,
  type InterceptWindow,
} from './intercept-policy.js';

/** A key Intercept does not know. Intercept ignores it (its YAML decoder is not strict); the import says so. */
export interface IgnoredKey {
  readonly key: string;
  readonly source: InterceptSource;
}

/** The result of {@link readInterceptPolicy}: the policy when it is valid, and every problem found. */
export interface InterceptReadResult {
  readonly policy: InterceptPolicy | undefined;
  /** Syntax errors (TG001, TG002) and Intercept validation errors (TG400), each with file:line:col. */
  readonly diagnostics: readonly Diagnostic[];
  /** Keys Intercept ignores, e.g. a misspelt `on-deny`. */
  readonly ignored: readonly IgnoredKey[];
}

const WINDOWS: readonly InterceptWindow[] = ['minute', 'hour', 'day'];
const TOP_KEYS = ['version', 'description', 'default', 'hide', 'tools'];
const TOOL_KEYS = ['rules'];
const RULE_KEYS = ['name', 'action', 'rate_limit', 'conditions', 'on_deny', 'state'];
const CONDITION_KEYS = ['path', 'op', 'value'];
const STATE_KEYS = ['counter', 'window', 'increment', 'increment_from'];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Intercept decodes a YAML scalar into a text field as its text (`version: 1` is "1"). */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/**
 * Reads a policy in Intercept's YAML format (see docs/migrating-from-intercept.md) and checks
 * it the way Intercept checks a policy before loading it: every validation error of
 * Intercept's reference (version, default, hide entries, rule names and actions, conditions'
 * paths, operators and operand types, regexes, state blocks, counters referenced without a
 * state block, `rate_limit` syntax and combinations, duplicate counters), plus the shape
 * errors Intercept's YAML decoder would refuse (a list where a map belongs, a non-integer
 * increment). Every error is a TG400 diagnostic at the file:line:col of the node. Never throws.
 *
 * @example
 * const { policy, diagnostics } = readInterceptPolicy(text, 'github.yaml');
 */
export function readInterceptPolicy(text: string, file: string): InterceptReadResult {
  const parsed = parseSourceDocument(text, file, { format: 'yaml' });
  if (!parsed.document) return { policy: undefined, diagnostics: parsed.diagnostics, ignored: [] };
  return new Reader(parsed.document).read();
}

class Reader {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly ignored: IgnoredKey[] = [];

  constructor(private readonly doc: SourceDocument) {}

  private source(pointer: string, at: 'key' | 'value' = 'value'): InterceptSource {
    const { line, column } = this.doc.positionOf(pointer, at);
    return { pointer, line, column };
  }

  private error(pointer: string, message: string, hint?: string, at: 'key' | 'value' = 'value'): void {
    const { line, column } = this.source(pointer, at);
    this.diagnostics.push({ code: 'TG400', severity: 'error', file: this.doc.file, line, column, message, pointer, ...(hint ? { hint } : {}) });
  }

  private unknownKeys(node: Json, known: readonly string[], pointer: string): void {
    for (const key of Object.keys(node)) if (!known.includes(key)) this.ignored.push({ key, source: this.source(pointerOf(...splitPointer(pointer), key), 'key') });
  }

  read(): InterceptReadResult {
    const root = this.doc.value;
    if (!isObject(root)) {
      this.error('', 'an Intercept policy is a YAML mapping with version, tools and optionally description, default and hide');
      return this.result(undefined);
    }
    this.unknownKeys(root, TOP_KEYS, '');
    const version = scalarText(root['version']);
    if (version !== '1') this.error('/version', `version must be "1" (found ${describe(root['version'])})`, 'set version: "1"');
    let description: string | undefined;
    if (root['description'] !== undefined && root['description'] !== null) {
      description = scalarText(root['description']);
      if (description === undefined) this.error('/description', 'description must be text');
    }
    let defaultPosture: 'allow' | 'deny' = 'allow';
    if (root['default'] !== undefined && root['default'] !== null && root['default'] !== '') {
      const d = scalarText(root['default']);
      if (d === 'allow' || d === 'deny') defaultPosture = d;
      else this.error('/default', `default must be "allow" or "deny" (found ${describe(root['default'])})`, 'use allow or deny, or leave default out (allow)');
    }
    const hide = this.readHide(root['hide']);
    const tools = this.readTools(root['tools']);
    if (this.diagnostics.length > 0) return this.result(undefined);
    this.checkCounters(tools);
    if (this.diagnostics.length > 0) return this.result(undefined);
    return this.result({ file: this.doc.file, description, default: defaultPosture, hide, tools });
  }

  private result(policy: InterceptPolicy | undefined): InterceptReadResult {
    return { policy, diagnostics: this.diagnostics, ignored: this.ignored };
  }

  private readHide(value: unknown): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error('/hide', 'hide must be a list of tool names');
      return [];
    }
    const seen = new Set<string>();
    const out: string[] = [];
    value.forEach((entry, i) => {
      const name = scalarText(entry) ?? (entry === null ? '' : undefined);
      if (name === undefined) {
        this.error(`/hide/${i}`, `hide[${i}]: each entry must be a tool name`);
      } else if (name.trim() === '') {
        this.error(`/hide/${i}`, `hide[${i}]: the entry is empty`, 'remove it or name a tool');
      } else if (seen.has(name)) {
        this.error(`/hide/${i}`, `hide: "${name}" is listed more than once`, 'remove the repeated entry');
      } else {
        seen.add(name);
        out.push(name);
      }
    });
    return out;
  }

  private readTools(value: unknown): InterceptTool[] {
    if (value === undefined || value === null) {
      this.error('', 'tools is required: a map of tool names (or "*") to their rules', 'add tools: {} for a policy with no rules');
      return [];
    }
    if (!isObject(value)) {
      this.error('/tools', 'tools must be a map of tool names to their rules');
      return [];
    }
    const tools: InterceptTool[] = [];
    for (const name of Object.keys(value)) {
      const pointer = pointerOf('tools', name);
      if (name === '') {
        this.error(pointer, 'a tool name must not be empty', undefined, 'key');
        continue;
      }
      const entry = value[name];
      if (entry === null || entry === undefined) {
        tools.push({ name, rules: [], source: this.source(pointer, 'key') });
        continue;
      }
      if (!isObject(entry)) {
        this.error(pointer, `tools.${name} must be a map with a rules list`);
        continue;
      }
      this.unknownKeys(entry, TOOL_KEYS, pointer);
      const rulesValue = entry['rules'];
      const rules: InterceptRule[] = [];
      if (rulesValue !== undefined && rulesValue !== null) {
        if (!Array.isArray(rulesValue)) {
          this.error(`${pointer}/rules`, `tools.${name}.rules must be a list of rules`);
        } else {
          rulesValue.forEach((r, i) => {
            const rule = this.readRule(name, i, r, `${pointer}/rules/${i}`);
            if (rule) rules.push(rule);
          });
        }
      }
      tools.push({ name, rules, source: this.source(pointer, 'key') });
    }
    return tools;
  }

  private readRule(tool: string, index: number, value: unknown, pointer: string): InterceptRule | undefined {
    const place = `tools.${tool}.rules[${index}]`;
    if (!isObject(value)) {
      this.error(pointer, `${place}: a rule must be a map with a name`);
      return undefined;
    }
    this.unknownKeys(value, RULE_KEYS, pointer);
    const before = this.diagnostics.length;
    const name = scalarText(value['name']) ?? '';
    if (name === '') this.error(pointer, `${place}: the rule has no name`, 'give every rule a name');
    const onDenyText = value['on_deny'] === undefined || value['on_deny'] === null ? undefined : scalarText(value['on_deny']);
    if (value['on_deny'] !== undefined && value['on_deny'] !== null && onDenyText === undefined) this.error(`${pointer}/on_deny`, `${place}: on_deny must be text`);
    let onDeny = onDenyText === '' ? undefined : onDenyText;
    const actionText = value['action'] === undefined || value['action'] === null || value['action'] === '' ? 'evaluate' : scalarText(value['action']);
    const rawConditions = value['conditions'];
    const hasConditions = Array.isArray(rawConditions) && rawConditions.length > 0;
    if (rawConditions !== undefined && rawConditions !== null && !Array.isArray(rawConditions)) this.error(`${pointer}/conditions`, `${place}: conditions must be a list`);
    const rawState = value['state'];
    if (rawState !== undefined && rawState !== null && !isObject(rawState)) this.error(`${pointer}/state`, `${place}: state must be a map with counter and window`);

    // The rate_limit shorthand: "N/window", alone, on an evaluate rule.
    let rateLimit: InterceptRule['rateLimit'];
    let conditions: InterceptCondition[] = [];
    let state: InterceptState | undefined;
    if (value['rate_limit'] !== undefined && value['rate_limit'] !== null && value['rate_limit'] !== '') {
      const rlPointer = `${pointer}/rate_limit`;
      const text = scalarText(value['rate_limit']) ?? '';
      const slash = text.indexOf('/');
      const countText = slash < 0 ? '' : text.slice(0, slash);
      const windowText = slash < 0 ? '' : text.slice(slash + 1);
      if (slash < 0) {
        this.error(rlPointer, `${place}: rate_limit must read N/window, e.g. 5/hour (found ${describe(value['rate_limit'])})`);
      } else {
        const count = /^[+]?[0-9]+$/.test(countText) ? Number(countText) : NaN;
        if (!Number.isSafeInteger(count) || count <= 0) this.error(rlPointer, `${place}: the rate_limit count must be a whole number above 0 (found "${countText}")`);
        if (!WINDOWS.includes(windowText as InterceptWindow)) this.error(rlPointer, `${place}: the rate_limit window must be minute, hour or day (found "${windowText}")`);
        if (Number.isSafeInteger(count) && count > 0 && WINDOWS.includes(windowText as InterceptWindow)) rateLimit = { count, window: windowText as InterceptWindow };
      }
      if (hasConditions || (rawState !== undefined && rawState !== null)) {
        this.error(rlPointer, `${place}: rate_limit cannot be combined with conditions or state`, 'write the counter out in full (conditions and state), or split the rule');
      }
      if (actionText === 'deny') this.error(rlPointer, `${place}: rate_limit cannot be used on a rule with action "deny"`);
      if (this.diagnostics.length > before) return undefined;
      const window = rateLimit!.window;
      const counter = `_rate_${window}`;
      conditions = [{ path: `state.${counterScope(tool)}.${counter}`, op: 'lte', value: rateLimit!.count, source: this.source(rlPointer) }];
      state = { counter, window, increment: 1, incrementFrom: undefined };
      onDeny ??= `Rate limit of ${rateLimit!.count} per ${window} reached. Try again later.`;
      return { tool, index, place, name, action: 'evaluate', conditions, onDeny, state, rateLimit, source: this.source(pointer) };
    }

    if (actionText !== 'evaluate' && actionText !== 'deny') {
      this.error(`${pointer}/action`, `${place}: action must be "evaluate" or "deny" (found ${describe(value['action'])})`);
    }
    if (actionText === 'deny' && hasConditions) this.error(`${pointer}/conditions`, `${place}: a deny rule takes no conditions`, 'remove the conditions, or make it an evaluate rule');
    if (actionText === 'evaluate' && !hasConditions) this.error(pointer, `${place}: an evaluate rule needs at least one condition`, 'add a condition, or use action: deny');
    if (Array.isArray(rawConditions)) {
      rawConditions.forEach((c, j) => {
        const cond = this.readCondition(`${place}.conditions[${j}]`, c, `${pointer}/conditions/${j}`);
        if (cond) conditions.push(cond);
      });
    }
    if (isObject(rawState)) state = this.readState(place, rawState, `${pointer}/state`);
    if (this.diagnostics.length > before) return undefined;
    return { tool, index, place, name, action: actionText as 'evaluate' | 'deny', conditions, onDeny, state, rateLimit: undefined, source: this.source(pointer) };
  }

  private readCondition(place: string, value: unknown, pointer: string): InterceptCondition | undefined {
    if (!isObject(value)) {
      this.error(pointer, `${place}: a condition must be a map with path, op and value`);
      return undefined;
    }
    this.unknownKeys(value, CONDITION_KEYS, pointer);
    const before = this.diagnostics.length;
    const path = scalarText(value['path']) ?? '';
    if (!path.startsWith('args.') && !path.startsWith('state.')) {
      this.error(`${pointer}/path`, `${place}: the path must start with "args." or "state." (found ${describe(value['path'])})`, 'read an argument (args.amount) or a counter (state.<tool>.<counter>)');
    }
    const op = scalarText(value['op']) ?? '';
    const operand = value['value'];
    if (!(INTERCEPT_OPERATORS as readonly string[]).includes(op)) {
      this.error(`${pointer}/op`, `${place}: unknown operator ${describe(value['op'])}`, `use one of ${INTERCEPT_OPERATORS.join(', ')}`);
    } else if ((op === 'in' || op === 'not_in') && !Array.isArray(operand)) {
      this.error(`${pointer}/value`, `${place}: operator "${op}" needs a list as its value`, 'write a YAML list, e.g. ["a", "b"]');
    } else if ((op === 'lt' || op === 'lte' || op === 'gt' || op === 'gte') && (typeof operand !== 'number' || !Number.isFinite(operand))) {
      this.error(`${pointer}/value`, `${place}: operator "${op}" needs a number as its value (found ${describe(operand)})`);
    } else if (op === 'exists' && typeof operand !== 'boolean') {
      this.error(`${pointer}/value`, `${place}: operator "exists" needs true or false as its value (found ${describe(operand)})`);
    } else if (op === 'regex') {
      if (typeof operand !== 'string') this.error(`${pointer}/value`, `${place}: a regex value must be a string pattern`);
      else if (!regexCompiles(operand)) this.error(`${pointer}/value`, `${place}: invalid regex ${JSON.stringify(operand)}: it does not compile`, 'Tollgate reads patterns as ECMAScript: Go syntax it lacks (\\z, (?P<name>...), inline flags after the start) must be rewritten');
    }
    if (this.diagnostics.length > before) return undefined;
    return { path, op: op as InterceptOperator, value: operand, source: this.source(pointer) };
  }

  private readState(place: string, value: Json, pointer: string): InterceptState | undefined {
    this.unknownKeys(value, STATE_KEYS, pointer);
    const before = this.diagnostics.length;
    const counter = scalarText(value['counter']) ?? '';
    if (counter === '') this.error(`${pointer}/counter`, `${place}.state: the counter has no name`);
    const window = scalarText(value['window']) ?? '';
    if (!WINDOWS.includes(window as InterceptWindow)) this.error(`${pointer}/window`, `${place}.state: window must be minute, hour or day (found ${describe(value['window'])})`);
    let increment = 1;
    const rawIncrement = value['increment'];
    if (rawIncrement !== undefined && rawIncrement !== null) {
      if (typeof rawIncrement !== 'number' || !Number.isSafeInteger(rawIncrement)) this.error(`${pointer}/increment`, `${place}.state: increment must be a whole number (found ${describe(rawIncrement)})`);
      // Intercept reads an increment of 0 as "not given": 1.
      else if (rawIncrement !== 0) increment = rawIncrement;
    }
    const rawFrom = value['increment_from'];
    const incrementFrom = rawFrom === undefined || rawFrom === null || rawFrom === '' ? undefined : (scalarText(rawFrom) ?? '');
    if (incrementFrom !== undefined && !incrementFrom.startsWith('args.')) {
      this.error(`${pointer}/increment_from`, `${place}.state: increment_from must name an argument, starting with "args." (found ${describe(rawFrom)})`);
    }
    if (this.diagnostics.length > before) return undefined;
    return { counter, window: window as InterceptWindow, increment, incrementFrom };
  }

  /** Counters: unique per tool, and every `state.<scope>.<counter>` read names one that a state block defines. */
  private checkCounters(tools: readonly InterceptTool[]): void {
    const byName = new Map(tools.map((t) => [t.name, t] as const));
    for (const tool of tools) {
      const seen = new Map<string, number>();
      for (const rule of tool.rules) {
        if (!rule.state) continue;
        const first = seen.get(rule.state.counter);
        if (first !== undefined) {
          this.error(rule.source.pointer, `${rule.place}: the counter "${rule.state.counter}" is already defined by rules[${first}] of this tool`, 'name the counters apart, or merge the rules');
        } else {
          seen.set(rule.state.counter, rule.index);
        }
      }
    }
    for (const tool of tools) {
      for (const rule of tool.rules) {
        if (rule.rateLimit) continue;
        for (const c of rule.conditions) {
          if (!c.path.startsWith('state.')) continue;
          const parts = c.path.split('.');
          if (parts.length < 3) continue;
          const scope = parts[1]!;
          const counter = parts.slice(2).join('.');
          const owner = byName.get(scope) ?? (scope === '_global' ? byName.get('*') : undefined);
          if (!owner?.rules.some((r) => r.state?.counter === counter)) {
            this.error(`${c.source.pointer}/path`, `${rule.place}: the condition reads state.${scope}.${counter}, but no rule of ${scope === '_global' ? '"*"' : scope} has a state block for counter "${counter}"`, 'add the state block, or fix the counter name');
          }
        }
      }
    }
  }
}

function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Whether a pattern compiles. Intercept's patterns are Go (RE2) syntax; leading inline flags
 * such as `(?i)` are read as flags, the rest as an ECMAScript pattern (see the importer's
 * `regex-dialect` difference).
 */
export function regexCompiles(pattern: string): boolean {
  const { body, flags } = splitInlineFlags(pattern);
  try {
    new RegExp(body, flags);
    return true;
  } catch {
    return false;
  }
}

/** Splits Go's leading inline flags (`(?i)`, `(?is)`) off a pattern into ECMAScript flags. */
export function splitInlineFlags(pattern: string): { body: string; flags: string } {
  const m = /^\(\?([ims]+)\)/.exec(pattern);
  if (!m) return { body: pattern, flags: '' };
  return { body: pattern.slice(m[0].length), flags: [...new Set(m[1]!)].sort().join('') };
}
