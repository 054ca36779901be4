import type { ApprovalRecord } from '@tollgate/ledger';
import { approvalView, type ApprovalView } from '../../admin/approvals-api.js';
import type { ApprovalNotifyEvent } from '../../config/gateway-config.js';
import type { ApprovalTransition } from './approval-notifier.js';

/** The body of a `format: json` notification (docs/approvals.md, "Notifications"). */
export interface ApprovalNotificationBody {
  /** `approval.requested`, `approval.granted`, `approval.denied` or `approval.expired` (also `X-Tollgate-Event`). */
  readonly event: `approval.${ApprovalNotifyEvent}`;
  /** The delivery id (also `X-Tollgate-Delivery`): the same at every attempt. */
  readonly delivery_id: string;
  /** When the transition happened. */
  readonly occurred_at: string;
  /** One line for people: what happened, to which call, and what is next. */
  readonly summary: string;
  /** The vote a `granted` or `denied` event tells of; null for the others. */
  readonly vote: { readonly approver: string; readonly decision: 'grant' | 'deny'; readonly reason: string | null; readonly at: string } | null;
  /** The request as the admin API shows it (`GET /approvals/{id}`), after the transition. */
  readonly approval: ApprovalView;
  /** Where approvers decide it: `<console_url>/console#<id>`; null when the gateway has no admin port. */
  readonly console_url: string | null;
}

/** `<base>/console#<id>`, or null without a base. */
export function consoleLink(base: string | undefined, approvalId: string): string | null {
  return base === undefined ? null : `${base.replace(/\/+$/, '')}/console#${approvalId}`;
}

/** The notification of a transition as Tollgate's JSON body. */
export function renderJsonNotification(t: ApprovalTransition, deliveryId: string, consoleUrl: string | null): string {
  const body: ApprovalNotificationBody = {
    event: `approval.${t.event}`,
    delivery_id: deliveryId,
    occurred_at: t.at.toISOString(),
    summary: notificationSummary(t),
    vote: t.vote ? { approver: t.vote.approver, decision: t.vote.decision, reason: t.vote.reason, at: t.vote.at.toISOString() } : null,
    approval: approvalView(t.record),
    console_url: consoleUrl,
  };
  return JSON.stringify(body);
}

/** How many distinct approvers granted the request. */
export function grantsOf(r: ApprovalRecord): number {
  return new Set(r.votes.filter((v) => v.decision === 'grant').map((v) => v.approver)).size;
}

/** Who may decide the request, in words. */
export function whoMayApprove(r: ApprovalRecord): string {
  const who = r.approvers === null ? 'any approver' : r.approvers.join(', ');
  return `${who}; ${r.minApprovals} grant${r.minApprovals === 1 ? '' : 's'} needed`;
}

/** One line saying what happened, e.g. "desk-lead granted ccxt/cancel_order for agent desk-bot: approved, the call may run". */
export function notificationSummary(t: ApprovalTransition): string {
  const r = t.record;
  const call = `${r.server}/${r.tool} for agent ${r.agentId}`;
  switch (t.event) {
    case 'requested':
      return `Approval needed: ${call} — ${r.reason} (${whoMayApprove(r)}; expires ${r.expiresAt.toISOString()})`;
    case 'granted': {
      const by = t.vote?.approver ?? 'an approver';
      if (r.status === 'pending') return `${by} granted ${call} (${grantsOf(r)} of ${r.minApprovals} grants): it needs another approver`;
      return `${by} granted ${call}: approved, the call may run`;
    }
    case 'denied':
      return `${t.vote?.approver ?? 'an approver'} denied ${call}${t.vote?.reason ? `: ${t.vote.reason}` : ''}`;
    case 'expired':
      return `The approval of ${call} expired${t.reason ? `: ${t.reason}` : ''}`;
  }
}
