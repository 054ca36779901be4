import { LedgerWriter, type AppendedEvent, type LedgerConnection, type LedgerEventInput } from '../../src/index.js';
import { ApprovalEventFactory, HELD_CANCEL, type ApprovalCallShape } from './approval-event-factory.js';

/** When the approvals scenario starts: the day after the audit scenario's. */
export const APPROVALS_START = new Date('2030-05-02T10:00:00.000Z');

/** A withdrawal above 1 unit: two treasurers must approve it (policies/ccxt's large-withdrawal). */
export const LARGE_WITHDRAWAL: ApprovalCallShape = {
  agentId: 'desk-bot',
  sessionId: 'session-1',
  server: 'ccxt',
  tool: 'withdraw_cryptocurrency',
  args: { exchange_id: 'binance', code: 'BTC', amount: 2, address: 'bc1qtreasury' },
  rule: 'large-withdrawal',
};

/** The scenario's two kinds of call, each at `seconds` after {@link APPROVALS_START}. */
export const cancels = new ApprovalEventFactory(APPROVALS_START.getTime(), HELD_CANCEL);
export const withdrawals = new ApprovalEventFactory(APPROVALS_START.getTime(), LARGE_WITHDRAWAL);

const TREASURY = { approvers: ['treasury'], min_approvals: 2 };

/**
 * A morning of approvals on two gateway replicas (A and B) sharing one ledger, every one
 * sound — `verify` passes it:
 *
 * - `ap-cancel`: a cancel held on A, granted through B by desk-lead after 45 s, run on A;
 * - `ap-withdraw`: a withdrawal two treasurers approve (through B, then A) in 5 min, run by the
 *   agent's repeated call on B (retry mode);
 * - `ap-cancel-denied`: a cancel desk-lead denies after 30 s;
 * - `ap-withdraw-expired`: a withdrawal one treasurer of two approved before it expired;
 * - `ap-cancel-unused`: a cancel granted after 10 s that no call used before it expired;
 * - `ap-cancel-pending`: a cancel nobody has decided yet.
 */
export async function writeApprovalScenario(connection: LedgerConnection): Promise<void> {
  const a = new LedgerWriter(connection, { label: 'gateway-a' });
  const b = new LedgerWriter(connection, { label: 'gateway-b' });
  const steps: Array<[LedgerWriter, LedgerEventInput]> = [
    [a, cancels.requested('ap-cancel', 0)],
    [a, cancels.held('ap-cancel', 0.01)],
    [b, cancels.granted('ap-cancel', 45, 'desk-lead', 1, 'stale order, fine to cancel')],
    [a, cancels.used('ap-cancel', 45.2)],
    [a, cancels.outcome(46, 'call-ap-cancel')],

    [a, withdrawals.requested('ap-withdraw', 100, { timeoutSeconds: 1800, detail: TREASURY })],
    [a, withdrawals.held('ap-withdraw', 100.01)],
    [b, withdrawals.granted('ap-withdraw', 220, 'treasurer-1', 1, 'address on the allow-list')],
    [a, withdrawals.granted('ap-withdraw', 400, 'treasurer-2', 2, 'second pair of eyes')],
    [b, withdrawals.used('ap-withdraw', 410, 'call-withdraw-again')],
    [b, withdrawals.outcome(411, 'call-withdraw-again')],

    [a, cancels.requested('ap-cancel-denied', 500)],
    [a, cancels.held('ap-cancel-denied', 500.01)],
    [b, cancels.denied('ap-cancel-denied', 530, 'desk-lead', 'already cancelled')],
    [a, cancels.refused('ap-cancel-denied', 530.5, 'approval.denied')],

    [b, withdrawals.requested('ap-withdraw-expired', 600, { timeoutSeconds: 1800, detail: TREASURY })],
    [a, withdrawals.granted('ap-withdraw-expired', 700, 'treasurer-1', 1)],
    [a, withdrawals.expired('ap-withdraw-expired', 2400, 'not decided in time (1 of 2 grants)')],

    [a, cancels.requested('ap-cancel-unused', 3000)],
    [b, cancels.granted('ap-cancel-unused', 3010)],
    [b, cancels.expired('ap-cancel-unused', 3600, 'granted but not used before it expired')],

    [a, cancels.requested('ap-cancel-pending', 4000)],
  ];
  for (const [writer, event] of steps) await writer.append(event);
  await Promise.all([a.close(), b.close()]);
}

/** The events {@link writeUnsoundApprovals} wrote that `verify` and the views must name. */
export interface UnsoundApprovals {
  selfGrant: AppendedEvent;
  selfUse: AppendedEvent;
  firstUse: AppendedEvent;
  secondUse: AppendedEvent;
}

/** What desk-bot ran after approving its own cancel: another order's. */
export const OTHER_CANCEL_ARGS = { ...HELD_CANCEL.args, id: '99' };

/**
 * Approvals the gateway would never record — well-formed events appended by someone with the
 * writer's rights: `ap-self`, which desk-bot approved itself and then ran with other
 * arguments, and `ap-reused`, whose one grant two calls ran on (on A and on B).
 */
export async function writeUnsoundApprovals(connection: LedgerConnection): Promise<UnsoundApprovals> {
  const a = new LedgerWriter(connection, { label: 'gateway-a' });
  const b = new LedgerWriter(connection, { label: 'gateway-b' });
  try {
    await a.append(cancels.requested('ap-self', 5000));
    const selfGrant = await b.append(cancels.granted('ap-self', 5010, HELD_CANCEL.agentId, 1, 'fine by me'));
    const selfUse = await a.append(cancels.used('ap-self', 5020, 'call-ap-self', { args: OTHER_CANCEL_ARGS }));
    await a.append(cancels.outcome(5021, 'call-ap-self'));
    await a.append(cancels.requested('ap-reused', 6000));
    await b.append(cancels.granted('ap-reused', 6010));
    const firstUse = await a.append(cancels.used('ap-reused', 6011));
    await a.append(cancels.outcome(6012, 'call-ap-reused'));
    const secondUse = await b.append(cancels.used('ap-reused', 6013, 'call-ap-reused-again'));
    await b.append(cancels.outcome(6014, 'call-ap-reused-again'));
    return { selfGrant, selfUse, firstUse, secondUse };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}
