import { canonicalJson } from '../canonical-json.js';
import type { Condition, Limit, Policy, RateLimit, ToolRule } from '../generated/policy-types.js';
import { toolRuleId } from '../policy-rules.js';

/** What kind of edit a {@link StructuralChange} is. */
export type StructuralChangeKind =
  | 'server.added'
  | 'server.removed'
  | 'default.changed'
  | 'hide.added'
  | 'hide.removed'
  | 'shadow.changed'
  | 'tool.added'
  | 'tool.removed'
  | 'tool.changed'
  | 'rule.added'
  | 'rule.removed'
  | 'rule.changed'
  | 'limit.added'
  | 'limit.removed'
  | 'limit.changed';

/**
 * One edit between two versions of a server's policy, as a reviewer reads it. `place` is
 * where it is: `default`, `hide`, `shadow`, a tool name, or a rule's id (its own `id`, else
 * its place such as `tools.cancel_order.deny_if[0]`, as in decisions).
 */
export interface StructuralChange {
  readonly kind: StructuralChangeKind;
  readonly server: string;
  /** The tool it concerns; null for policy-wide changes. */
  readonly tool: string | null;
  readonly place: string;
  /** For `*.changed`: the fields that differ (e.g. `max`, `window`, `conditions`). */
  readonly fields?: readonly string[];
  /** The value before (absent for additions). */
  readonly before?: unknown;
  /** The value after (absent for removals). */
  readonly after?: unknown;
  /** The change in one line, e.g. `tools.send.limits[0] (counter "spend"): max 1000 → 5000`. */
  readonly text: string;
}

/** The text of a condition: `args.amount gt 1000`. */
export function conditionText(c: Condition): string {
  return c.op === 'exists' && c.value === undefined ? `${c.path} exists` : `${c.path} ${c.op} ${JSON.stringify(c.value)}`;
}

function conditionsText(conditions: readonly Condition[]): string {
  return conditions.length === 0 ? 'always' : conditions.map(conditionText).join(' and ');
}

function shadowOf(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { shadow?: unknown }).shadow === true;
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v);
}

/** Fields of two objects that differ, ignoring free-text `description`. */
function changedFields(before: object, after: object): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'description').sort();
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  return keys.filter((k) => (b[k] === undefined) !== (a[k] === undefined) || (b[k] !== undefined && canonicalJson(b[k]) !== canonicalJson(a[k])));
}

/**
 * The structural edits from `base` to `head` of one server's policy: the server added or
 * removed; `default`, `hide` and `shadow` changed; tools added or removed; per tool, the
 * action, reason and shadow flag, each require condition (by place), deny_if and approve_if
 * rule (by `id`, else by place), limit (by `id`, else counter name, else place) and
 * rate_limit. Descriptions are free text and not reported.
 *
 * @example diffPolicyStructure('ccxt', basePolicy, headPolicy).map((c) => c.text)
 */
