import type { CompiledPolicy, Decision, PolicyRevision } from '@tollgate/policy';
import type { RefusalCode } from './call-result.js';

/**
 * The stable rule ids of the refusals the gateway makes itself, when no policy rule could
 * decide (DESIGN §4): they are recorded in the ledger like any decision.
 */
export const GATEWAY_RULES = Object.freeze({
  /** The gateway is shutting down and takes no new calls. */
  closing: 'gateway.closing',
  /** No active policy governs the upstream. */
  noPolicy: 'gateway.no_policy',
  /** The limit store did not answer. */
  limitsUnavailable: 'gateway.limits_unavailable',
  /** The limits and the decision's commit did not finish within the decision deadline. */
  decisionTimeout: 'gateway.decision_timeout',
  /** The approval store did not answer. */
  approvalsUnavailable: 'gateway.approvals_unavailable',
});

/** One of {@link GATEWAY_RULES}' ids. */
export type GatewayRule = (typeof GATEWAY_RULES)[keyof typeof GATEWAY_RULES];

/** A refusal the gateway decided without a policy rule. */
export interface GatewayRefusal {
  readonly effect: 'deny';
  readonly rule: GatewayRule;
  readonly reason: string;
  readonly code: RefusalCode;
  /** The revision and digest of the policy in force, when there is one. */
  readonly revision: PolicyRevision;
  readonly digest: string | null;
}

/** What decided a call: its policy, or the gateway itself. */
export type CallDecision = Decision | GatewayRefusal;

/** A {@link GatewayRefusal}, stamped with the policy in force (if any). */
export function gatewayRefusal(rule: GatewayRule, code: RefusalCode, reason: string, policy: CompiledPolicy | undefined): GatewayRefusal {
  return { effect: 'deny', rule, reason, code, revision: policy?.revision ?? null, digest: policy?.digest ?? null };
}

/** The code an agent sees for a decision that did not allow its call. */
export function refusalCode(decision: CallDecision): RefusalCode {
  switch (decision.code) {
    case 'rate_limited':
    case 'invalid_arguments':
      return decision.code;
    case 'approval.required':
    case 'tool.hidden':
    case 'policy.denied':
    case null:
      return decision.effect === 'approval_required' ? 'approval.required' : 'policy.denied';
    default:
      return decision.code;
  }
}
