import { canonicalDigest } from '@tollgate/policy';
import { afterEach, expect, it } from 'vitest';
import {
  DEFAULT_APPROVAL_GRACE_MS,
  LedgerWriter,
  eventHash,
  queryLedger,
  verifyLedger,
  type AppendedEvent,
  type LedgerEventInput,
  type VerifyLedgerOptions,
  type VerifyProblem,
  type VerifyReport,
} from '../../src/index.js';
import { ApprovalEventFactory, HELD_CANCEL } from '../support/approval-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

const T0 = Date.parse('2031-06-01T09:00:00.000Z');
const iso = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

/** The event a problem should name, with the approval it is about. */
const at = (appended: AppendedEvent, approvalId: string) => ({
  strand_id: appended.strandId,
  seq: appended.seq,
  event_id: appended.eventId,
  approval_id: approvalId,
  checkpoint_id: null,
});
const where = (appended: AppendedEvent): string => `strand ${appended.strandId} seq ${appended.seq} (event ${appended.eventId})`;

/**
 * verify checks approvals across every strand — a request opened through one gateway replica,
 * granted through another and run on a third — and names each approval that was decided
 * without a request, granted by its requester, used twice, used after it expired, used without
 * enough grants, or used for another call.
 */
export function approvalVerifySuite(ctx: LedgerContext): void {
  const writers: LedgerWriter[] = [];
  afterEach(async () => {
    for (const writer of writers.splice(0)) await writer.close();
  });
  const e = new ApprovalEventFactory(T0);

  /** A gateway replica: a strand of its own. */
  const replica = (label: string): LedgerWriter => {
    const writer = new LedgerWriter(ctx.ledger.connection, { label, maxBatchDelayMs: 0 });
    writers.push(writer);
    return writer;
  };
  const write = async (writer: LedgerWriter, ...events: LedgerEventInput[]): Promise<AppendedEvent[]> => {
    const appended: AppendedEvent[] = [];
    for (const event of events) appended.push(await writer.append(event));
    return appended;
  };
  const verify = async (options: VerifyLedgerOptions = {}): Promise<VerifyReport> => {
    for (const writer of writers) await writer.flush();
    return verifyLedger(ctx.ledger.connection, options);
  };
  const approvalProblems = (report: VerifyReport): VerifyProblem[] => report.problems.filter((p) => p.kind.startsWith('approval_'));

  it('passes approvals requested on one replica, decided through others and run on a third, with the replicas’ clocks apart', async () => {
    const [a, b, c] = [replica('gateway-a'), replica('gateway-b'), replica('gateway-c')];
    // Hold mode, one desk lead: requested and held on A, granted through B's admin API, run on A.
    await write(a, e.requested('ap-1', 1), e.held('ap-1', 1.01));
    await write(b, e.granted('ap-1', 20));
    await write(a, e.used('ap-1', 21), e.outcome(21.5, 'call-ap-1'));
    // Two treasurers, through B and C; the agent repeats the call (retry mode) and it runs on C.
    await write(a, e.requested('ap-2', 30, { minApprovals: 2 }), e.held('ap-2', 30.01));
    await write(b, e.granted('ap-2', 40, 'treasurer-1', 1));
    await write(c, e.granted('ap-2', 50, 'treasurer-2', 2), e.used('ap-2', 51, 'call-ap-2-again'), e.outcome(52, 'call-ap-2-again'));
    // Denied through C; the held call on A is refused, naming the approval.
    await write(a, e.requested('ap-3', 60), e.held('ap-3', 60.01));
    await write(c, e.denied('ap-3', 70));
    await write(a, e.refused('ap-3', 70.5, 'approval.denied'));
    // Nobody answered: A expires B's request.
    await write(b, e.requested('ap-4', 80, { timeoutSeconds: 300 }));
    await write(a, e.expired('ap-4', 380), e.refused('ap-4', 380.2, 'approval.expired'));
    // A's clock is 30 s ahead of B's: its request is dated after B's grant and the call B ran.
    await write(a, e.requested('ap-5', 130));
    await write(b, e.granted('ap-5', 100), e.used('ap-5', 101), e.outcome(102, 'call-ap-5'));
    // Granted, used by a call a limit then refused (the grant is given back), and used by the
    // next identical call as it expired: recorded 2 s after its expiry.
    await write(a, e.requested('ap-6', 200, { timeoutSeconds: 60 }));
    await write(b, e.granted('ap-6', 210));
    await write(a, e.refused('ap-6', 211, 'rate_limited'), e.used('ap-6', 262, 'call-ap-6-again'), e.outcome(263, 'call-ap-6-again'));

    const summary = { requests: 6, votes: 6, expiries: 1, uses: 4, problems: 0 };
    for (const pageSize of [undefined, 1, 2, 3]) {
      const report = await verify(pageSize === undefined ? {} : { pageSize });
      expect({ pageSize, problems: report.problems }).toEqual({ pageSize, problems: [] });
      expect(report.ok).toBe(true);
      expect(report.approvals).toEqual(summary);
    }
    expect(DEFAULT_APPROVAL_GRACE_MS).toBe(60_000);

    // Without the grace, the skewed clocks and the late record show.
    const strict = await verify({ approvalGraceMs: 0 });
    expect(strict.ok).toBe(false);
    expect(approvalProblems(strict).map((p) => [p.kind, p.cause, p.approval_id]).sort()).toEqual([
      ['approval_expired_use', 'unauthorized', 'ap-6'],
      ['approval_unrequested', 'backdated', 'ap-5'],
    ]);
    expect(strict.approvals.problems).toBe(2);
    expect(strict.problem_count).toBe(2);
  });

  it('reports votes and expiries of an approval never requested, or dated before its request beyond the grace', async () => {
    const [a, b] = [replica('gateway-a'), replica('gateway-b')];
    const [grant] = await write(a, e.granted('ghost-1', 10));
    const [denial, expiry] = await write(b, e.denied('ghost-2', 11), e.expired('ghost-3', 12));
    const [request] = await write(a, e.requested('ap-late', 200));
    const [early, onTime] = await write(b, e.granted('ap-late', 80, 'desk-lead'), e.granted('ap-late', 150, 'desk-lead-2'));

    const report = await verify();
    expect(report.ok).toBe(false);
    const problems = approvalProblems(report);
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'approval_unrequested', cause: 'forged', ...at(grant!, 'ghost-1') }),
        expect.objectContaining({ kind: 'approval_unrequested', cause: 'forged', ...at(denial!, 'ghost-2') }),
        expect.objectContaining({ kind: 'approval_unrequested', cause: 'forged', ...at(expiry!, 'ghost-3') }),
        expect.objectContaining({ kind: 'approval_unrequested', cause: 'backdated', ...at(early!, 'ap-late') }),
      ]),
    );
    const message = (appended: AppendedEvent) => problems.find((p) => p.event_id === appended.eventId)!.message;
    expect(message(grant!)).toBe(
      `${where(grant!)}: approval ghost-1 is granted by desk-lead, but it was never requested: no approval.requested event has this approval id (it was removed, or this event was forged)`,
    );
    expect(message(denial!)).toContain('approval ghost-2 is denied by desk-lead, but it was never requested');
    expect(message(expiry!)).toContain('approval ghost-3 is expired, but it was never requested');
    expect(message(early!)).toBe(
      `${where(early!)}: approval ap-late is granted by desk-lead at ${iso(80)}, 2 min before it was requested (${where(request!)}, at ${iso(200)}); ` +
        "events of one approval, stamped by different replicas' clocks, may be out of order by up to 1 min, so one of the two was dated falsely",
    );
    // 50 s before the request: within the grace.
    expect(problems.find((p) => p.event_id === onTime!.eventId)).toBeUndefined();
    expect(report.approvals).toMatchObject({ requests: 1, votes: 4, expiries: 1, problems: 4 });
  });

  it('reports a second call run on one approval, naming the first, and records the count', async () => {
    const [a, b] = [replica('gateway-a'), replica('gateway-b')];
    await write(a, e.requested('ap-1', 0), e.held('ap-1', 0.01));
    await write(b, e.granted('ap-1', 10));
    const [first] = await write(a, e.used('ap-1', 11), e.outcome(12, 'call-ap-1'));
    // B ran an identical call on the same grant.
    const [second] = await write(b, e.used('ap-1', 11.5, 'call-b'), e.outcome(12.5, 'call-b'));

    const report = await verify({ record: true });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      {
        kind: 'approval_reused',
        cause: 'unauthorized',
        ...at(second!, 'ap-1'),
        message: `${where(second!)}: call call-b ran on approval ap-1, which call call-ap-1 already used (${where(first!)}): an approval is used exactly once`,
      },
    ]);
    expect(report.problem_count).toBe(1);
    expect(report.first_problem).toEqual(report.problems[0]);
    expect(report.approvals).toEqual({ requests: 1, votes: 1, expiries: 0, uses: 2, problems: 1 });
    expect(await ctx.ledger.superuser('SELECT ok, problems, first_problem FROM ledger_verifications')).toEqual([
      { ok: false, problems: 1, first_problem: report.problems[0] },
    ]);
  });

  it('reports a call run after its approval expired, and a request that records no expiry', async () => {
    const [a, b, c] = [replica('gateway-a'), replica('gateway-b'), replica('gateway-c')];
    await write(a, e.requested('ap-1', 0, { timeoutSeconds: 600 }));
    await write(b, e.granted('ap-1', 10));
    const [late] = await write(a, e.used('ap-1', 900));
    // Someone with the database's owner rights rewrites a request, the head of its strand, so
    // that it never expires, and re-hashes it: the chain still holds.
    await write(b, e.granted('ap-2', 20));
    const [request] = await write(c, e.requested('ap-2', 15));
    const [used] = await write(b, e.used('ap-2', 30));
    const row = (await queryLedger(ctx.ledger.connection, { types: ['approval.requested'], approvalIds: ['ap-2'] })).events[0]!;
    const forged = { ...row, detail: { ...row.detail, expires_at: 'never' } };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(`UPDATE ledger_events SET detail = '${JSON.stringify(forged.detail)}'::jsonb, hash = '${forged.hash}' WHERE event_id = '${row.event_id}'`);

    const report = await verify();
    // The chain is intact: only the approvals show it.
    expect(report.problems).toHaveLength(2);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'approval_expired_use', cause: 'unauthorized', ...at(late!, 'ap-1') }),
        expect.objectContaining({ kind: 'approval_expired_use', cause: 'unauthorized', ...at(used!, 'ap-2') }),
      ]),
    );
    const message = (appended: AppendedEvent) => report.problems.find((p) => p.event_id === appended.eventId)!.message;
    expect(message(late!)).toContain(`call call-ap-1 ran on approval ap-1 at ${iso(900)}, 5 min after the approval expired at ${iso(600)}`);
    expect(message(used!)).toContain(`whose request (${where(request!)}) records no valid expiry (detail.expires_at is "never")`);
  });

  it('reports approved calls that ran without the grants they needed', async () => {
    const a = replica('gateway-a');
    const b = replica('gateway-b');
    const [ghost] = await write(a, e.used('never-requested', 5));
    await write(a, e.requested('ap-none', 0));
    const [none] = await write(a, e.used('ap-none', 10));
    await write(a, e.requested('ap-two', 0, { minApprovals: 2 }));
    await write(b, e.granted('ap-two', 5, 'treasurer-1', 1), e.granted('ap-two', 6, 'treasurer-1', 1));
    const [two] = await write(a, e.used('ap-two', 10));
    await write(a, e.requested('ap-after', 0));
    const [after] = await write(a, e.used('ap-after', 10));
    const [lateGrant] = await write(b, e.granted('ap-after', 400));
    await write(a, e.requested('ap-denied', 0));
    const [denial] = await write(b, e.denied('ap-denied', 5));
    const [denied] = await write(a, e.used('ap-denied', 10));
    // A denial whose gateway stopped before it took effect, then a grant: still named.
    await write(a, e.requested('ap-lost-denial', 0));
    await write(b, e.denied('ap-lost-denial', 5, 'treasurer-1'), e.granted('ap-lost-denial', 100));
    const [overruled] = await write(a, e.used('ap-lost-denial', 101));
    // A request from before min_approvals was recorded needs one grant.
    await write(a, e.requested('ap-legacy', 0, { minApprovals: null }));
    await write(b, e.granted('ap-legacy', 5));
    await write(a, e.used('ap-legacy', 10));

    const report = await verify();
    const problems = approvalProblems(report);
    expect(problems.map((p) => [p.kind, p.approval_id, p.event_id]).sort()).toEqual(
      [
        ['approval_ungranted', 'ap-after', after!.eventId],
        ['approval_ungranted', 'ap-denied', denied!.eventId],
        ['approval_ungranted', 'ap-lost-denial', overruled!.eventId],
        ['approval_ungranted', 'ap-none', none!.eventId],
        ['approval_ungranted', 'ap-two', two!.eventId],
        ['approval_ungranted', 'never-requested', ghost!.eventId],
      ].sort(),
    );
    const message = (appended: AppendedEvent) => problems.find((p) => p.event_id === appended.eventId)!.message;
    expect(message(ghost!)).toBe(`${where(ghost!)}: call call-never-requested ran on approval never-requested, which was never requested or granted: no approval.requested event has this approval id`);
    expect(message(none!)).toContain('call call-ap-none ran on approval ap-none, which needs grants by 1 distinct approver: none was recorded before it');
    expect(message(two!)).toContain('which needs grants by 2 distinct approvers: only 1 (treasurer-1) was recorded before it');
    expect(message(after!)).toContain(`none was recorded before it; the grant by desk-lead (${where(lateGrant!)}) is dated after it, beyond the 1 min of slack`);
    expect(message(denied!)).toContain(`call call-ap-denied ran on approval ap-denied, which was denied by desk-lead (${where(denial!)})`);
    expect(message(denied!)).not.toContain('dated after the denial');
    expect(message(overruled!)).toContain('which was denied by treasurer-1');
    expect(message(overruled!)).toContain('a grant is dated after the denial, which the approval store refuses once a request is denied');
    expect(report.approvals).toMatchObject({ requests: 6, uses: 7, problems: 6 });
  });

  it('reports an approval granted by the agent that requested it, which counts for nothing', async () => {
    const [a, b] = [replica('gateway-a'), replica('gateway-b')];
    const [request] = await write(a, e.requested('ap-self', 0));
    const [self] = await write(b, e.granted('ap-self', 5, HELD_CANCEL.agentId));
    const [used] = await write(a, e.used('ap-self', 10));
    await write(a, e.requested('ap-half', 20, { minApprovals: 2 }));
    const [halfSelf] = await write(b, e.granted('ap-half', 21, HELD_CANCEL.agentId, 1), e.granted('ap-half', 22, 'treasurer-1', 2));
    const [halfUsed] = await write(a, e.used('ap-half', 30));

    const report = await verify();
    const problems = approvalProblems(report);
    expect(problems.map((p) => [p.kind, p.approval_id, p.event_id]).sort()).toEqual(
      [
        ['approval_self_granted', 'ap-half', halfSelf!.eventId],
        ['approval_self_granted', 'ap-self', self!.eventId],
        ['approval_ungranted', 'ap-half', halfUsed!.eventId],
        ['approval_ungranted', 'ap-self', used!.eventId],
      ].sort(),
    );
    const message = (appended: AppendedEvent) => problems.find((p) => p.event_id === appended.eventId)!.message;
    expect(message(self!)).toBe(`${where(self!)}: approval ap-self is granted by desk-bot, the agent that requested it (${where(request!)}): an approver is never the requesting agent`);
    expect(problems.find((p) => p.event_id === self!.eventId)!.cause).toBe('unauthorized');
    expect(message(used!)).toContain('none was recorded before it; a grant by the requesting agent desk-bot does not count');
    expect(message(halfUsed!)).toContain('only 1 (treasurer-1) was recorded before it; a grant by the requesting agent desk-bot does not count');
  });

  it('reports a call run on an approval requested for another call', async () => {
    const [a, b] = [replica('gateway-a'), replica('gateway-b')];
    await write(a, e.requested('ap-args', 0));
    await write(b, e.granted('ap-args', 5));
    const otherArgs = { ...HELD_CANCEL.args, id: '43' };
    const [args] = await write(a, e.used('ap-args', 10, 'call-ap-args', { args: otherArgs }));
    await write(a, e.requested('ap-tool', 0));
    await write(b, e.granted('ap-tool', 5));
    const [tool] = await write(b, e.used('ap-tool', 10, 'call-x', { tool: 'withdraw_cryptocurrency', agentId: 'other-bot' }));

    const report = await verify();
    const problems = approvalProblems(report);
    expect(problems).toHaveLength(2);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'approval_mismatch', cause: 'unauthorized', ...at(args!, 'ap-args') }),
        expect.objectContaining({ kind: 'approval_mismatch', cause: 'unauthorized', ...at(tool!, 'ap-tool') }),
      ]),
    );
    const message = (appended: AppendedEvent) => problems.find((p) => p.event_id === appended.eventId)!.message;
    expect(message(args!)).toContain(`call call-ap-args ran on approval ap-args, which was requested for another call`);
    expect(message(args!)).toContain(`args_sha256 "${e.digest}", the call's "${canonicalDigest(otherArgs)}"`);
    expect(message(tool!)).toContain('tool "cancel_order", the call\'s "withdraw_cryptocurrency"; agent_id "desk-bot", the call\'s "other-bot"');
  });

  it('reports an approval id requested a second time', async () => {
    const [a, b] = [replica('gateway-a'), replica('gateway-b')];
    const [first] = await write(a, e.requested('ap-1', 0));
    const [again] = await write(b, e.requested('ap-1', 5, { callId: 'call-other' }));
    const report = await verify();
    expect(report.problems).toEqual([
      {
        kind: 'approval_duplicate_request',
        cause: 'inserted',
        ...at(again!, 'ap-1'),
        message: `${where(again!)}: approval ap-1 is requested a second time; it was first requested at ${where(first!)}. Each request has an id of its own, so this event was inserted (a copy or a forgery)`,
      },
    ]);
    expect(report.approvals).toMatchObject({ requests: 1, problems: 1 });
  });

  it('refuses an approval grace that is not a whole number of milliseconds >= 0', async () => {
    for (const approvalGraceMs of [-1, 1.5, Number.NaN]) {
      await expect(verifyLedger(ctx.ledger.connection, { approvalGraceMs })).rejects.toMatchObject({
        code: 'ledger.invalid_options',
        message: expect.stringContaining('"approvalGraceMs" must be an integer number of milliseconds >= 0'),
      });
    }
  });
}