export function diffPolicyStructure(server: string, base: Policy | undefined, head: Policy | undefined): StructuralChange[] {
  if (!base && !head) return [];
  if (!base) return [{ kind: 'server.added', server, tool: null, place: server, text: `server "${server}" added (default ${head!.default})` }];
  if (!head) return [{ kind: 'server.removed', server, tool: null, place: server, text: `server "${server}" removed` }];
  const out: StructuralChange[] = [];
  const push = (change: Omit<StructuralChange, 'server'>): void => {
    out.push({ server, ...change });
  };
  if (base.default !== head.default) push({ kind: 'default.changed', tool: null, place: 'default', before: base.default, after: head.default, text: `default: ${base.default} → ${head.default}` });
  if (shadowOf(base) !== shadowOf(head)) {
    push({ kind: 'shadow.changed', tool: null, place: 'shadow', before: shadowOf(base), after: shadowOf(head), text: shadowOf(head) ? 'the whole policy is now in shadow mode (observe only)' : 'the policy leaves shadow mode: it is enforced' });
  }
  const baseHide = new Set(base.hide ?? []);
  const headHide = new Set(head.hide ?? []);
  for (const t of headHide) if (!baseHide.has(t)) push({ kind: 'hide.added', tool: t === '*' ? null : t, place: 'hide', after: t, text: t === '*' ? 'hide: now hides every tool not listed' : `hide: "${t}" is now hidden` });
  for (const t of baseHide) if (!headHide.has(t)) push({ kind: 'hide.removed', tool: t === '*' ? null : t, place: 'hide', before: t, text: t === '*' ? 'hide: no longer hides every unlisted tool' : `hide: "${t}" is no longer hidden` });
  diffLimits(push, null, 'all_tools.limits', base.all_tools?.limits ?? [], head.all_tools?.limits ?? []);
  const baseTools = base.tools ?? {};
  const headTools = head.tools ?? {};
  const names = [...new Set([...Object.keys(baseTools), ...Object.keys(headTools)])].sort();
  for (const tool of names) {
    const b = baseTools[tool];
    const h = headTools[tool];
    if (!b && h) push({ kind: 'tool.added', tool, place: tool, after: h, text: `tool "${tool}" added${h.action ? ` (action ${h.action})` : ''}` });
    else if (b && !h) push({ kind: 'tool.removed', tool, place: tool, before: b, text: `tool "${tool}" removed: now decided by hide/default (${head.default})` });
    else if (b && h) diffTool(push, tool, b, h);
  }
  return out;
}

type Push = (change: Omit<StructuralChange, 'server'>) => void;

function diffTool(push: Push, tool: string, b: ToolRule, h: ToolRule): void {
  for (const field of ['action', 'reason'] as const) {
    if (b[field] !== h[field]) {
      push({ kind: 'tool.changed', tool, place: toolRuleId(tool, field), fields: [field], before: b[field], after: h[field], text: `${toolRuleId(tool, field)}: ${show(b[field])} → ${show(h[field])}` });
    }
  }
  if (shadowOf(b) !== shadowOf(h)) {
    push({
      kind: 'shadow.changed',
      tool,
      place: toolRuleId(tool, 'shadow'),
      before: shadowOf(b),
      after: shadowOf(h),
      text: shadowOf(h) ? `tool "${tool}" is now in shadow mode (its rule is only recorded)` : `tool "${tool}" leaves shadow mode: its rule is enforced`,
    });
  }
  const bRequire = b.require ?? [];
  const hRequire = h.require ?? [];
  for (let i = 0; i < Math.max(bRequire.length, hRequire.length); i++) {
    const place = toolRuleId(tool, `require[${i}]`);
    const before = bRequire[i];
    const after = hRequire[i];
    if (!before) push({ kind: 'rule.added', tool, place, after, text: `${place} added: require ${conditionText(after!)}` });
    else if (!after) push({ kind: 'rule.removed', tool, place, before, text: `${place} removed: require ${conditionText(before)}` });
    else {
      const fields = changedFields(before, after);
      if (fields.length > 0) push({ kind: 'rule.changed', tool, place, fields, before, after, text: `${place}: require ${conditionText(before)} → ${conditionText(after)}` });
    }
  }
  diffGates(push, tool, 'deny_if', b.deny_if ?? [], h.deny_if ?? []);
  diffGates(push, tool, 'approve_if', b.approve_if ?? [], h.approve_if ?? []);
  diffLimits(push, tool, toolRuleId(tool, 'limits'), b.limits ?? [], h.limits ?? []);
  diffRateLimit(push, tool, b.rate_limit, h.rate_limit);
}

interface Gate {
  readonly id?: string;
  readonly conditions: Condition[];
}

function keyed<T>(items: readonly T[], key: (item: T, i: number) => string): Map<string, { item: T; index: number }> {
  const out = new Map<string, { item: T; index: number }>();
  items.forEach((item, index) => {
    const k = key(item, index);
    if (!out.has(k)) out.set(k, { item, index });
  });
  return out;
}

