import { canonicalJson } from '../canonical-json.js';
import type { CatalogTool } from '../catalog/catalog.js';
import { compileCondition, Outcome } from '../compile/condition-compiler.js';
import { exampleArguments, exampleValue } from '../catalog/example-arguments.js';
import type { ToolCall } from '../evaluate/decision.js';
import type { Condition, Limit, Policy, ToolRule } from '../generated/policy-types.js';
import { MISSING, parsePath } from '../compile/path-expression.js';
import { windowSeconds } from '../compile/policy-compiler.js';
import { TEST_AGENT, TEST_SESSION } from '../test-runner.js';
import { sampleRegex } from './regex-sampler.js';

/** The agent a second, alternating caller of a limit probe runs as. */
export const SECOND_AGENT = Object.freeze({ id: 'test-agent-2' });
/** The session a second, alternating caller of a limit probe runs in. */
export const SECOND_SESSION = Object.freeze({ id: 'test-session-2' });

/** Longest limit probe: a counter with a larger max is probed with larger amounts only. */
const MAX_SEQUENCE = 10_001;

/**
 * How to repeat a call to probe the limits of a tool: `length` calls, `interval_seconds`
 * apart, alternating between two agents or sessions (or not), with the `amounts` written
 * into the call's spend paths (`increment_from`).
 */
export interface SequenceShape {
  readonly length: number;
  readonly interval_seconds: number;
  readonly alternating: 'agent' | 'session' | null;
  readonly amounts: readonly { readonly path: string; readonly value: number }[];
}

/** What {@link generateExampleCalls} proposes for one tool: single calls, then limit probes. */
export interface ExampleCalls {
  /** Distinct calls, the most "boundary" ones first (values just past a threshold lead). */
  readonly calls: readonly ToolCall[];
  /** Limit probes; the caller picks the call they repeat (one both policies may admit). */
  readonly sequences: readonly SequenceShape[];
}

/** Input of {@link generateExampleCalls}. */
export interface ExampleCallInput {
  /** The tool name put in the calls. */
  readonly tool: string;
  /** The policies compared (base and head; either may be absent). */
  readonly policies: readonly (Policy | undefined)[];
  /** The tool's catalog entry: required arguments, enums, examples, minimum/maximum. */
  readonly catalogTool?: CatalogTool | undefined;
  /** Most single calls returned (default 5000). */
  readonly maxCalls?: number;
}

type Value = unknown;
type Assignment = ReadonlyMap<string, Value>;

/**
 * Proposes the calls `tollgate diff` decides under both policies to find the ones that flip.
 * Values come from the boundaries of every condition of both policies on the tool (a
 * numeric threshold t gives t+ε, t, t−ε, t+1, t−1 and the midpoints between thresholds;
 * `in`/`eq` lists give each member and one value outside; a regex a matching and a
 * non-matching string; `exists` presence and absence), from the limits' spend caps, and
 * from the catalog's argument schemas (enum, const, default, examples, minimum/maximum,
 * required arguments filled with values of the right type). Calls are built around
 * "anchors" — calls that satisfy each rule of either policy — varying one path at a time,
 * plus the full product of values when it is small.
 */
