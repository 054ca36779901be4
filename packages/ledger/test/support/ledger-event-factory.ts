import type {
  ApprovalRequestedEventInput,
  ApprovalResolvedEventInput,
  DecisionEventInput,
  OutcomeEventInput,
  PolicyEventInput,
} from '../../src/index.js';

/** A policy digest for tests. */
export const POLICY_DIGEST = 'c0ffee'.padEnd(64, '0');

/** A decision about `create_spot_market_order` on `ccxt`; override anything. */
export function decision(n: number, overrides: Partial<DecisionEventInput> = {}): DecisionEventInput {
  return {
    type: 'decision',
    callId: `call-${n}`,
    agentId: 'trader-1',
    sessionId: 'session-1',
    server: 'ccxt',
    tool: 'create_spot_market_order',
    args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: n / 100 },
    effect: 'allow',
    rule: null,
    reason: 'allowed by policy',
    policyRevision: '7',
    policyDigest: POLICY_DIGEST,
    ...overrides,
  };
}

/** The outcome of a call. */
export function outcome(n: number, overrides: Partial<OutcomeEventInput> = {}): OutcomeEventInput {
  return {
    type: 'outcome',
    callId: `call-${n}`,
    agentId: 'trader-1',
    sessionId: 'session-1',
    server: 'ccxt',
    tool: 'create_spot_market_order',
    status: 'ok',
    durationMs: 12.5,
    resultSha256: 'ab'.repeat(32),
    ...overrides,
  };
}

/** An approval request for a withdrawal. */
export function approvalRequested(id: string, overrides: Partial<ApprovalRequestedEventInput> = {}): ApprovalRequestedEventInput {
  return {
    type: 'approval.requested',
    approvalId: id,
    callId: `call-${id}`,
    agentId: 'trader-1',
    sessionId: 'session-1',
    server: 'ccxt',
    tool: 'withdraw_cryptocurrency',
    args: { exchange_id: 'binance', code: 'BTC', amount: 2, address: 'bc1qexample' },
    rule: 'tools.withdraw_cryptocurrency.approve_if[0]',
    reason: 'withdrawals over 1 BTC need a human',
    policyRevision: '7',
    policyDigest: POLICY_DIGEST,
    expiresAt: new Date('2030-01-01T00:10:00.000Z'),
    ...overrides,
  };
}

/** The resolution of an approval request. */
export function approvalResolved(
  id: string,
  type: ApprovalResolvedEventInput['type'],
  argsSha256: string,
  overrides: Partial<ApprovalResolvedEventInput> = {},
): ApprovalResolvedEventInput {
  return {
    type,
    approvalId: id,
    callId: `call-${id}`,
    agentId: 'trader-1',
    sessionId: 'session-1',
    server: 'ccxt',
    tool: 'withdraw_cryptocurrency',
    argsSha256,
    approver: type === 'approval.expired' ? null : 'alice',
    ...overrides,
  };
}

/** A policy activation. */
export function policyActivated(revision: string, overrides: Partial<PolicyEventInput> = {}): PolicyEventInput {
  return { type: 'policy.activated', server: 'ccxt', policyRevision: revision, policyDigest: POLICY_DIGEST, ...overrides };
}
