import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalDigest } from '@tollgate/policy';
import { expect, it } from 'vitest';
import { createCheckpoint, verifyLedger } from '../../src/index.js';
import { writeApprovalScenario } from '../support/approval-audit-scenario.js';
import { WITHDRAWAL, writeAuditScenario } from '../support/audit-scenario.js';
import type { LedgerContext } from './ledger-conformance.js';
import { writeKeyPair } from './tamper.suite.js';

const AUDIT_DOC = new URL('../../../../docs/audit.md', import.meta.url);

/** The SQL blocks of docs/audit.md, in order. */
export function auditDocSql(): string[] {
  const text = readFileSync(AUDIT_DOC, 'utf8');
  return [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
}

/** The audit views of migrations/0003_audit_views.sql, over a scenario with one of every finding. */
export function auditViewsSuite(ctx: LedgerContext): void {
  const q = <R>(text: string) => ctx.ledger.superuser<R>(text);

  it('audit_calls: who called what, when, under which revision, and how it ended', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    const rows = await q<{ call_id: string; agent_id: string; tool: string; effect: string; policy_revision: string; outcome_status: string | null }>(
      'SELECT call_id, agent_id, tool, effect, policy_revision, outcome_status FROM audit_calls ORDER BY decided_at',
    );
    expect(rows).toEqual([
      { call_id: 'call-1', agent_id: 'trader-1', tool: 'create_spot_market_order', effect: 'allow', policy_revision: '7', outcome_status: 'ok' },
      { call_id: 'call-2', agent_id: 'trader-1', tool: 'withdraw_cryptocurrency', effect: 'deny', policy_revision: '7', outcome_status: null },
      { call_id: 'call-appr-1', agent_id: 'trader-1', tool: 'withdraw_cryptocurrency', effect: 'approval_required', policy_revision: '7', outcome_status: 'ok' },
      { call_id: 'call-appr-1', agent_id: 'trader-1', tool: 'withdraw_cryptocurrency', effect: 'allow', policy_revision: '7', outcome_status: 'ok' },
      { call_id: 'call-appr-2', agent_id: 'trader-2', tool: 'withdraw_cryptocurrency', effect: 'allow', policy_revision: '7', outcome_status: 'ok' },
      { call_id: 'call-6', agent_id: 'trader-2', tool: 'cancel_order', effect: 'allow', policy_revision: '7', outcome_status: null },
      { call_id: 'call-7', agent_id: 'trader-1', tool: 'create_spot_market_order', effect: 'allow', policy_revision: '9', outcome_status: 'ok' },
      { call_id: 'call-8', agent_id: 'trader-1', tool: 'fetch_deposit_address', effect: 'hidden', policy_revision: '7', outcome_status: null },
    ]);
  });

  it('audit_denials: denials by rule, tool and agent', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    expect(await q('SELECT rule, server, tool, agent_id, denials::int FROM audit_denials')).toEqual([
      { rule: 'tools.withdraw_cryptocurrency.deny_if[0]', server: 'ccxt', tool: 'withdraw_cryptocurrency', agent_id: 'trader-1', denials: 1 },
    ]);
  });

  it('audit_approvals: requester, approver and resolution of each request', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    const rows = await q(
      `SELECT approval_id, requester, approver, resolution, executions::int, self_approved, args_mismatch, executed_without_grant, reused,
              requested_args_sha256, executed_args_sha256
       FROM audit_approvals ORDER BY requested_at`,
    );
    const approved = canonicalDigest(WITHDRAWAL);
    expect(rows).toEqual([
      { approval_id: 'appr-1', requester: 'trader-1', approver: 'alice', resolution: 'granted', executions: 1, self_approved: false, args_mismatch: false, executed_without_grant: false, reused: false, requested_args_sha256: approved, executed_args_sha256: approved },
      { approval_id: 'appr-2', requester: 'trader-2', approver: 'bob', resolution: 'granted', executions: 1, self_approved: false, args_mismatch: false, executed_without_grant: false, reused: false, requested_args_sha256: approved, executed_args_sha256: approved },
      { approval_id: 'appr-3', requester: 'trader-1', approver: null, resolution: 'expired', executions: 0, self_approved: false, args_mismatch: false, executed_without_grant: false, reused: false, requested_args_sha256: approved, executed_args_sha256: null },
    ]);
  });

  it('audit_policy_activations and audit_policy_revisions: which revision decided, and when it was activated', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    expect(await q("SELECT status, policy_revision, to_char(occurred_at AT TIME ZONE 'UTC', 'HH24:MI') AS at FROM audit_policy_activations")).toEqual([
      { status: 'activated', policy_revision: '7', at: '09:00' },
    ]);
    expect(
      await q(
        "SELECT policy_revision, to_char(activated_at AT TIME ZONE 'UTC', 'HH24:MI') AS activated, decisions::int FROM audit_policy_revisions ORDER BY policy_revision",
      ),
    ).toEqual([
      { policy_revision: '7', activated: '09:00', decisions: 7 },
      { policy_revision: '9', activated: null, decisions: 1 },
    ]);
  });

  it('audit_allowed_without_outcome and audit_sequence_gaps: completeness', async () => {
    const writer = await writeAuditScenario(ctx.ledger.connection);
    expect(await q('SELECT call_id, agent_id, tool FROM audit_allowed_without_outcome')).toEqual([
      { call_id: 'call-6', agent_id: 'trader-2', tool: 'cancel_order' },
    ]);
    expect(await q('SELECT * FROM audit_sequence_gaps')).toEqual([]);
    await ctx.ledger.tamper(`DELETE FROM ledger_events WHERE strand_id = '${writer.strandId}' AND seq IN (3, 4, 9)`);
    expect(await q('SELECT strand_id::text, missing_from::int, missing_to::int, missing::int FROM audit_sequence_gaps ORDER BY missing_from')).toEqual([
      { strand_id: writer.strandId, missing_from: 3, missing_to: 4, missing: 2 },
      { strand_id: writer.strandId, missing_from: 9, missing_to: 9, missing: 1 },
    ]);
  });

  it("audit_session_timeline: one session's events in order", async () => {
    await writeAuditScenario(ctx.ledger.connection);
    const rows = await q<{ event_type: string; call_id: string }>(
      "SELECT event_type, call_id FROM audit_session_timeline WHERE session_id = 'session-2' ORDER BY occurred_at, strand_id, seq",
    );
    expect(rows.map((r) => `${r.event_type}:${r.call_id}`)).toEqual([
      'approval.requested:call-appr-2',
      'approval.granted:call-appr-2',
      'decision:call-appr-2',
      'outcome:call-appr-2',
      'decision:call-6',
    ]);
  });

  it('audit_tool_usage_by_agent and audit_sensitive_tool_usage: sensitive tools by agent', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    await q("INSERT INTO audit_sensitive_tools (tool, risk) VALUES ('withdraw_cryptocurrency', 'critical')");
    await q("INSERT INTO audit_sensitive_tools (server, tool, risk) VALUES ('ccxt', 'cancel_order', 'high')");
    expect(
      await q('SELECT agent_id, tool, risk, decisions::int, allowed::int, denied::int, approval_required::int FROM audit_sensitive_tool_usage ORDER BY agent_id, tool'),
    ).toEqual([
      { agent_id: 'trader-1', tool: 'withdraw_cryptocurrency', risk: 'critical', decisions: 3, allowed: 1, denied: 1, approval_required: 1 },
      { agent_id: 'trader-2', tool: 'cancel_order', risk: 'high', decisions: 1, allowed: 1, denied: 0, approval_required: 0 },
      { agent_id: 'trader-2', tool: 'withdraw_cryptocurrency', risk: 'critical', decisions: 1, allowed: 1, denied: 0, approval_required: 0 },
    ]);
    expect(await q("SELECT hidden::int FROM audit_tool_usage_by_agent WHERE tool = 'fetch_deposit_address'")).toEqual([{ hidden: 1 }]);
  });

  it('audit_denied_then_retried: a denied call retried with changed arguments', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    expect(await q('SELECT agent_id, tool, denied_call_id, retry_call_id, retry_effect, denied_args_sha256 <> retry_args_sha256 AS changed FROM audit_denied_then_retried')).toEqual([
      { agent_id: 'trader-1', tool: 'withdraw_cryptocurrency', denied_call_id: 'call-2', retry_call_id: 'call-appr-1', retry_effect: 'approval_required', changed: true },
    ]);
  });

  it('audit_checkpoints, audit_verifications and audit_retention: integrity evidence and what is held', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-'));
    try {
      const { checkpoint } = await createCheckpoint(ctx.ledger.connection, { keyFile: writeKeyPair(dir, 'ledger').key });
      await verifyLedger(ctx.ledger.connection, { record: true });
      expect(await q('SELECT checkpoint_id::text, strands, events_covered::int FROM audit_checkpoints')).toEqual([
        { checkpoint_id: checkpoint.checkpoint_id, strands: 1, events_covered: 19 },
      ]);
      expect(await q('SELECT ok, events::int, problems, missing_outcomes FROM audit_verifications')).toEqual([
        { ok: true, events: 19, problems: 0, missing_outcomes: 1 },
      ]);
      expect(await q("SELECT to_char(month, 'YYYY-MM') AS month, events::int, strands::int FROM audit_retention")).toEqual([
        { month: '2030-05', events: 19, strands: 1 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs every SQL query of docs/audit.md', async () => {
    await writeAuditScenario(ctx.ledger.connection);
    await writeApprovalScenario(ctx.ledger.connection);
    const blocks = auditDocSql();
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    for (const block of blocks) {
      await expect(q(block), block).resolves.toBeDefined();
    }
  });
}
