import { randomBytes } from 'node:crypto';
import { LedgerWriter, connectLedger, migrateLedger, type AppendedEvent, type LedgerConnection, type LedgerEventInput, type VerifyReport } from '@tollgate/ledger';
import { canonicalDigest } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type CliOutcome, type TempTree } from './cli-process.js';

const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const T0 = Date.parse('2031-06-01T09:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const ARGS = { exchange_id: 'binance', id: '42' };
const CALL = { agentId: 'desk-bot', sessionId: 'session-1', server: 'ccxt', tool: 'cancel_order' };
const DIGEST = 'c0ffee'.padEnd(64, '0');

const json = <T>(out: CliOutcome): T => JSON.parse(out.stdout) as T;

const used = (seconds: number, callId: string): LedgerEventInput => ({
  type: 'decision',
  at: at(seconds),
  callId,
  ...CALL,
  args: ARGS,
  effect: 'allow',
  rule: 'tools.cancel_order.action',
  reason: 'allowed by approval ap-1',
  policyRevision: '7',
  policyDigest: DIGEST,
  approvalId: 'ap-1',
});

/**
 * `tollgate ledger verify` checks approvals across gateway replicas: a request opened on one,
 * granted through another whose clock is behind, passes; the same grant used by a second call
 * on the other replica is named, with its approval id.
 */
describe('tollgate ledger verify: approvals across replicas', () => {
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  let admin: LedgerConnection;
  let connection: LedgerConnection;
  let tree: TempTree;
  let a: LedgerWriter;
  let b: LedgerWriter;
  const cli = (...args: string[]) => runCli(['ledger', ...args], tree.root, { TOLLGATE_DATABASE_URL: url });

  beforeAll(async () => {
    admin = await connectLedger({ databaseUrl: ADMIN_URL });
    await admin.execute(`CREATE DATABASE ${name}`);
    connection = await connectLedger({ databaseUrl: url });
    await migrateLedger(connection);
    tree = await tempTree();
    a = new LedgerWriter(connection, { label: 'gateway-a' });
    b = new LedgerWriter(connection, { label: 'gateway-b' });
    // Requested and held on A; granted through B, whose clock is 20 s behind A's; run on A.
    await a.append({ type: 'approval.requested', at: at(30), approvalId: 'ap-1', callId: 'call-1', ...CALL, args: ARGS, rule: 'tools.cancel_order.action', reason: 'needs a desk lead', policyRevision: '7', policyDigest: DIGEST, expiresAt: at(630), detail: { approvers: ['desk-leads'], min_approvals: 1 } });
    await b.append({ type: 'approval.granted', at: at(10), approvalId: 'ap-1', callId: 'call-1', ...CALL, argsSha256: canonicalDigest(ARGS), approver: 'desk-lead', reason: 'stale order', detail: { grants: 1, min_approvals: 1, status: 'granted' } });
    await a.append(used(31, 'call-1'));
    await Promise.all([a.flush(), b.flush()]);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await connection?.close();
    await admin?.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin?.close();
    await tree?.remove();
  });

  it('passes approvals decided through another replica within --approval-grace, and names the approval that falls outside it', async () => {
    const ok = await cli('verify');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: verified 3 events in 2 strands and 0 checkpoints/);
    expect(ok.stdout).toContain('Approvals: 1 request, 1 vote, 0 expiries, 1 call run on an approval: all sound.');

    const strict = await cli('verify', '--approval-grace', '10s');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain(`First bad event:\n  strand   ${b.strandId}\n  seq      1\n`);
    expect(strict.stdout).toContain('  approval ap-1\n  problem  approval_unrequested (backdated)\n');
    expect(strict.stdout).toContain('approval ap-1 is granted by desk-lead at 2031-06-01T09:00:10.000Z, 20 s before it was requested');
    expect(strict.stdout).toContain('Approvals: 1 request, 1 vote, 0 expiries, 1 call run on an approval: 1 problem (above).');

    const bad = await cli('verify', '--approval-grace', 'soon');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected a duration such as 60s, 2m or 500ms, or 0, got "soon"');
  });

  it('names a second call run on the same grant through the other replica, and reports it in --json', async () => {
    const second: AppendedEvent = await b.append(used(32, 'call-2'));
    await b.flush();
    const out = await cli('verify');
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('FAILED: 1 problem in 4 events in 2 strands');
    expect(out.stdout).toContain(`First bad event:\n  strand   ${b.strandId}\n  seq      2\n  event    ${second.eventId}\n  approval ap-1\n  problem  approval_reused (unauthorized)\n`);
    expect(out.stdout).toContain('call call-2 ran on approval ap-1, which call call-1 already used');
    const report = json<VerifyReport>(await cli('verify', '--json'));
    expect(report.ok).toBe(false);
    expect(report.approvals).toEqual({ requests: 1, votes: 1, expiries: 0, uses: 2, problems: 1 });
    expect(report.first_problem).toMatchObject({ kind: 'approval_reused', approval_id: 'ap-1', strand_id: b.strandId, seq: 2, event_id: second.eventId });
  });
});
