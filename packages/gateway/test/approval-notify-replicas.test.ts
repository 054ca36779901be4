import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalBody } from '../src/admin/approvals-api.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { recordingUpstream, type RecordingUpstream } from './fixtures.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-harness.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './webhook-receiver.js';

// Two gateway processes (replicas) on one PostgreSQL database, with the same webhook: each
// approval event is delivered by one of them, once, whichever replica it happened on and
// however both sweep for retries — and when one stops in the middle of a delivery, the other
// finishes it. The receiver fails every notification's first attempt, so that both replicas'
// sweeps compete for every retry.

const ADMIN_TOKEN = 'admin-token-replicas';
const LEAD_TOKEN = 'desk-lead-token-replicas';
const SECRET = 'whsec-replicas-0123456789';
const POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    echo: {
      approve_if: [
        { id: 'short', conditions: [{ path: 'args.text', op: 'regex', value: '^short' }], timeout: '1s', reason: 'Short-lived approvals expire fast.' },
        { id: 'human', conditions: [], reason: 'Echo needs a desk lead.' },
      ],
    },
  },
};

interface Replica {
  readonly process: GatewayProcess;
  readonly admin: string;
  readonly pid: number;
  call(text: string): Promise<CallToolResult>;
  show(id: string): Promise<ApprovalBody>;
}

async function startReplica(db: TestDatabase, upstream: RecordingUpstream, receiver: WebhookReceiver): Promise<Replica> {
  const process = await startGatewayProcess('http', {
    upstreams: { rec: upstream.config },
    policy: { dir: upstream.policyDir },
    ledger: { database_url: db.url, migrate: true },
    limits: { store: 'postgres' },
    admin: { host: '127.0.0.1', port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
    approvals: {
      mode: 'hold',
      hold_max: '20s',
      approvers: [{ id: 'desk-lead', token_sha256: sha256Hex(LEAD_TOKEN) }],
      notify: [{ id: 'ops', url: receiver.url('/ops'), secret: SECRET, timeout: '1s', attempts: 5, backoff: '700ms', max_backoff: '700ms' }],
      delivery: { sweep: '100ms' },
    },
  });
  let admin: string | undefined;
  for (let i = 0; i < 200 && admin === undefined; i++) {
    const line = process.log.find((l) => l.includes('admin API listening'));
    if (line) admin = (JSON.parse(line) as { url: string }).url;
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (admin === undefined) throw new Error(`no admin API:\n${process.log.join('\n')}`);
  const url = admin;
  return {
    process,
    admin: url,
    pid: process.process!.pid!,
    call: (text) => process.client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text } } }, CallToolResultSchema, { timeout: 60_000 }),
    show: async (id) => (await (await fetch(`${url}/approvals/${id}`, { headers: { authorization: `Bearer ${LEAD_TOKEN}` } })).json()) as ApprovalBody,
  };
}

const event = (r: ReceivedRequest): string => r.headers['x-tollgate-event'] ?? '';
const approvalOf = (r: ReceivedRequest): string | undefined => (r.json as { approval?: { id: string } } | undefined)?.approval?.id;
const textOf = (r: ReceivedRequest): string | undefined => (r.json as { approval?: { arguments?: { text?: string } } } | undefined)?.approval?.arguments?.text;

