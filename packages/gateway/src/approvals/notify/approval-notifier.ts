import type { ApprovalDeliveryRecord, ApprovalRecord, ApprovalVote } from '@tollgate/ledger';
import type { ApprovalNotifyEvent } from '../../config/gateway-config.js';

/**
 * A transition of an approval request, told once its ledger event is committed and the
 * request's new state is stored: opened (`requested`), an approver's grant or denial (each
 * vote, so a request that needs two grants is told twice), or its expiry.
 */
export interface ApprovalTransition {
  readonly event: ApprovalNotifyEvent;
  /** The request as it is after the transition. */
  readonly record: ApprovalRecord;
  /** The vote a `granted` or `denied` transition is; null for the others. */
  readonly vote: ApprovalVote | null;
  /** Why it expired, as the `approval.expired` event says; null for the others. */
  readonly reason: string | null;
  /** When it happened. */
  readonly at: Date;
}

/**
 * Tells approvers where they are that a request was opened or decided (`approvals.notify`).
 * The approval desk calls {@link notify} after each transition is on the record; it must
 * return at once and never fail, so that nobody — not the agent, not the approver — waits for
 * a receiver.
 */
export interface ApprovalNotifier {
  /** Takes note of a committed transition; delivery happens in the background. Never throws. */
  notify(transition: ApprovalTransition): void;
  /** Every delivery of the request's events and every attempt at it (for the admin API). */
  deliveries(approvalId: string): Promise<ApprovalDeliveryRecord[]>;
}
