import { canonicalDigest } from '@tollgate/policy';
import { expect, it } from 'vitest';
import { verifyLedger } from '../../src/index.js';
import { HELD_CANCEL } from '../support/approval-event-factory.js';
import { LARGE_WITHDRAWAL, OTHER_CANCEL_ARGS, writeApprovalScenario, writeUnsoundApprovals } from '../support/approval-audit-scenario.js';
import type { LedgerContext } from './ledger-conformance.js';

const CANCEL = canonicalDigest(HELD_CANCEL.args);
const WITHDRAWAL = canonicalDigest(LARGE_WITHDRAWAL.args);

/** The columns audit_approvals had in migration 0003, which 0013 keeps, in order. */
const AUDIT_APPROVALS_0003 = [
  'approval_id', 'requested_at', 'requester', 'session_id', 'server', 'tool', 'call_id', 'rule', 'reason', 'policy_revision',
  'requested_args_sha256', 'resolution', 'approver', 'resolved_at', 'approved_args_sha256', 'executions', 'executed_at',
  'executed_args_sha256', 'self_approved', 'args_mismatch', 'executed_without_grant', 'reused',
];

/** The approval views of migrations/0013_approval_audit_views.sql, over approvals decided across two replicas. */
export function approvalAuditViewsSuite(ctx: LedgerContext): void {
  const q = <R>(text: string) => ctx.ledger.superuser<R>(text);

  it('audit_approvals: what each approval was about, who decided it, how it ended; the scenario verifies', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    const rows = await q(
      `SELECT approval_id, requester, tool, requested_args_sha256, resolution, approver, min_approvals, approvers, denied_by, status,
              executions::int, executed_call_id, executed_outcome, self_approved, args_mismatch, executed_without_grant, reused,
              extract(epoch FROM resolved_at - requested_at)::float AS waited, extract(epoch FROM expires_at - requested_at)::float AS timeout
       FROM audit_approvals ORDER BY requested_at`,
    );
    const sound = { self_approved: false, args_mismatch: false, executed_without_grant: false, reused: false };
    expect(rows).toEqual([
      { approval_id: 'ap-cancel', requester: 'desk-bot', tool: 'cancel_order', requested_args_sha256: CANCEL, resolution: 'granted', approver: 'desk-lead', min_approvals: 1, approvers: ['desk-lead'], denied_by: null, status: 'used', executions: 1, executed_call_id: 'call-ap-cancel', executed_outcome: 'ok', ...sound, waited: 45, timeout: 600 },
      // Decided by the second treasurer's grant, not the first.
      { approval_id: 'ap-withdraw', requester: 'desk-bot', tool: 'withdraw_cryptocurrency', requested_args_sha256: WITHDRAWAL, resolution: 'granted', approver: 'treasurer-2', min_approvals: 2, approvers: ['treasurer-1', 'treasurer-2'], denied_by: null, status: 'used', executions: 1, executed_call_id: 'call-withdraw-again', executed_outcome: 'ok', ...sound, waited: 300, timeout: 1800 },
      { approval_id: 'ap-cancel-denied', requester: 'desk-bot', tool: 'cancel_order', requested_args_sha256: CANCEL, resolution: 'denied', approver: 'desk-lead', min_approvals: 1, approvers: [], denied_by: 'desk-lead', status: 'denied', executions: 0, executed_call_id: null, executed_outcome: null, ...sound, waited: 30, timeout: 600 },
      { approval_id: 'ap-withdraw-expired', requester: 'desk-bot', tool: 'withdraw_cryptocurrency', requested_args_sha256: WITHDRAWAL, resolution: 'expired', approver: null, min_approvals: 2, approvers: ['treasurer-1'], denied_by: null, status: 'expired', executions: 0, executed_call_id: null, executed_outcome: null, ...sound, waited: 1800, timeout: 1800 },
      { approval_id: 'ap-cancel-unused', requester: 'desk-bot', tool: 'cancel_order', requested_args_sha256: CANCEL, resolution: 'granted', approver: 'desk-lead', min_approvals: 1, approvers: ['desk-lead'], denied_by: null, status: 'expired', executions: 0, executed_call_id: null, executed_outcome: null, ...sound, waited: 10, timeout: 600 },
      { approval_id: 'ap-cancel-pending', requester: 'desk-bot', tool: 'cancel_order', requested_args_sha256: CANCEL, resolution: 'pending', approver: null, min_approvals: 1, approvers: [], denied_by: null, status: 'pending', executions: 0, executed_call_id: null, executed_outcome: null, ...sound, waited: null, timeout: 600 },
    ]);
    const [withdraw] = await q<{ votes: Array<{ approver: string; vote: string; reason: string; at: string }>; eligible_approvers: unknown }>(
      "SELECT votes, eligible_approvers FROM audit_approvals WHERE approval_id = 'ap-withdraw'",
    );
    expect(withdraw!.eligible_approvers).toEqual(['treasury']);
    expect(withdraw!.votes.map((v) => [v.approver, v.vote, v.reason, Date.parse(v.at)])).toEqual([
      ['treasurer-1', 'granted', 'address on the allow-list', Date.parse('2030-05-02T10:03:40.000Z')],
      ['treasurer-2', 'granted', 'second pair of eyes', Date.parse('2030-05-02T10:06:40.000Z')],
    ]);
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.problems).toEqual([]);
    expect(report.approvals).toEqual({ requests: 6, votes: 6, expiries: 2, uses: 2, problems: 0 });
  });

  it('audit_approvals keeps the columns of migration 0003 in order, and reads a malformed min_approvals or expires_at as 1 and null', async () => {
    const columns = await q<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_approvals' ORDER BY ordinal_position",
    );
    expect(columns.map((c) => c.column_name).slice(0, AUDIT_APPROVALS_0003.length)).toEqual(AUDIT_APPROVALS_0003);
    await writeApprovalScenario(ctx.ledger.connection);
    // What a forger could put in a request's detail must not break the auditors' views.
    await ctx.ledger.tamper(
      `UPDATE ledger_events SET detail = '{"min_approvals": "two", "expires_at": "2030-02-30T00:00:00.000Z"}' WHERE approval_id = 'ap-cancel' AND event_type = 'approval.requested'`,
      `UPDATE ledger_events SET detail = '{"min_approvals": 0.5, "expires_at": 12}' WHERE approval_id = 'ap-cancel-denied' AND event_type = 'approval.requested'`,
      `UPDATE ledger_events SET detail = '{"min_approvals": 1.2}' WHERE approval_id = 'ap-cancel-pending' AND event_type = 'approval.requested'`,
    );
    expect(await q("SELECT approval_id, min_approvals, expires_at FROM audit_approvals WHERE approval_id IN ('ap-cancel', 'ap-cancel-denied', 'ap-cancel-pending') ORDER BY requested_at")).toEqual([
      { approval_id: 'ap-cancel', min_approvals: 1, expires_at: null },
      { approval_id: 'ap-cancel-denied', min_approvals: 1, expires_at: null },
      { approval_id: 'ap-cancel-pending', min_approvals: 2, expires_at: null },
    ]);
  });

  it('audit_approval_votes: who approved what, with their reasons and how each approval ended', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    expect(
      await q(`SELECT approval_id, approver, vote, reason, requester, server, tool, args_sha256, status, executed_call_id,
                      extract(epoch FROM since_request)::float AS after
               FROM audit_approval_votes ORDER BY voted_at`),
    ).toEqual([
      { approval_id: 'ap-cancel', approver: 'desk-lead', vote: 'granted', reason: 'stale order, fine to cancel', requester: 'desk-bot', server: 'ccxt', tool: 'cancel_order', args_sha256: CANCEL, status: 'used', executed_call_id: 'call-ap-cancel', after: 45 },
      { approval_id: 'ap-withdraw', approver: 'treasurer-1', vote: 'granted', reason: 'address on the allow-list', requester: 'desk-bot', server: 'ccxt', tool: 'withdraw_cryptocurrency', args_sha256: WITHDRAWAL, status: 'used', executed_call_id: 'call-withdraw-again', after: 120 },
      { approval_id: 'ap-withdraw', approver: 'treasurer-2', vote: 'granted', reason: 'second pair of eyes', requester: 'desk-bot', server: 'ccxt', tool: 'withdraw_cryptocurrency', args_sha256: WITHDRAWAL, status: 'used', executed_call_id: 'call-withdraw-again', after: 300 },
      { approval_id: 'ap-cancel-denied', approver: 'desk-lead', vote: 'denied', reason: 'already cancelled', requester: 'desk-bot', server: 'ccxt', tool: 'cancel_order', args_sha256: CANCEL, status: 'denied', executed_call_id: null, after: 30 },
      { approval_id: 'ap-withdraw-expired', approver: 'treasurer-1', vote: 'granted', reason: 'looks right', requester: 'desk-bot', server: 'ccxt', tool: 'withdraw_cryptocurrency', args_sha256: WITHDRAWAL, status: 'expired', executed_call_id: null, after: 100 },
      { approval_id: 'ap-cancel-unused', approver: 'desk-lead', vote: 'granted', reason: 'looks right', requester: 'desk-bot', server: 'ccxt', tool: 'cancel_order', args_sha256: CANCEL, status: 'expired', executed_call_id: null, after: 10 },
    ]);
  });

  it('audit_approval_latency and audit_approval_latency_by_tool: request to decision, per approval and as percentiles per tool', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    expect(await q('SELECT approval_id, resolution, decided_by, waited_seconds FROM audit_approval_latency ORDER BY requested_at')).toEqual([
      { approval_id: 'ap-cancel', resolution: 'granted', decided_by: 'desk-lead', waited_seconds: 45 },
      { approval_id: 'ap-withdraw', resolution: 'granted', decided_by: 'treasurer-2', waited_seconds: 300 },
      { approval_id: 'ap-cancel-denied', resolution: 'denied', decided_by: 'desk-lead', waited_seconds: 30 },
      { approval_id: 'ap-withdraw-expired', resolution: 'expired', decided_by: null, waited_seconds: 1800 },
      { approval_id: 'ap-cancel-unused', resolution: 'granted', decided_by: 'desk-lead', waited_seconds: 10 },
      { approval_id: 'ap-cancel-pending', resolution: 'pending', decided_by: null, waited_seconds: null },
    ]);
    const byTool = await q<Record<string, string | number | null>>(
      `SELECT tool, requests::int, granted::int, denied::int, expired::int, pending::int, p50_seconds, p90_seconds, p99_seconds, max_seconds
       FROM audit_approval_latency_by_tool ORDER BY tool`,
    );
    // cancel_order: people decided in 10, 30 and 45 s; withdraw_cryptocurrency: in 300 s (the expired one is not timed).
    expect(byTool).toEqual([
      { tool: 'cancel_order', requests: 4, granted: 2, denied: 1, expired: 0, pending: 1, p50_seconds: 30, p90_seconds: expect.closeTo(42, 9), p99_seconds: expect.closeTo(44.7, 9), max_seconds: 45 },
      { tool: 'withdraw_cryptocurrency', requests: 2, granted: 1, denied: 0, expired: 1, pending: 0, p50_seconds: 300, p90_seconds: 300, p99_seconds: 300, max_seconds: 300 },
    ]);
  });

  it('audit_expired_approvals: the pending ones nobody decided in time and the granted ones nobody used', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    expect(
      await q(`SELECT approval_id, tool, reason, min_approvals, grants, approvers, granted_unused, executions::int,
                      extract(epoch FROM expired_at - expires_at)::float AS late
               FROM audit_expired_approvals ORDER BY expired_at`),
    ).toEqual([
      { approval_id: 'ap-withdraw-expired', tool: 'withdraw_cryptocurrency', reason: 'not decided in time (1 of 2 grants)', min_approvals: 2, grants: 1, approvers: ['treasurer-1'], granted_unused: false, executions: 0, late: 0 },
      { approval_id: 'ap-cancel-unused', tool: 'cancel_order', reason: 'granted but not used before it expired', min_approvals: 1, grants: 1, approvers: ['desk-lead'], granted_unused: true, executions: 0, late: 0 },
    ]);
  });

  it('audit_approval_uses: which call ran with which approval, held or repeated, and how it ended', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    expect(
      await q(`SELECT approval_id, call_id, requested_call_id, agent_id, tool, args_sha256, resolution, approvers, held, args_match, use_number::int,
                      outcome_status, duration_ms
               FROM audit_approval_uses ORDER BY used_at`),
    ).toEqual([
      { approval_id: 'ap-cancel', call_id: 'call-ap-cancel', requested_call_id: 'call-ap-cancel', agent_id: 'desk-bot', tool: 'cancel_order', args_sha256: CANCEL, resolution: 'granted', approvers: ['desk-lead'], held: true, args_match: true, use_number: 1, outcome_status: 'ok', duration_ms: 40 },
      { approval_id: 'ap-withdraw', call_id: 'call-withdraw-again', requested_call_id: 'call-ap-withdraw', agent_id: 'desk-bot', tool: 'withdraw_cryptocurrency', args_sha256: WITHDRAWAL, resolution: 'granted', approvers: ['treasurer-1', 'treasurer-2'], held: false, args_match: true, use_number: 1, outcome_status: 'ok', duration_ms: 40 },
    ]);
  });

  it('audit_self_approvals is empty for a sound ledger and lists a grant by the requester; the other views flag the same approvals verify names', async () => {
    await writeApprovalScenario(ctx.ledger.connection);
    expect(await q('SELECT * FROM audit_self_approvals')).toEqual([]);
    const unsound = await writeUnsoundApprovals(ctx.ledger.connection);

    expect(await q('SELECT approval_id, approver, requester, tool, args_sha256, reason, status, executed_call_id, seq::int, event_id::text FROM audit_self_approvals')).toEqual([
      { approval_id: 'ap-self', approver: 'desk-bot', requester: 'desk-bot', tool: 'cancel_order', args_sha256: CANCEL, reason: 'fine by me', status: 'used', executed_call_id: 'call-ap-self', seq: unsound.selfGrant.seq, event_id: unsound.selfGrant.eventId },
    ]);
    // A grant by the requester grants nothing: ap-self was never granted, and ran with other arguments.
    expect(
      await q(`SELECT approval_id, resolution, approvers, self_approved, args_mismatch, executed_without_grant, reused, executions::int
               FROM audit_approvals WHERE approval_id IN ('ap-self', 'ap-reused') ORDER BY requested_at`),
    ).toEqual([
      { approval_id: 'ap-self', resolution: 'pending', approvers: [], self_approved: true, args_mismatch: true, executed_without_grant: true, reused: false, executions: 1 },
      { approval_id: 'ap-reused', resolution: 'granted', approvers: ['desk-lead'], self_approved: false, args_mismatch: false, executed_without_grant: false, reused: true, executions: 2 },
    ]);
    expect(
      await q(`SELECT approval_id, call_id, args_sha256, args_match, use_number::int, event_id::text FROM audit_approval_uses
               WHERE approval_id IN ('ap-self', 'ap-reused') ORDER BY used_at`),
    ).toEqual([
      { approval_id: 'ap-self', call_id: 'call-ap-self', args_sha256: canonicalDigest(OTHER_CANCEL_ARGS), args_match: false, use_number: 1, event_id: unsound.selfUse.eventId },
      { approval_id: 'ap-reused', call_id: 'call-ap-reused', args_sha256: CANCEL, args_match: true, use_number: 1, event_id: unsound.firstUse.eventId },
      { approval_id: 'ap-reused', call_id: 'call-ap-reused-again', args_sha256: CANCEL, args_match: true, use_number: 2, event_id: unsound.secondUse.eventId },
    ]);

    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.problems.map((p) => [p.kind, p.approval_id, p.event_id]).sort()).toEqual(
      [
        ['approval_mismatch', 'ap-self', unsound.selfUse.eventId],
        ['approval_reused', 'ap-reused', unsound.secondUse.eventId],
        ['approval_self_granted', 'ap-self', unsound.selfGrant.eventId],
        ['approval_ungranted', 'ap-self', unsound.selfUse.eventId],
      ].sort(),
    );
  });
}
