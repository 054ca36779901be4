import { canonicalDigest } from '@tollgate/policy';
import { LedgerWriter, type LedgerConnection } from '../../src/index.js';
import { approvalRequested, approvalResolved, decision, outcome, policyActivated } from './ledger-event-factory.js';

/** When the audit scenario starts. */
export const SCENARIO_START = new Date('2030-05-01T09:00:00.000Z');

/** The arguments of the scenario's withdrawals. */
export const WITHDRAWAL = { exchange_id: 'binance', code: 'BTC', amount: 2, address: 'bc1qexample' };

const at = (minutes: number) => new Date(SCENARIO_START.getTime() + minutes * 60_000);

/**
 * A day at the desk, with one of everything an auditor looks for: normal calls, a denial then a
 * retry with changed arguments, a call allowed without an outcome, two sound approvals (one
 * held, one for trader-2's session), an expired approval, and a decision under a policy
 * revision that was never activated. Its approvals are sound, so `verify` passes it; the
 * approval findings have a scenario of their own (approval-audit-scenario.ts).
 */
export async function writeAuditScenario(connection: LedgerConnection): Promise<LedgerWriter> {
  const writer = new LedgerWriter(connection, { label: 'audit-scenario' });
  const digest = canonicalDigest(WITHDRAWAL);
  const events = [
    policyActivated('7', { at: at(0) }),
    // trader-1 places an order: allowed, ran.
    decision(1, { at: at(1) }),
    outcome(1, { at: at(2) }),
    // trader-1 is denied a withdrawal, then retries with a smaller amount: held for approval.
    decision(2, {
      at: at(3),
      tool: 'withdraw_cryptocurrency',
      args: { ...WITHDRAWAL, amount: 50 },
      effect: 'deny',
      rule: 'tools.withdraw_cryptocurrency.deny_if[0]',
      reason: 'withdrawals over 10 BTC are not allowed',
    }),
    decision(3, {
      at: at(4),
      tool: 'withdraw_cryptocurrency',
      args: WITHDRAWAL,
      effect: 'approval_required',
      rule: 'tools.withdraw_cryptocurrency.approve_if[0]',
      reason: 'withdrawals over 1 BTC need a human',
      callId: 'call-appr-1',
    }),
    approvalRequested('appr-1', { at: at(5), expiresAt: at(15) }),
    approvalResolved('appr-1', 'approval.granted', digest, { at: at(6), approver: 'alice' }),
    decision(4, { at: at(7), tool: 'withdraw_cryptocurrency', args: WITHDRAWAL, callId: 'call-appr-1', approvalId: 'appr-1', rule: 'tools.withdraw_cryptocurrency.approve_if[0]' }),
    outcome(4, { at: at(8), tool: 'withdraw_cryptocurrency', callId: 'call-appr-1' }),
    // bob approves trader-2's withdrawal.
    approvalRequested('appr-2', { at: at(10), agentId: 'trader-2', sessionId: 'session-2', callId: 'call-appr-2', expiresAt: at(20) }),
    approvalResolved('appr-2', 'approval.granted', digest, { at: at(11), agentId: 'trader-2', sessionId: 'session-2', callId: 'call-appr-2', approver: 'bob' }),
    decision(5, {
      at: at(12),
      agentId: 'trader-2',
      sessionId: 'session-2',
      tool: 'withdraw_cryptocurrency',
      args: WITHDRAWAL,
      callId: 'call-appr-2',
      approvalId: 'appr-2',
    }),
    outcome(5, { at: at(13), agentId: 'trader-2', sessionId: 'session-2', tool: 'withdraw_cryptocurrency', callId: 'call-appr-2' }),
    // An approval nobody answered.
    approvalRequested('appr-3', { at: at(14), callId: 'call-appr-3', expiresAt: at(24) }),
    approvalResolved('appr-3', 'approval.expired', digest, { at: at(24), callId: 'call-appr-3', reason: 'no answer within 10m' }),
    // trader-2 is allowed a cancel but the gateway stopped before recording its outcome.
    decision(6, { at: at(30), agentId: 'trader-2', sessionId: 'session-2', tool: 'cancel_order', args: { exchange_id: 'binance', id: '42' } }),
    // A decision under revision 9, which was never recorded as activated.
    decision(7, { at: at(40), policyRevision: '9' }),
    outcome(7, { at: at(41) }),
    // A hidden tool.
    decision(8, { at: at(42), tool: 'fetch_deposit_address', effect: 'hidden', rule: 'hide', reason: 'hidden by policy' }),
  ];
  for (const event of events) await writer.append(event);
  await writer.close();
  return writer;
}