export function generateExampleCalls(input: ExampleCallInput): ExampleCalls {
  const rules = input.policies.map((p) => ({ policy: p, rule: p?.tools?.[input.tool] }));
  const conditions = new Map<string, Condition[]>();
  const addCondition = (c: Condition): void => {
    const list = conditions.get(c.path) ?? [];
    list.push(c);
    conditions.set(c.path, list);
  };
  const limits: Limit[] = [];
  for (const { policy, rule } of rules) {
    for (const c of ruleConditions(rule)) addCondition(c);
    limits.push(...limitsOf(policy, rule, input.tool));
  }
  const spendCaps = new Map<string, number[]>();
  for (const l of limits) {
    if (l.increment_from === undefined) continue;
    spendCaps.set(l.increment_from, [...(spendCaps.get(l.increment_from) ?? []), l.max]);
  }
  const paths = [...new Set([...conditions.keys(), ...spendCaps.keys()])].filter(isUsablePath).sort();
  const values = new Map<string, Value[]>();
  // Thresholds only one policy has are where the change is: their boundary values lead.
  const numbersBySide = rules.map(({ policy, rule }) => {
    const numbers = new Set<string>();
    for (const c of ruleConditions(rule)) if (typeof c.value === 'number') numbers.add(`${c.path}\u0000${c.value}`);
    for (const l of limitsOf(policy, rule, input.tool)) if (l.increment_from !== undefined) numbers.add(`${l.increment_from}\u0000${l.max}`);
    return numbers;
  });
  const changed = (path: string, n: number): boolean => new Set(numbersBySide.map((s) => s.has(`${path}\u0000${n}`))).size > 1;
  for (const path of paths) {
    values.set(path, valuesFor(path, conditions.get(path) ?? [], spendCaps.get(path) ?? [], input.catalogTool, (n) => changed(path, n)));
  }
  const defaults = requiredDefaults(input.catalogTool);

  const anchors: Assignment[] = [];
  for (const { rule } of [...rules].reverse()) {
    if (!rule) continue;
    const require = rule.require ?? [];
    const gates = [...(rule.deny_if ?? []), ...(rule.approve_if ?? [])];
    const allowed = avoidGates(satisfying(require, values), require, gates, values);
    anchors.push(allowed, satisfying(require, values));
    for (const g of gates) anchors.push(satisfying([...require, ...g.conditions], values));
  }
  anchors.push(new Map());

  const seen = new Set<string>();
  const calls: ToolCall[] = [];
  const max = input.maxCalls ?? 5000;
  const add = (assignment: Assignment): void => {
    if (calls.length >= max) return;
    const call = buildCall(input.tool, assignment, defaults);
    const key = canonicalJson(call);
    if (seen.has(key)) return;
    seen.add(key);
    calls.push(call);
  };
  for (const anchor of anchors) {
    add(anchor);
    for (const path of paths) for (const v of values.get(path)!) add(new Map([...anchor, [path, v]]));
  }
  const product = paths.reduce((n, p) => n * values.get(p)!.length, 1);
  if (product <= 512) for (const assignment of cartesian(paths, values)) add(assignment);

  return { calls, sequences: sequenceShapes(rules.map((r) => limitsOf(r.policy, r.rule, input.tool)), spendCaps) };
}

function ruleConditions(rule: ToolRule | undefined): Condition[] {
  if (!rule) return [];
  return [...(rule.require ?? []), ...(rule.deny_if ?? []).flatMap((r) => r.conditions), ...(rule.approve_if ?? []).flatMap((r) => r.conditions)];
}

/** Every limit a call to the tool counts against under one policy (all_tools, the tool's own, rate_limit). */
function limitsOf(policy: Policy | undefined, rule: ToolRule | undefined, tool: string): Limit[] {
  if (!policy) return [];
  const out = [...(policy.all_tools?.limits ?? [])];
  if (rule) {
    out.push(...(rule.limits ?? []));
    if (rule.rate_limit) out.push({ counter: rule.rate_limit.counter ?? `${tool}.rate_limit`, max: rule.rate_limit.max, window: rule.rate_limit.window, ...(rule.rate_limit.scope ? { scope: rule.rate_limit.scope } : {}) });
  }
  return out;
}

function isUsablePath(path: string): boolean {
  try {
    parsePath(path);
    return true;
  } catch {
    return false;
  }
}

/** ε for a threshold: two decimal places finer than the threshold's own. */
function epsilonOf(t: number): number {
  const text = String(t);
  const decimals = text.includes('e-') ? Number(text.split('e-')[1]) : (text.split('.')[1]?.length ?? 0);
  return 10 ** -(decimals + 2);
}

function roundTo(n: number, eps: number): number {
  const digits = Math.min(15, Math.max(0, Math.round(-Math.log10(eps))));
  return Number(n.toFixed(digits));
}

