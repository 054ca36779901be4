import type { ApprovalFlip, ApprovalRequirement, FlipKind, PrecedingCalls, ToolCall, ToolChange } from '@tollgate/policy';

const EXAMPLE_AGENT = 'test-agent';
const EXAMPLE_SESSION = 'test-session';

/** How each replay flip kind is written in reports. */
export const FLIP_LABELS: Readonly<Record<FlipKind, string>> = Object.freeze({
  allow_to_deny: 'allow → deny',
  deny_to_allow: 'deny → allow',
  to_approval: '→ approval',
  approval_to_allow: 'approval → allow',
  approval_to_deny: 'approval → deny',
  deny_hidden: 'deny ↔ hidden',
});

/** How each tool change is written in reports. */
export const CHANGE_LABELS: Readonly<Record<ToolChange, string>> = Object.freeze({
  wider: 'wider',
  narrower: 'narrower',
  both: 'wider and narrower',
  unchanged: 'unchanged',
});

/**
 * One call in one line: `send_payment {"amount":1000.01,"currency":"EUR"}`, then the agent,
 * its labels and the session when they are not the example defaults.
 */
export function formatCall(call: ToolCall, options: { withTool?: boolean; agent?: string; session?: string } = {}): string {
  const parts: string[] = [];
  if (options.withTool !== false) parts.push(call.tool);
  parts.push(JSON.stringify(call.args ?? {}));
  const agent = call.agent;
  const defaultAgent = options.agent ?? EXAMPLE_AGENT;
  if (agent && (agent.id !== defaultAgent || agent.labels)) {
    const labels = agent.labels ? Object.entries(agent.labels).map(([k, v]) => `${k}=${v}`).join(',') : '';
    parts.push(`as ${agent.id}${labels ? ` [${labels}]` : ''}`);
  }
  if (!call.session) parts.push('without a session');
  else if (call.session.id !== (options.session ?? EXAMPLE_SESSION)) parts.push(`in session ${call.session.id}`);
  return parts.join(' ');
}

/** A decision in a few words: `deny (tools.x.limits[0])`, `allow`. */
export function formatDecision(d: { effect: string; rule: string | null }): string {
  return d.rule === null ? d.effect : `${d.effect} (${d.rule})`;
}

function approvalPart(field: ApprovalFlip['fields'][number], r: ApprovalRequirement): string {
  if (field === 'min_approvals') return String(r.min_approvals);
  if (field === 'approvers') return r.approvers === null ? 'any approver' : JSON.stringify(r.approvers);
  return r.timeout_ms === null ? 'gateway default' : formatDuration(r.timeout_ms);
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * What made a held call's approval easier or harder to get, for an example whose effect is
 * `approval_required` on both sides: `min_approvals 2 → 1, approvers ["risk"] → any approver`.
 */
export function formatApprovalFlip(approval: ApprovalFlip | undefined): string {
  if (!approval) return '';
  return approval.fields.map((f) => `${f} ${approvalPart(f, approval.base)} → ${approvalPart(f, approval.head)}`).join(', ');
}

/** The calls before a limit probe's example: `after 5 identical calls, 60s apart, alternating agents`. */
export function formatPreceded(p: PrecedingCalls | undefined): string {
  if (!p) return '';
  const n = `after ${p.calls} identical call${p.calls === 1 ? '' : 's'}`;
  const spacing = p.interval_seconds > 0 ? `, ${p.interval_seconds}s apart` : ' in the same window';
  const alternating = p.alternating ? `, alternating between two ${p.alternating}s` : '';
  return `${n}${spacing}${alternating}`;
}

/** The short form of a commit for headings. */
export function shortCommit(commit: string | null): string {
  return commit ? commit.slice(0, 7) : '';
}