function diffGates(push: Push, tool: string, part: 'deny_if' | 'approve_if', before: readonly Gate[], after: readonly Gate[]): void {
  const label = part === 'deny_if' ? 'deny if' : 'approve if';
  const key = (g: Gate, i: number): string => g.id ?? `#${i}`;
  const b = keyed(before, key);
  const a = keyed(after, key);
  const place = (g: Gate, i: number): string => g.id ?? toolRuleId(tool, `${part}[${i}]`);
  for (const [k, { item, index }] of a) {
    const old = b.get(k);
    if (!old) push({ kind: 'rule.added', tool, place: place(item, index), after: item, text: `${place(item, index)} added: ${label} ${conditionsText(item.conditions)}` });
    else {
      const fields = changedFields(old.item, item);
      if (fields.length > 0) {
        push({
          kind: 'rule.changed',
          tool,
          place: place(item, index),
          fields,
          before: old.item,
          after: item,
          text: fields.includes('conditions')
            ? `${place(item, index)}: ${label} ${conditionsText(old.item.conditions)} → ${conditionsText(item.conditions)}`
            : `${place(item, index)}: ${fields.join(', ')} changed`,
        });
      }
    }
  }
  for (const [k, { item, index }] of b) {
    if (!a.has(k)) push({ kind: 'rule.removed', tool, place: place(item, index), before: item, text: `${place(item, index)} removed: ${label} ${conditionsText(item.conditions)}` });
  }
}

function limitText(l: Limit | RateLimit): string {
  const amount = 'increment_from' in l && l.increment_from ? ` of ${l.increment_from}` : ' calls';
  return `max ${l.max}${amount} per ${typeof l.window === 'number' ? `${l.window}s` : l.window}, scope ${l.scope ?? 'agent'}`;
}

function diffLimits(push: Push, tool: string | null, prefix: string, before: readonly Limit[], after: readonly Limit[]): void {
  // Limits are matched by id, else by counter name (a counter is what a limit is about), else by place.
  const key = (l: Limit, i: number): string => (l.id ? `id:${l.id}` : `counter:${l.counter}`) || `#${i}`;
  const b = keyed(before, key);
  const a = keyed(after, key);
  const place = (l: Limit, i: number): string => l.id ?? `${prefix}[${i}]`;
  for (const [k, { item, index }] of a) {
    const old = b.get(k);
    if (!old) {
      push({ kind: 'limit.added', tool, place: place(item, index), after: item, text: `${place(item, index)} added: counter "${item.counter}" ${limitText(item)}` });
      continue;
    }
    const fields = changedFields(old.item, item);
    if (fields.length === 0) continue;
    const detail = fields.map((f) => `${f} ${show((old.item as unknown as Record<string, unknown>)[f])} → ${show((item as unknown as Record<string, unknown>)[f])}`).join(', ');
    push({ kind: 'limit.changed', tool, place: place(item, index), fields, before: old.item, after: item, text: `${place(item, index)} (counter "${item.counter}"): ${detail}` });
  }
  for (const [k, { item, index }] of b) {
    if (!a.has(k)) push({ kind: 'limit.removed', tool, place: place(item, index), before: item, text: `${place(item, index)} removed: counter "${item.counter}" ${limitText(item)}` });
  }
}

function diffRateLimit(push: Push, tool: string, before: RateLimit | undefined, after: RateLimit | undefined): void {
  const place = toolRuleId(tool, 'rate_limit');
  if (!before && !after) return;
  if (!before) push({ kind: 'limit.added', tool, place, after, text: `${place} added: ${limitText(after!)}` });
  else if (!after) push({ kind: 'limit.removed', tool, place, before, text: `${place} removed: ${limitText(before)}` });
  else {
    const fields = changedFields(before, after);
    if (fields.length > 0) push({ kind: 'limit.changed', tool, place, fields, before, after, text: `${place}: ${limitText(before)} → ${limitText(after)}` });
  }
}
