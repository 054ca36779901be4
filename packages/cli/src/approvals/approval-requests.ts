import type { ApprovalBody, DeliveryBody } from '@tollgate/gateway';
import { adminRequest, type AdminConnection } from '../admin/admin-client.js';
import { CliError, ExitCode } from '../cli-error.js';
import type { TerminalStyle } from '../render/terminal-style.js';

/** The statuses `tollgate approvals list --status` takes (`all` lists every one). */
export const APPROVAL_STATUSES = ['pending', 'granted', 'denied', 'expired', 'consumed', 'all'] as const;
/** One of {@link APPROVAL_STATUSES}. */
export type ApprovalStatusFilter = (typeof APPROVAL_STATUSES)[number];

const TOKEN_HINT = "Pass an approver's (or the admin) token with --token or TOLLGATE_TOKEN: its SHA-256 is in the gateway config's approvals.approvers (or admin.token_sha256).";

/** Lists approval requests (`GET /approvals`), newest first. */
export async function listApprovals(connection: AdminConnection, status: ApprovalStatusFilter, limit: number): Promise<ApprovalBody[]> {
  const query = new URLSearchParams({ limit: String(limit), ...(status === 'all' ? {} : { status }) });
  const answer = await adminRequest(connection, `/approvals?${query}`, { tokenHint: TOKEN_HINT });
  const body = answer.body as { approvals?: ApprovalBody[] } | undefined;
  if (answer.status !== 200 || !Array.isArray(body?.approvals)) throw refused(answer.status, answer.body, answer.url);
  return body.approvals;
}

/** One approval request (`GET /approvals/{id}`). */
export async function showApproval(connection: AdminConnection, id: string): Promise<ApprovalBody> {
  const answer = await adminRequest(connection, `/approvals/${encodeURIComponent(id)}`, { tokenHint: TOKEN_HINT });
  if (answer.status !== 200 || !isApproval(answer.body)) throw refused(answer.status, answer.body, answer.url);
  return answer.body;
}

/**
 * Grants or denies a request (`POST /approvals/{id}/approve|deny`) as the token's approver.
 * @throws CliError `approvals.forbidden` (exit 1) when this approver may not decide it,
 *   `approvals.conflict` (exit 1) when it is already decided or expired, `approvals.not-found` (exit 2).
 */
export async function decideApproval(connection: AdminConnection, id: string, decision: 'approve' | 'deny', reason: string | undefined): Promise<ApprovalBody> {
  const answer = await adminRequest(connection, `/approvals/${encodeURIComponent(id)}/${decision}`, {
    method: 'POST',
    body: reason === undefined ? {} : { reason },
    tokenHint: TOKEN_HINT,
  });
  if (answer.status !== 200 || !isApproval(answer.body)) throw refused(answer.status, answer.body, answer.url);
  return answer.body;
}

function isApproval(body: unknown): body is ApprovalBody {
  return typeof body === 'object' && body !== null && typeof (body as { id?: unknown }).id === 'string' && typeof (body as { status?: unknown }).status === 'string';
}

function refused(status: number, body: unknown, url: URL): CliError {
  const error = typeof (body as { error?: unknown } | undefined)?.error === 'string' ? (body as { error: string }).error : `answered ${status}`;
  switch (status) {
    case 403:
      return new CliError('approvals.forbidden', `refused: ${error}`, { exit: ExitCode.findings, hint: 'Only the approvers the rule names may decide it, never the agent that asked.' });
    case 404:
      return new CliError('approvals.not-found', error, { exit: ExitCode.input, hint: 'List the requests with: tollgate approvals list --status all' });
    case 409:
      return new CliError('approvals.conflict', `refused: ${error}`, { exit: ExitCode.findings });
    case 400:
      return new CliError('usage', error, { exit: ExitCode.input });
    default:
      return new CliError('admin.invalid', `the admin API at ${url.origin} answered ${status}: ${error}`, { exit: ExitCode.input, hint: "Is this a Tollgate gateway's admin port, with approvals enabled?" });
  }
}