describe('approval notifications across two gateway replicas on one PostgreSQL', () => {
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let receiver: WebhookReceiver;
  let a: Replica;
  let b: Replica;

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    await writeFile(join(upstream.policyDir, 'rec', 'policy.json'), JSON.stringify(POLICY));
    receiver = await startWebhookReceiver({ '/ops': SECRET });
    receiver.answer = (_r, index) => (index === 0 ? 500 : 200);
    // One after the other, so the two do not race to migrate the fresh database.
    a = await startReplica(db, upstream, receiver);
    b = await startReplica(db, upstream, receiver);
  }, 120_000);

  afterAll(async () => {
    try {
      for (const r of [a, b]) await r?.process.stop();
    } finally {
      await receiver?.close();
      await upstream?.cleanup();
      await db?.drop();
    }
  }, 60_000);

  it('delivers each event once, whichever replica it happened on and whichever retries it', async () => {
    // Opened on A, granted through B's admin API; another opened on B expires.
    const held = a.call('two-replicas');
    await receiver.waitFor((rs) => rs.some((r) => textOf(r) === 'two-replicas'), 10_000, 'the request');
    const id = approvalOf(receiver.received.find((r) => textOf(r) === 'two-replicas')!)!;
    const grant = await fetch(`${b.admin}/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${LEAD_TOKEN}` } });
    expect(grant.status).toBe(200);
    expect((await held).content).toEqual([{ type: 'text', text: 'two-replicas' }]);
    expect((await b.call('short-on-b')).structuredContent).toMatchObject({ code: 'approval.expired' });
    const shortId = approvalOf(receiver.received.find((r) => textOf(r) === 'short-on-b')!)!;

    const delivered = (approval: string, ev: string) => receiver.received.filter((r) => approvalOf(r) === approval && event(r) === ev && r.answered === 200);
    await receiver.waitFor(
      () => delivered(id, 'approval.requested').length > 0 && delivered(id, 'approval.granted').length > 0 && delivered(shortId, 'approval.requested').length > 0 && delivered(shortId, 'approval.expired').length > 0,
      15_000,
      'every event delivered',
    );
    // Longer than a retry's wait and several sweeps of both replicas: anything extra would have come.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [approval, events] of [
      [id, ['approval.requested', 'approval.granted']],
      [shortId, ['approval.requested', 'approval.expired']],
    ] as const) {
      const got = receiver.received.filter((r) => approvalOf(r) === approval);
      expect(got.map(event).sort()).toEqual([...events, ...events].sort());
      for (const ev of events) {
        const attempts = got.filter((r) => event(r) === ev);
        expect(attempts.map((r) => r.answered)).toEqual([500, 200]);
        expect(new Set(attempts.map((r) => r.headers['x-tollgate-delivery'])).size).toBe(1);
        expect(attempts.map((r) => r.headers['x-tollgate-attempt'])).toEqual(['1', '2']);
        expect(attempts.every((r) => r.signatureValid)).toBe(true);
      }
    }
    // Both replicas show the same deliveries and attempts.
    const [fromA, fromB] = await Promise.all([a.show(id), b.show(id)]);
    expect(fromA.deliveries).toEqual(fromB.deliveries);
    expect(fromA.deliveries!.map((d) => [d.event, d.status, d.attempts.map((t) => t.status_code)])).toEqual([
      ['requested', 'delivered', [500, 200]],
      ['granted', 'delivered', [500, 200]],
    ]);
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM approval_deliveries WHERE approval_id = ANY($1::uuid[])', [[id, shortId]]);
    expect(Number(rows[0]!.n)).toBe(4);
  }, 60_000);

  it('finishes a delivery on the other replica when the one making it stops', async () => {
    const held = a.call('takeover').catch(() => undefined);
    await receiver.waitFor((rs) => rs.some((r) => textOf(r) === 'takeover' && r.answered === 500), 10_000, 'the first attempt');
    const id = approvalOf(receiver.received.find((r) => textOf(r) === 'takeover')!)!;
    // Once A has recorded its failed attempt (and before its retry is due), A dies.
    for (let i = 0; i < 100; i++) {
      const [row] = await db.query<{ n: string }>('SELECT count(*) AS n FROM approval_delivery_attempts t JOIN approval_deliveries d ON d.id = t.delivery_id WHERE d.approval_id = $1', [id]);
      if (Number(row!.n) === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    a.process.process!.kill('SIGKILL');
    await held;
    await receiver.waitFor((rs) => rs.some((r) => approvalOf(r) === id && event(r) === 'approval.requested' && r.answered === 200), 10_000, 'the retry by B');
    const shown = await b.show(id);
    const [requested] = shown.deliveries!;
    expect(requested).toMatchObject({ event: 'requested', status: 'delivered' });
    expect(requested!.attempts.map((t) => [t.attempt, t.status_code])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(requested!.attempts[0]!.replica).toContain(`/${a.pid}/`);
    expect(requested!.attempts[1]!.replica).toContain(`/${b.pid}/`);
    expect(receiver.received.filter((r) => approvalOf(r) === id && event(r) === 'approval.requested').map((r) => r.answered)).toEqual([500, 200]);
  }, 60_000);
});
