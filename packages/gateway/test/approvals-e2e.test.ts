import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { randomUUID } from 'node:crypto';
import { connectLedger, openApprovalStore } from '@tollgate/ledger';
import { canonicalDigest } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminApi, approvalGatewayConfig, approvalPolicyDir, callTool, refusalOf, textOf } from './approvals-support.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { DOWNSTREAM_TRANSPORTS, TEST_TOKEN, startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// Human approval end to end (DESIGN §5): the official SDK client is the agent, over stdio and
// Streamable HTTP, against a real gateway process with the demo exchange behind it and the
// ledger and approval state in PostgreSQL. Approvers decide through the admin API.

interface Row {
  event_type: string;
  effect: string | null;
  rule: string | null;
  approval_id: string | null;
  approver: string | null;
  outcome_status: string | null;
  call_id: string;
}

for (const transport of DOWNSTREAM_TRANSPORTS) {
  describe(`approvals over ${transport}, on PostgreSQL`, () => {
    let db: TestDatabase;
    let policies: Awaited<ReturnType<typeof approvalPolicyDir>>;
    let gateway: GatewayProcess;
    let client: Client;
    let admin: ReturnType<typeof adminApi>;
    let price = 40;

    beforeAll(async () => {
      db = await createTestDatabase();
      policies = await approvalPolicyDir();
      gateway = await startGatewayProcess(transport, approvalGatewayConfig(policies.dir, { database_url: db.url, migrate: true, await_outcome: true }));
      client = gateway.client;
      admin = adminApi(await gateway.adminUrl());
    }, 90_000);

    afterAll(async () => {
      await gateway?.stop();
      await policies?.remove();
      await db?.drop();
    }, 60_000);

    /** A resting limit order to cancel (allowed by the policy's default). */
    const restingOrder = async (): Promise<Record<string, unknown>> => {
      price -= 1;
      const placed = await callTool(client, 'create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price });
      const id = (JSON.parse(textOf(placed)) as { id: string }).id;
      return { exchange_id: 'binance', id, symbol: 'SOL/USDT' };
    };
    const events = (tool: string) =>
      db.query<Row>('SELECT event_type, effect, rule, approval_id, approver, outcome_status, call_id FROM ledger_events WHERE tool = $1 ORDER BY occurred_at, seq', [tool]);

    it('lists a pending request only once it is on the record, and refuses a vote on it before', async () => {
      const connection = await connectLedger({ databaseUrl: db.url });
      const store = openApprovalStore(connection);
      try {
        const now = Date.now();
        const { record } = await store.open({
          server: 'ccxt', tool: 'cancel_order', argsSha256: 'c'.repeat(64), agentId: 'agent-other', policyRevision: null, policyDigest: 'd'.repeat(64),
          rule: 'tools.cancel_order.action', sessionId: null, callId: randomUUID(), args: { id: 'x' }, reason: 'test', approvers: null, minApprovals: 1,
          requestedAt: new Date(now), expiresAt: new Date(now + 600_000),
        });
        expect((await admin.pending()).map((a) => a.id)).not.toContain(record.id);
        const early = await admin.vote(record.id, 'alice', 'approve');
        expect(early.status).toBe(409);
        expect(early.body.error).toContain('not on the record yet');
        await store.markRecorded(record.id);
        expect((await admin.pending()).map((a) => a.id)).toContain(record.id);
        expect((await admin.vote(record.id, 'alice', 'deny', 'test over')).status).toBe(200);
      } finally {
        await store.close();
        await connection.close();
      }
    });

    it('hold: the call waits, runs once a desk lead approves it, and the identical repeat waits again', async () => {
      const cancel = await restingOrder();
      const held = callTool(client, 'cancel_order', cancel);
      const request = await admin.awaitPending('cancel_order', [], cancel);
      expect(request).toMatchObject({ status: 'pending', agent: 'agent-7', args_sha256: canonicalDigest(cancel) });
      expect((await admin.vote(request.id, 'alice', 'approve', 'stale order')).status).toBe(200);
      const ran = await held;
      expect(refusalOf(ran)).toBeUndefined();
      expect(textOf(ran)).toContain('canceled by user');
      expect(await admin.get(request.id)).toMatchObject({ status: 'consumed' });

      // One grant runs one call: the same call again opens a new request and waits for it.
      const again = callTool(client, 'cancel_order', cancel);
      const second = await admin.awaitPending('cancel_order', [request.id], cancel);
      expect(second.id).not.toBe(request.id);
      expect((await admin.vote(second.id, 'alice', 'deny', 'already cancelled')).status).toBe(200);
      const denied = await again;
      expect(refusalOf(denied)).toMatchObject({ code: 'approval.denied', approval_id: second.id });
      expect(textOf(denied)).toBe(`[APPROVAL DENIED] approval ${second.id} was denied by alice: already cancelled`);

      const rows = (await events('cancel_order')).filter((r) => r.approval_id === request.id);
      expect(rows.map((r) => [r.event_type, r.effect ?? r.approver])).toEqual([
        ['approval.requested', null],
        ['decision', 'approval_required'],
        ['approval.granted', 'alice'],
        ['decision', 'allow'],
      ]);
      const { call_id } = rows.find((r) => r.effect === 'allow')!;
      expect((await db.query<Row>("SELECT outcome_status FROM ledger_events WHERE call_id = $1 AND event_type = 'outcome'", [call_id]))[0]?.outcome_status).toBe('ok');
    });

    it('hold without a progress token: answered after hold_max with the retry answer; the repeat after a grant runs, other arguments are not covered', async () => {
      const cancel = await restingOrder();
      const t0 = Date.now();
      const answer = await callTool(client, 'cancel_order', cancel);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
      const pending = refusalOf(answer);
      expect(pending).toMatchObject({ code: 'approval.required', rule: 'tools.cancel_order.action', args_sha256: canonicalDigest(cancel), min_approvals: 1, approvers: ['desk-leads'] });
      expect(textOf(answer)).toMatch(/held for 2 s without a decision|held for 1 s without a decision/);
      expect(textOf(answer)).toContain('make exactly this call again');
      const id = pending!.approval_id as string;
      expect(Date.parse(pending!.expires_at as string)).toBeGreaterThan(Date.now());

      // Other arguments are another call: they need their own approval (held, then the retry answer).
      const other = await callTool(client, 'cancel_order', { ...cancel, id: `${String(cancel.id)}0` });
      expect(refusalOf(other)).toMatchObject({ code: 'approval.required' });
      expect(refusalOf(other)!.approval_id).not.toBe(id);

      expect((await admin.vote(id, 'alice', 'approve')).status).toBe(200);
      const ran = await callTool(client, 'cancel_order', cancel);
      expect(refusalOf(ran)).toBeUndefined();
      expect(textOf(ran)).toContain('canceled by user');
      const allow = (await events('cancel_order')).filter((r) => r.effect === 'allow' && r.approval_id === id);
      expect(allow).toHaveLength(1);
    });

    it('progress keeps a held call alive past the client\'s timeout when it resets the timeout on progress', async () => {
      const cancel = await restingOrder();
      const progress: string[] = [];
      const held = callTool(client, 'cancel_order', cancel, { timeout: 800, resetTimeoutOnProgress: true, onprogress: (p) => progress.push(p.message ?? '') });
      const request = await admin.awaitPending('cancel_order', [], cancel);
      await new Promise((r) => setTimeout(r, 2000));
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
      const ran = await held;
      expect(refusalOf(ran)).toBeUndefined();
      expect(progress.length).toBeGreaterThanOrEqual(4);
      expect(progress[0]).toBe(`awaiting approval ${request.id} until ${request.expires_at}`);
    });

    it('refuses self-approval, an agent token, a missing token, an unknown request and a second decision', async () => {
      const cancel = await restingOrder();
      const held = callTool(client, 'cancel_order', cancel);
      const request = await admin.awaitPending('cancel_order', [], cancel);
      // An approver whose id is the requesting agent's.
      const self = await admin.vote(request.id, 'agent-7', 'approve');
      expect(self.status).toBe(403);
      expect(String(self.body.error)).toContain('cannot approve its own call');
      // The agent's own bearer token decides nothing (HTTP agents have one; the stdio agent has none).
      if (transport === 'http') expect((await admin.request(`/approvals/${request.id}/approve`, TEST_TOKEN, { method: 'POST', body: {} })).status).toBe(403);
      expect((await admin.request(`/approvals/${request.id}/approve`, undefined, { method: 'POST', body: {} })).status).toBe(401);
      // bob is not a desk lead.
      expect((await admin.vote(request.id, 'bob', 'approve')).status).toBe(403);
      expect((await admin.request('/approvals/00000000-0000-4000-8000-000000000000', ADMIN_TOKEN)).status).toBe(404);
      expect((await admin.vote(request.id, 'alice', 'deny', 'no')).status).toBe(200);
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(409);
      expect(refusalOf(await held)).toMatchObject({ code: 'approval.denied' });
    });

    it('a two-person rule: one grant is not enough, the same approver twice is refused, a second approver runs it', async () => {
      const withdrawal = { exchange_id: 'binance', code: 'SOL', amount: 1, address: 'So1ana1111111111111111111111111111111111111' };
      const held = callTool(client, 'withdraw_cryptocurrency', withdrawal);
      const request = await admin.awaitPending('withdraw_cryptocurrency');
      expect((await admin.vote(request.id, 'alice', 'approve', 'first')).status).toBe(200);
      expect(await admin.get(request.id)).toMatchObject({ status: 'pending' });
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(409);
      let settled = false;
      void held.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      expect((await admin.vote(request.id, 'bob', 'approve', 'second')).status).toBe(200);
      const ran = await held;
      expect(refusalOf(ran)).toBeUndefined();
      expect(textOf(ran)).toContain('"txid"');
      const granted = (await events('withdraw_cryptocurrency')).filter((r) => r.event_type === 'approval.granted').map((r) => r.approver);
      expect(granted).toEqual(['alice', 'bob']);
    });

    it('an expired request refuses the held call with approval.expired', async () => {
      // fetch_order_history's approvals expire after 2 s; a progress token keeps the call held until then.
      const held = await callTool(client, 'fetch_order_history', { exchange_id: 'binance' }, { timeout: 10_000, onprogress: () => undefined });
      expect(refusalOf(held)).toMatchObject({ code: 'approval.expired' });
      const expired = (await events('fetch_order_history')).filter((r) => r.event_type === 'approval.expired');
      expect(expired).toHaveLength(1);
    });

    it('the agent cancelling withdraws its wait, not the request: a later grant runs the repeat', async () => {
      const cancel = await restingOrder();
      const abort = new AbortController();
      const held = callTool(client, 'cancel_order', cancel, { signal: abort.signal });
      const request = await admin.awaitPending('cancel_order', [], cancel);
      abort.abort();
      expect('error' in (await held)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(await admin.get(request.id)).toMatchObject({ status: 'pending' });
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
      const ran = await callTool(client, 'cancel_order', cancel);
      expect(refusalOf(ran)).toBeUndefined();
      expect(await admin.get(request.id)).toMatchObject({ status: 'consumed' });
    });
  });
}

describe('approvals across gateway processes on one PostgreSQL database', () => {
  let db: TestDatabase;
  let policies: Awaited<ReturnType<typeof approvalPolicyDir>>;
  const started: GatewayProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    policies = await approvalPolicyDir();
  }, 60_000);

  afterAll(async () => {
    for (const g of started) await g.stop().catch(() => undefined);
    await policies?.remove();
    await db?.drop();
  }, 60_000);

  const start = async () => {
    const g = await startGatewayProcess('http', approvalGatewayConfig(policies.dir, { database_url: db.url, migrate: true, await_outcome: true }, { hold_max: '20s' }));
    started.push(g);
    return g;
  };
  const order = async (client: Client, price: number) =>
    (JSON.parse(textOf(await callTool(client, 'create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price }))) as { id: string }).id;

  it('granted through one replica, the call held on the other runs', async () => {
    const a = await start();
    const b = await start();
    const cancel = { exchange_id: 'binance', id: await order(b.client, 30), symbol: 'SOL/USDT' };
    const held = callTool(b.client, 'cancel_order', cancel);
    const adminA = adminApi(await a.adminUrl());
    const request = await adminA.awaitPending('cancel_order', [], cancel);
    const t0 = Date.now();
    expect((await adminA.vote(request.id, 'alice', 'approve')).status).toBe(200);
    const ran = await held;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(textOf(ran)).toContain('canceled by user');
    // The grant was recorded on A's strand, the run on B's.
    const strands = await db.query<{ event_type: string; effect: string | null; strand_id: string }>(
      "SELECT event_type, effect, strand_id FROM ledger_events WHERE approval_id = $1 AND event_type IN ('approval.granted', 'decision') ORDER BY occurred_at",
      [request.id],
    );
    const grant = strands.find((r) => r.event_type === 'approval.granted')!;
    const run = strands.find((r) => r.effect === 'allow')!;
    expect(grant.strand_id).not.toBe(run.strand_id);
    await a.stop();
    await b.stop();
    started.length = 0;
  }, 90_000);

  it('a restart keeps pending approvals: the held call gets a clean answer, and after the restart its grant runs it', async () => {
    const g1 = await start();
    const cancel = { exchange_id: 'binance', id: await order(g1.client, 29), symbol: 'SOL/USDT' };
    const held = callTool(g1.client, 'cancel_order', cancel);
    const request = await adminApi(await g1.adminUrl()).awaitPending('cancel_order', [], cancel);
    // SIGTERM while the call is held (the agent's connection stays open until the gateway answers).
    const exited = new Promise<number | null>((resolve) => g1.process!.once('exit', (code) => resolve(code)));
    g1.process!.kill('SIGTERM');
    const answer = await held;
    expect(refusalOf(answer)).toMatchObject({ code: 'approval.required', approval_id: request.id });
    expect(textOf(answer)).toContain('the gateway is shutting down; the request stays open');
    expect(await exited).toBe(0);
    await g1.stop();
    started.length = 0;

    const g2 = await start();
    const admin2 = adminApi(await g2.adminUrl());
    expect(await admin2.get(request.id)).toMatchObject({ status: 'pending' });
    expect((await admin2.vote(request.id, 'alice', 'approve')).status).toBe(200);
    const ran = await callTool(g2.client, 'cancel_order', cancel);
    // It ran: the restarted exchange (in memory) no longer knows the order, and says so itself.
    expect(refusalOf(ran)).toBeUndefined();
    expect(textOf(ran)).toContain('OrderNotFound');
    expect(await admin2.get(request.id)).toMatchObject({ status: 'consumed' });
  }, 90_000);
});