const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** How long until `iso` (or how long ago), in words: `in 9m12s`, `3m ago`. */
export function timeLeft(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** Requests as an aligned table, as `ledger query` prints events. */
export function renderApprovalTable(approvals: readonly ApprovalBody[], now: number): string {
  if (approvals.length === 0) return 'No approval requests.';
  const header = ['ID', 'STATUS', 'SERVER', 'TOOL', 'AGENT', 'RULE', 'GRANTS', 'REQUESTED', 'EXPIRES'];
  const rows = approvals.map((a) => [
    a.id,
    a.status,
    a.server,
    a.tool,
    a.agent,
    clip(a.rule, 40),
    `${a.decisions.filter((d) => d.decision === 'grant').length}/${a.min_approvals}`,
    a.requested_at,
    a.status === 'pending' ? timeLeft(a.expires_at, now) : a.expires_at,
  ].map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** One request in full: the call, the rule, who may decide, and every decision so far. */
export function renderApproval(a: ApprovalBody, style: TerminalStyle, now: number): string {
  const lines = [
    `${style.bold('Approval')}     ${a.id}  ${statusText(a.status, style)}`,
    `  call         ${a.server} / ${style.cyan(a.tool)} by agent ${a.agent}${a.session ? ` (session ${a.session})` : ''}`,
    `  rule         ${a.rule}`,
    `  reason       ${printable(a.reason)}`,
    `  policy       ${a.policy_revision === null ? 'no revision' : `revision ${a.policy_revision}`}, digest ${a.policy_digest.slice(0, 16)}…`,
    `  requested    ${a.requested_at}`,
    `  expires      ${a.expires_at}${a.status === 'pending' ? ` (${timeLeft(a.expires_at, now)})` : ''}`,
    `  approvers    ${a.approvers === null ? 'any configured approver' : a.approvers.join(', ')}; ${a.min_approvals} grant(s) needed`,
    `  arguments    ${style.dim(`sha256 ${a.args_sha256}`)}`,
    ...JSON.stringify(a.arguments, null, 2).split('\n').map((l) => `    ${printable(l)}`),
  ];
  if (a.decisions.length === 0) lines.push('  decisions    none yet');
  for (const [i, d] of a.decisions.entries()) {
    lines.push(`  ${i === 0 ? 'decisions' : '         '}    ${d.at} ${d.decision === 'grant' ? style.green('granted') : style.red('denied')} by ${d.approver}${d.reason ? `: ${printable(d.reason)}` : ''}`);
  }
  if (a.consumed_at) lines.push(`  used         ${a.consumed_at}`);
  if (!a.can_decide && a.cannot_decide_reason && a.status === 'pending') lines.push(`  ${style.yellow('you cannot decide it:')} ${a.cannot_decide_reason}`);
  lines.push(...renderDeliveries(a, style, now));
  return lines.join('\n');
}

/**
 * The request's webhook notifications (`approvals.notify`), each with every attempt: when, the
 * HTTP status or why it failed, how long it took, and which replica made it. Nothing when the
 * gateway has no notifications configured.
 */
export function renderDeliveries(a: ApprovalBody, style: TerminalStyle, now: number): string[] {
  if (a.deliveries_error) return [`  notifications ${style.red(printable(a.deliveries_error))}`];
  if (a.deliveries === undefined) return [];
  if (a.deliveries.length === 0) return ['  notifications none yet'];
  const lines: string[] = [];
  for (const [i, d] of a.deliveries.entries()) {
    const what = `${printable(d.receiver)}: ${d.event}${d.approver ? ` by ${printable(d.approver)}` : ''} (${d.format})`;
    lines.push(`  ${i === 0 ? 'notifications' : '             '} ${what} — ${deliveryStatus(d, style, now)}  ${style.dim(`delivery ${d.id}`)}`);
    for (const t of d.attempts) {
      const result = t.status_code !== null && t.error === null ? style.green(`HTTP ${t.status_code}`) : style.red(printable(t.error ?? `HTTP ${t.status_code}`));
      lines.push(`                  #${t.attempt} ${t.at} ${result} in ${t.duration_ms} ms ${style.dim(`by ${printable(t.replica)}`)}`);
    }
  }
  return lines;
}

function deliveryStatus(d: DeliveryBody, style: TerminalStyle, now: number): string {
  const tried = `${d.attempts.length} of ${d.max_attempts} attempts`;
  switch (d.status) {
    case 'delivered':
      return style.green(`delivered`) + ` (${d.attempts.length === 1 ? '1 attempt' : `${d.attempts.length} attempts`})`;
    case 'failed':
      return style.red('failed') + ` (${tried}${d.note ? `; ${printable(d.note)}` : ''})`;
    case 'dropped':
      return style.red('dropped') + (d.note ? `: ${printable(d.note)}` : '');
    case 'delivering':
      return style.yellow('delivering') + ` (${tried} so far)`;
    default:
      return style.yellow('pending') + ` (${tried}${d.next_attempt_at ? `; next ${timeLeft(d.next_attempt_at, now)}` : ''})`;
  }
}

function statusText(status: string, style: TerminalStyle): string {
  switch (status) {
    case 'granted':
    case 'consumed':
      return style.green(status);
    case 'denied':
    case 'expired':
      return style.red(status);
    default:
      return style.yellow(status);
  }
}
