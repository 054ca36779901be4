import { canonicalDigest } from '@tollgate/policy';
import type {
  ApprovalRequestedEventInput,
  ApprovalResolvedEventInput,
  DecisionEventInput,
  JsonObject,
  OutcomeEventInput,
} from '../../src/index.js';
import { POLICY_DIGEST } from './ledger-event-factory.js';

/** What the approval events of {@link ApprovalEventFactory} are about: one held call, by default. */
export interface ApprovalCallShape {
  agentId: string;
  sessionId: string;
  server: string;
  tool: string;
  args: { [key: string]: string | number };
  rule: string;
}

/** A cancel held for a desk lead's approval, as in policies/ccxt. */
export const HELD_CANCEL: ApprovalCallShape = {
  agentId: 'desk-bot',
  sessionId: 'session-1',
  server: 'ccxt',
  tool: 'cancel_order',
  args: { exchange_id: 'binance', id: '42', symbol: 'BTC/USDT' },
  rule: 'tools.cancel_order.action',
};

/**
 * The ledger events the gateway writes for approvals (packages/gateway's ApprovalDesk and
 * ToolCallPipeline), each at `seconds` after `start`: the request (with `detail.approvers`,
 * `detail.min_approvals` and `expires_at`), the held decision, each vote and expiry (with
 * `detail.grants`), the allowed call that uses a grant, the refusal of a denied or expired
 * one, and the outcome.
 */
export class ApprovalEventFactory {
  constructor(
    private readonly start: number,
    readonly call: ApprovalCallShape = HELD_CANCEL,
  ) {}

  at(seconds: number): Date {
    return new Date(this.start + seconds * 1000);
  }

  /** SHA-256 of the call's canonical arguments. */
  get digest(): string {
    return canonicalDigest(this.call.args);
  }

  requested(
    id: string,
    seconds: number,
    options: { timeoutSeconds?: number; minApprovals?: number | null; callId?: string; agentId?: string; detail?: JsonObject } = {},
  ): ApprovalRequestedEventInput {
    const minApprovals = options.minApprovals === undefined ? 1 : options.minApprovals;
    return {
      type: 'approval.requested',
      at: this.at(seconds),
      approvalId: id,
      callId: options.callId ?? `call-${id}`,
      agentId: options.agentId ?? this.call.agentId,
      sessionId: this.call.sessionId,
      server: this.call.server,
      tool: this.call.tool,
      args: this.call.args,
      rule: this.call.rule,
      reason: 'needs a human approval',
      policyRevision: '7',
      policyDigest: POLICY_DIGEST,
      expiresAt: this.at(seconds + (options.timeoutSeconds ?? 600)),
      detail: options.detail ?? { approvers: ['desk-leads'], ...(minApprovals === null ? {} : { min_approvals: minApprovals }) },
    };
  }

  /** The decision of a call held for approval `id`. */
  held(id: string, seconds: number, callId = `call-${id}`): DecisionEventInput {
    return this.decision(id, seconds, callId, { effect: 'approval_required', reason: 'needs a human approval', detail: { code: 'approval.required' } });
  }

  vote(type: 'approval.granted' | 'approval.denied', id: string, seconds: number, approver: string, grants = 1, reason?: string): ApprovalResolvedEventInput {
    return {
      type,
      at: this.at(seconds),
      approvalId: id,
      callId: `call-${id}`,
      agentId: this.call.agentId,
      sessionId: this.call.sessionId,
      server: this.call.server,
      tool: this.call.tool,
      argsSha256: this.digest,
      approver,
      reason: reason ?? (type === 'approval.granted' ? 'looks right' : 'not now'),
      detail: { grants, min_approvals: 1, status: type === 'approval.granted' ? 'granted' : 'denied' },
    };
  }

  granted(id: string, seconds: number, approver = 'desk-lead', grants = 1, reason?: string): ApprovalResolvedEventInput {
    return this.vote('approval.granted', id, seconds, approver, grants, reason);
  }

  denied(id: string, seconds: number, approver = 'desk-lead', reason?: string): ApprovalResolvedEventInput {
    return this.vote('approval.denied', id, seconds, approver, 0, reason);
  }

  expired(id: string, seconds: number, reason = 'not decided in time (0 of 1 grants)'): ApprovalResolvedEventInput {
    return { ...this.vote('approval.granted', id, seconds, 'x'), type: 'approval.expired', approver: null, reason, detail: { grants: 0, min_approvals: 1 } };
  }

  /** The allowed call that ran on approval `id`. */
  used(id: string, seconds: number, callId = `call-${id}`, overrides: Partial<DecisionEventInput> = {}): DecisionEventInput {
    return this.decision(id, seconds, callId, { effect: 'allow', reason: `allowed by approval ${id}`, detail: { limits: [] }, ...overrides });
  }

  /** The refusal of a call whose approval `id` was denied or expired (or whose grant a limit refused). */
  refused(id: string, seconds: number, code: string, callId = `call-${id}`): DecisionEventInput {
    return this.decision(id, seconds, callId, { effect: 'deny', reason: `approval ${id}: ${code}`, detail: { code } });
  }

  outcome(seconds: number, callId: string): OutcomeEventInput {
    const { agentId, sessionId, server, tool } = this.call;
    return { type: 'outcome', at: this.at(seconds), callId, agentId, sessionId, server, tool, status: 'ok', durationMs: 40, resultSha256: 'ab'.repeat(32) };
  }

  private decision(id: string, seconds: number, callId: string, overrides: Partial<DecisionEventInput>): DecisionEventInput {
    const { agentId, sessionId, server, tool, args, rule } = this.call;
    return {
      type: 'decision',
      at: this.at(seconds),
      callId,
      agentId,
      sessionId,
      server,
      tool,
      args,
      effect: 'allow',
      rule,
      reason: '',
      policyRevision: '7',
      policyDigest: POLICY_DIGEST,
      approvalId: id,
      ...overrides,
    };
  }
}