function numericBoundaries(thresholds: readonly number[], isChanged: (n: number) => boolean): number[] {
  const out: number[] = [];
  const ordered = [...new Set(thresholds)].sort((a, b) => Number(isChanged(b)) - Number(isChanged(a)) || a - b);
  for (const t of ordered) {
    const eps = epsilonOf(t);
    out.push(roundTo(t + eps, eps), t, roundTo(t - eps, eps), t + 1, t - 1);
  }
  const sorted = [...new Set(thresholds)].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) out.push((sorted[i - 1]! + sorted[i]!) / 2);
  return out;
}

function outsideString(members: readonly unknown[], catalogValues: readonly unknown[]): string {
  const other = catalogValues.find((v) => typeof v === 'string' && !members.includes(v));
  if (typeof other === 'string') return other;
  const first = members.find((m) => typeof m === 'string');
  return typeof first === 'string' ? `not-${first}` : 'other';
}

/** The candidate values of one path, boundary values first, absence last. */
function valuesFor(
  path: string,
  conditions: readonly Condition[],
  spendCaps: readonly number[],
  catalogTool: CatalogTool | undefined,
  isChanged: (n: number) => boolean,
): Value[] {
  const schema = schemaOfPath(catalogTool, path);
  const catalogValues = schema ? schemaValues(schema) : [];
  const out: Value[] = [];
  const thresholds: number[] = [...spendCaps];
  for (const c of conditions) {
    const v = c.value as unknown;
    switch (c.op) {
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte':
        if (typeof v === 'number') thresholds.push(v);
        else if (typeof v === 'string') out.push(`${v}a`, v, v.slice(0, -1));
        break;
      case 'eq':
      case 'neq':
        if (typeof v === 'number') thresholds.push(v);
        else if (typeof v === 'boolean') out.push(v, !v);
        else if (typeof v === 'string') out.push(v, outsideString([v], catalogValues));
        else out.push(v, 'other');
        break;
      case 'in':
      case 'not_in': {
        const members = Array.isArray(v) ? v : [];
        out.push(...members);
        const numbers = members.filter((m): m is number => typeof m === 'number');
        if (numbers.length > 0) out.push(Math.max(...numbers) + 1);
        if (members.some((m) => typeof m === 'string') || members.length === 0) out.push(outsideString(members, catalogValues));
        break;
      }
      case 'regex': {
        const named = conditions.filter((o) => o.op !== 'regex').flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value]));
        const hints = [...catalogValues, ...named].filter((h): h is string => typeof h === 'string');
        const { matching, notMatching } = sampleRegex(String(v), c.flags ?? '', hints);
        out.push(...matching.slice(0, 2), ...notMatching.slice(0, 1));
        break;
      }
      case 'contains':
        if (typeof v === 'string') out.push(v, `x${v}x`, 'other');
        else out.push([v], []);
        break;
      case 'exists':
        out.push(catalogValues[0] ?? (schema ? exampleValue(schema, catalogTool?.inputSchema) : 'example'));
        break;
    }
  }
  if (schema) {
    for (const key of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const) {
      const bound = schema[key];
      if (typeof bound === 'number') thresholds.push(bound);
    }
  }
  out.unshift(...numericBoundaries(thresholds, isChanged));
  out.push(...catalogValues);
  if (spendCaps.length > 0) out.push(0, 1);
  if (out.length === 0 && schema) out.push(exampleValue(schema, catalogTool?.inputSchema));
  // agent.id is always present in a real call: the gateway knows who calls.
  if (path !== 'agent.id') out.push(MISSING);
  else out.push(TEST_AGENT.id);
  const seen = new Set<string>();
  return out.filter((v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return false;
    const key = v === MISSING ? '\u0000missing' : canonicalJson(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

type Schema = Readonly<Record<string, unknown>>;

function isSchema(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schemaOfPath(tool: CatalogTool | undefined, path: string): Schema | undefined {
  if (!tool || !path.startsWith('args')) return undefined;
  let schema: Schema | undefined = tool.inputSchema;
  for (const segment of parsePath(path).segments) {
    if (!schema) return undefined;
    if (typeof segment === 'number') {
      const prefix = schema['prefixItems'];
      const items: unknown = Array.isArray(prefix) && prefix[segment] !== undefined ? prefix[segment] : schema['items'];
      schema = isSchema(items) ? items : undefined;
    } else {
      const properties = schema['properties'];
      const next = isSchema(properties) ? properties[segment] : undefined;
      schema = isSchema(next) ? next : undefined;
    }
  }
  return schema;
}

function schemaValues(schema: Schema): unknown[] {
  const out: unknown[] = [];
  if (schema['const'] !== undefined) out.push(schema['const']);
  if (Array.isArray(schema['enum'])) out.push(...(schema['enum'] as unknown[]));
  if (schema['default'] !== undefined) out.push(schema['default']);
  if (Array.isArray(schema['examples'])) out.push(...(schema['examples'] as unknown[]));
  return out;
}

/** The catalog's required arguments, each with a value that fits its schema, so calls are valid. */
function requiredDefaults(tool: CatalogTool | undefined): Map<string, unknown> {
  return new Map(tool ? Object.entries(exampleArguments(tool.inputSchema)) : []);
}

function holds(condition: Condition, path: string, value: Value): boolean {
  const compiled = compileCondition(condition, { maxPatternInput: 8192 });
  return compiled.test(buildCall('t', new Map([[path, value]]), new Map())) === Outcome.True;
}

/** For each path of the conditions, the first candidate value satisfying all of them there. */
function satisfying(conds: readonly Condition[], values: ReadonlyMap<string, Value[]>): Map<string, Value> {
  const out = new Map<string, Value>();
  const byPath = new Map<string, Condition[]>();
  for (const c of conds) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
  for (const [path, cs] of byPath) {
    const v = (values.get(path) ?? []).find((candidate) => cs.every((c) => holds(c, path, candidate)));
    if (v !== undefined) out.set(path, v);
  }
  return out;
}

/**
 * Starting from a call that passes `require`, changes one path of each gate (deny_if,
 * approve_if) the call matches so that it no longer does: the anchor of an allowed call.
 */
function avoidGates(start: Map<string, Value>, require: readonly Condition[], gates: readonly { conditions: Condition[] }[], values: ReadonlyMap<string, Value[]>): Map<string, Value> {
  const assignment = new Map(start);
  for (const gate of gates) {
    const matches = gate.conditions.every((c) => holds(c, c.path, assignment.has(c.path) ? assignment.get(c.path) : MISSING));
    if (!matches) continue;
    for (const c of gate.conditions) {
      const required = require.filter((r) => r.path === c.path);
      const v = (values.get(c.path) ?? []).find((candidate) => !holds(c, c.path, candidate) && required.every((r) => holds(r, c.path, candidate)));
      if (v !== undefined) {
        assignment.set(c.path, v);
        break;
      }
    }
  }
  return assignment;
}

function* cartesian(paths: readonly string[], values: ReadonlyMap<string, Value[]>, i = 0, acc: Map<string, Value> = new Map()): Generator<Assignment> {
  if (i === paths.length) {
    yield new Map(acc);
    return;
  }
  const path = paths[i]!;
  for (const v of values.get(path)!) {
    acc.set(path, v);
    yield* cartesian(paths, values, i + 1, acc);
  }
  acc.delete(path);
}

function setIn(target: Record<string, unknown> | unknown[], segments: readonly (string | number)[], value: unknown): void {
  let node: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < segments.length; i++) {
    const key = segments[i]!;
    const last = i === segments.length - 1;
    const slot = node as Record<string | number, unknown>;
    if (last) {
      if (value === MISSING) {
        if (Array.isArray(node) && typeof key === 'number') node.length = Math.min(node.length, key);
        else delete slot[key];
      } else {
        if (Array.isArray(node) && typeof key === 'number') while (node.length < key) node.push(null);
        slot[key] = value;
      }
      return;
    }
    const nextIsIndex = typeof segments[i + 1] === 'number';
    let child = slot[key];
    if (child === null || typeof child !== 'object' || Array.isArray(child) !== nextIsIndex) {
      if (value === MISSING) return;
      child = nextIsIndex ? [] : {};
      if (Array.isArray(node) && typeof key === 'number') while (node.length < key) node.push(null);
      slot[key] = child;
    }
    node = child as Record<string, unknown> | unknown[];
  }
}

/** Builds a call: the catalog's required arguments, then the assigned paths (deeper paths last). */
function buildCall(tool: string, assignment: Assignment, defaults: ReadonlyMap<string, unknown>): ToolCall {
  const args: Record<string, unknown> = {};
  for (const [name, v] of defaults) args[name] = structuredClone(v);
  let agentId: string = TEST_AGENT.id;
  const labels: Record<string, string> = {};
  let hasLabels = false;
  let session: { id: string } | undefined = TEST_SESSION;
  const ordered = [...assignment].sort(([a], [b]) => a.length - b.length);
  for (const [path, v] of ordered) {
    const parsed = parsePath(path);
    if (path === 'agent.id') {
      if (typeof v === 'string') agentId = v;
    } else if (parsed.root === 'agent') {
      if (typeof v === 'string') {
        labels[parsed.segments[1] as string] = v;
        hasLabels = true;
      }
    } else if (parsed.root === 'session') {
      session = typeof v === 'string' ? { id: v } : undefined;
    } else {
      setIn(args, parsed.segments, v === MISSING ? MISSING : structuredClone(v));
    }
  }
  return { tool, args, agent: hasLabels ? { id: agentId, labels } : { id: agentId }, ...(session ? { session } : {}) };
}

/** Writes numeric amounts into a call's spend paths (`increment_from`), returning a new call. */
export function withAmounts(call: ToolCall, amounts: SequenceShape['amounts']): ToolCall {
  if (amounts.length === 0) return call;
  const args = structuredClone((call.args ?? {}) as Record<string, unknown>);
  for (const { path, value } of amounts) {
    const parsed = parsePath(path);
    if (parsed.root === 'args') setIn(args, parsed.segments, value);
  }
  return { ...call, args };
}

function sequenceShapes(perPolicy: readonly Limit[][], spendCaps: ReadonlyMap<string, number[]>): SequenceShape[] {
  const all = perPolicy.flat();
  if (all.length === 0) return [];
  const differ = new Set(perPolicy.map((ls) => canonicalJson(ls))).size > 1;
  const windows = [...new Set(all.map((l) => windowSeconds(l.window)))].sort((a, b) => a - b);
  const intervals = [0, ...(windows.length > 1 ? [windows[0]!] : [])];
  const alternations: Array<SequenceShape['alternating']> = differ ? [null, 'agent', 'session'] : [null];
  const shapes: SequenceShape[] = [];
  const push = (length: number, amounts: SequenceShape['amounts']): void => {
    for (const interval of intervals) {
      for (const alternating of alternations) {
        const n = alternating === null ? length : Math.min(MAX_SEQUENCE, length * 2);
        shapes.push({ length: Math.min(MAX_SEQUENCE, n), interval_seconds: interval, alternating, amounts });
      }
    }
  };
  const spendPaths = [...spendCaps.keys()];
  const smallestCap = Math.min(...[...spendCaps.values()].flat().filter((c) => c > 0));
  const counting = [...new Set(all.filter((l) => l.increment_from === undefined).map((l) => l.max))].sort((a, b) => a - b);
  for (const max of counting) {
    if (max + 1 > MAX_SEQUENCE) continue;
    const length = Math.floor(max) + 1;
    // A call counted by a spend cap too gets an amount small enough that the cap cannot end
    // the probe first: the largest power of ten that fits twice the probe under the smallest cap.
    const amounts = Number.isFinite(smallestCap) ? spendPaths.map((path) => ({ path, value: 10 ** Math.floor(Math.log10(smallestCap / (2 * length))) })) : [];
    push(length, amounts);
  }
  const largest = Math.max(...all.map((l) => l.max));
  for (const [, caps] of spendCaps) {
    for (const cap of [...new Set(caps)].sort((a, b) => a - b)) {
      if (cap <= 0) continue;
      const amount = cap / 2;
      const length = Math.min(MAX_SEQUENCE, Math.ceil(largest / amount) + 1);
      push(length, spendPaths.map((path) => ({ path, value: amount })));
    }
  }
  const seen = new Set<string>();
  return shapes.filter((s) => {
    const key = JSON.stringify(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
