import { canonicalJson } from '../canonical-json.js';
import type { ApprovalRequirement } from '../evaluate/decision.js';
import type { Condition, Limit, Policy, RateLimit, ToolRule } from '../generated/policy-types.js';
import { parseDuration } from '../parse/duration.js';
import { toolRuleId } from '../compile/policy-rules.js';
import { compareApprovals, DEFAULT_APPROVAL_TIMEOUT_MS, type ApprovalField } from './approval-comparison.js';

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
  /**
   * For a changed approval requirement (`approvers`, `timeout`, `min_approvals` of an
   * `approve_if` rule, or of a tool rule with `action: "approve"` on both sides): whether
   * approval got easier to get (`wider`), harder (`narrower`), or both (see `compareApprovals`).
   */
  readonly approval?: 'wider' | 'narrower' | 'both';
}

/** Options of {@link diffPolicyStructure}. */
export interface StructuralDiffOptions {
  /** What a rule without `timeout` is compared as (default {@link DEFAULT_APPROVAL_TIMEOUT_MS}, the gateway's default). */
  readonly defaultApprovalTimeoutMs?: number;
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
 * action, reason, shadow flag and approval fields (`approvers`, `timeout`, `min_approvals`),
 * each require condition (by place), deny_if and approve_if rule (by `id`, else by place), limit
 * (by `id`, else counter name, else place) and rate_limit. A changed approval requirement says
 * whether approval got easier or harder to get (`approval`). Descriptions are free text and not reported.
 *
 * @example diffPolicyStructure('ccxt', basePolicy, headPolicy).map((c) => c.text)
 */
export function diffPolicyStructure(server: string, base: Policy | undefined, head: Policy | undefined, options: StructuralDiffOptions = {}): StructuralChange[] {
  const defaultTimeoutMs = options.defaultApprovalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
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
    else if (b && h) diffTool(push, tool, b, h, defaultTimeoutMs);
  }
  return out;
}

type Push = (change: Omit<StructuralChange, 'server'>) => void;

function diffTool(push: Push, tool: string, b: ToolRule, h: ToolRule, defaultTimeoutMs: number): void {
  for (const field of ['action', 'reason'] as const) {
    if (b[field] !== h[field]) {
      push({ kind: 'tool.changed', tool, place: toolRuleId(tool, field), fields: [field], before: b[field], after: h[field], text: `${toolRuleId(tool, field)}: ${show(b[field])} → ${show(h[field])}` });
    }
  }
  // Only action "approve" reads a tool rule's approval fields: only then does a change make approval easier or harder.
  const approving = b.action === 'approve' && h.action === 'approve';
  for (const field of APPROVAL_FIELDS) {
    if (sameValue(b[field], h[field])) continue;
    const direction = approving ? approvalDirection(b, h, [field], defaultTimeoutMs) : undefined;
    const place = toolRuleId(tool, field);
    push({
      kind: 'tool.changed',
      tool,
      place,
      fields: [field],
      before: b[field],
      after: h[field],
      text: `${place}: ${approvalValue(field, b[field])} → ${approvalValue(field, h[field])}${directionText(direction)}`,
      ...(direction ? { approval: direction } : {}),
    });
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
  diffGates(push, tool, 'deny_if', b.deny_if ?? [], h.deny_if ?? [], defaultTimeoutMs);
  diffGates(push, tool, 'approve_if', b.approve_if ?? [], h.approve_if ?? [], defaultTimeoutMs);
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

const APPROVAL_FIELDS: readonly ApprovalField[] = ['approvers', 'timeout', 'min_approvals'];

type ApprovalFields = { readonly approvers?: readonly string[]; readonly timeout?: string; readonly min_approvals?: number };

function sameValue(a: unknown, b: unknown): boolean {
  return a === undefined || b === undefined ? a === b : canonicalJson(a) === canonicalJson(b);
}

/** The requirement a rule's approval fields make, as the compiler builds it. */
function requirementOf(r: ApprovalFields): ApprovalRequirement {
  return { approvers: r.approvers ?? null, timeout_ms: r.timeout === undefined ? null : parseDuration(r.timeout), min_approvals: r.min_approvals ?? 1 };
}

/** Whether the changes of `fields` make approval easier (wider), harder (narrower) or both; undefined when neither. */
function approvalDirection(b: ApprovalFields, h: ApprovalFields, fields: readonly ApprovalField[], defaultTimeoutMs: number): 'wider' | 'narrower' | 'both' | undefined {
  const compared = compareApprovals(requirementOf(b), requirementOf(h), defaultTimeoutMs);
  const wider = compared.wider.some((f) => fields.includes(f));
  const narrower = compared.narrower.some((f) => fields.includes(f));
  return wider && narrower ? 'both' : wider ? 'wider' : narrower ? 'narrower' : undefined;
}

function directionText(direction: 'wider' | 'narrower' | 'both' | undefined): string {
  if (direction === 'wider') return ' (approval easier to get)';
  if (direction === 'narrower') return ' (approval harder to get)';
  if (direction === 'both') return ' (approval easier to get in one way, harder in another)';
  return '';
}

/** An approval field's value as a reviewer reads it; absent ones say what applies instead. */
function approvalValue(field: ApprovalField, value: unknown): string {
  if (value !== undefined) return JSON.stringify(value);
  return field === 'approvers' ? '(any approver)' : field === 'timeout' ? '(gateway default)' : '(1)';
}

function diffGates(push: Push, tool: string, part: 'deny_if' | 'approve_if', before: readonly Gate[], after: readonly Gate[], defaultTimeoutMs: number): void {
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
        const approvalFields = part === 'approve_if' ? APPROVAL_FIELDS.filter((f) => fields.includes(f)) : [];
        const direction = approvalFields.length > 0 ? approvalDirection(old.item as ApprovalFields, item as ApprovalFields, approvalFields, defaultTimeoutMs) : undefined;
        const text = fields.includes('conditions')
          ? `${place(item, index)}: ${label} ${conditionsText(old.item.conditions)} → ${conditionsText(item.conditions)}`
          : approvalFields.length === 0
            ? `${place(item, index)}: ${fields.join(', ')} changed`
            : `${place(item, index)}: ${fields.map((f) => ((APPROVAL_FIELDS as readonly string[]).includes(f) ? approvalChange(f as ApprovalField, old.item, item) : `${f} changed`)).join(', ')}`;
        // The conditions' text is kept as it was; the approval fields follow it.
        const approvalTail = fields.includes('conditions') && approvalFields.length > 0 ? `; ${approvalFields.map((f) => approvalChange(f, old.item, item)).join(', ')}` : '';
        push({
          kind: 'rule.changed',
          tool,
          place: place(item, index),
          fields,
          before: old.item,
          after: item,
          text: `${text}${approvalTail}${directionText(direction)}`,
          ...(direction ? { approval: direction } : {}),
        });
      }
    }
  }
  for (const [k, { item, index }] of b) {
    if (!a.has(k)) push({ kind: 'rule.removed', tool, place: place(item, index), before: item, text: `${place(item, index)} removed: ${label} ${conditionsText(item.conditions)}` });
  }
}

function approvalChange(field: ApprovalField, before: object, after: object): string {
  return `${field} ${approvalValue(field, (before as Record<string, unknown>)[field])} → ${approvalValue(field, (after as Record<string, unknown>)[field])}`;
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
