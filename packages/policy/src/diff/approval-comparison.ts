import type { ApprovalRequirement } from '../evaluate/decision.js';

/** The parts of an approval requirement a change can make easier or harder to meet. */
export type ApprovalField = 'approvers' | 'timeout' | 'min_approvals';

/**
 * What a rule's `timeout` is compared as when it has none (`timeout_ms: null`): the gateway's
 * default `approvals.timeout`, 10 minutes (DESIGN §5). A gateway configured with another default
 * may rank a change to or from the default the other way; `diffPolicySets` takes the value as an option.
 */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60 * 1000;

/** How an approval requirement moved from base to head: the fields that made it easier to get (wider), and harder (narrower). */
export interface ApprovalComparison {
  readonly wider: readonly ApprovalField[];
  readonly narrower: readonly ApprovalField[];
}

/**
 * Compares two approval requirements by how easy they are to meet. Approval is easier to get
 * (wider) with fewer `min_approvals`, with more people allowed to decide (an approver id or group
 * added, or the list removed: `null` is any configured approver), and with a longer `timeout`
 * (more time to find them; `null` counts as `defaultTimeoutMs`). The reverse is narrower; a list
 * of approvers that gained some and lost others is both.
 *
 * @example
 * compareApprovals({ approvers: ['risk'], timeout_ms: null, min_approvals: 2 }, { approvers: null, timeout_ms: null, min_approvals: 2 })
 * // { wider: ['approvers'], narrower: [] }
 */
export function compareApprovals(base: ApprovalRequirement, head: ApprovalRequirement, defaultTimeoutMs = DEFAULT_APPROVAL_TIMEOUT_MS): ApprovalComparison {
  const wider: ApprovalField[] = [];
  const narrower: ApprovalField[] = [];
  const b = base.approvers;
  const h = head.approvers;
  if (b === null && h !== null) narrower.push('approvers');
  else if (b !== null && h === null) wider.push('approvers');
  else if (b !== null && h !== null) {
    if (h.some((a) => !b.includes(a))) wider.push('approvers');
    if (b.some((a) => !h.includes(a))) narrower.push('approvers');
  }
  const bt = base.timeout_ms ?? defaultTimeoutMs;
  const ht = head.timeout_ms ?? defaultTimeoutMs;
  if (ht > bt) wider.push('timeout');
  else if (ht < bt) narrower.push('timeout');
  if (head.min_approvals < base.min_approvals) wider.push('min_approvals');
  else if (head.min_approvals > base.min_approvals) narrower.push('min_approvals');
  return { wider, narrower };
}
