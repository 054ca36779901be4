import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalBody } from '../src/admin/approvals-api.js';
import type { ApprovalNotificationBody } from '../src/approvals/notify/json-notification.js';
import type { SlackMessage } from '../src/approvals/notify/slack-notification.js';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './webhook-receiver.js';

const AGENT_TOKEN = 'agent-token-notify';
const ADMIN_TOKEN = 'admin-token-notify';
const LEAD_TOKEN = 'desk-lead-token-notify';
const SECRET = 'whsec-notify-test-0123456789';

/** echo needs a desk lead's approval; a text starting "short" needs one within a second. */
const POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    echo: {
      approve_if: [
        { id: 'short', conditions: [{ path: 'args.text', op: 'regex', value: '^short' }], timeout: '1s', reason: 'Short-lived approvals expire fast.' },
        { id: 'human', conditions: [], reason: 'Echo needs a desk lead.', approvers: ['desk-leads'] },
      ],
    },
  },
};

interface Started {
  gateway: RunningGateway;
  client: Client;
  admin: string;
  call(text: string): Promise<CallToolResult>;
  pendingId(text: string): Promise<string>;
  decide(id: string, verb: 'approve' | 'deny', reason?: string): Promise<{ status: number; ms: number }>;
  show(id: string): Promise<ApprovalBody>;
}

async function startNotifying(db: TestDatabase, upstream: RecordingUpstream, approvals: Record<string, unknown>): Promise<Started> {
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { port: 0 } },
      agents: [{ id: 'agent-7', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { rec: upstream.config },
      policy: { dir: upstream.policyDir },
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'postgres' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      approvals: { mode: 'hold', hold_max: '20s', approvers: [{ id: 'desk-lead', token_sha256: sha256Hex(LEAD_TOKEN), groups: ['desk-leads'] }], ...approvals },
    }),
    join(ROOT, 'gateway.json'),
  );
  const gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  const client = new Client({ name: 'notify-test', version: '1' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  const admin = gateway.admin!.url;
  const get = async (path: string): Promise<unknown> => (await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${LEAD_TOKEN}` } })).json();
  return {
    gateway,
    client,
    admin,
    call: (text) => client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text } } }, CallToolResultSchema, { timeout: 60_000 }),
    async pendingId(text) {
      for (let i = 0; i < 200; i++) {
        const { approvals } = (await get('/approvals?status=pending')) as { approvals: ApprovalBody[] };
        const found = approvals.find((a) => (a.arguments as { text?: string }).text === text);
        if (found) return found.id;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`no pending approval for ${text}`);
    },
    async decide(id, verb, reason) {
      const started = performance.now();
      const res = await fetch(`${admin}/approvals/${id}/${verb}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${LEAD_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(reason ? { reason } : {}),
      });
      await res.arrayBuffer();
      return { status: res.status, ms: performance.now() - started };
    },
    show: async (id) => (await get(`/approvals/${id}`)) as ApprovalBody,
  };
}

const event = (r: ReceivedRequest): string | undefined => r.headers['x-tollgate-event'];
const approvalOf = (r: ReceivedRequest): string | undefined => (r.json as { approval?: { id: string } } | undefined)?.approval?.id;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('approval notifications (webhooks)', () => {
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let receiver: WebhookReceiver;
  let started: Started;

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    await writeFile(join(upstream.policyDir, 'rec', 'policy.json'), JSON.stringify(POLICY));
    receiver = await startWebhookReceiver({ '/ops': SECRET });
    started = await startNotifying(db, upstream, {
      notify: [
        { id: 'ops', url: receiver.url('/ops'), secret: SECRET, timeout: '300ms', attempts: 4, backoff: '50ms', max_backoff: '100ms' },
        { id: 'chat', url: receiver.url('/slack'), format: 'slack', events: ['requested', 'granted'], backoff: '50ms' },
        { id: 'moved', url: receiver.url('/moved'), secret: SECRET, events: ['expired'], attempts: 1 },
      ],
      delivery: { sweep: '100ms' },
    });
  }, 60_000);

  afterAll(async () => {
    await started?.client.close();
    await started?.gateway.shutdown('test over');
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  }, 30_000);

  it('delivers each event once in the end — through a 500 and a timeout — signed, with every attempt on record', async () => {
    // The first notification of the request is answered 500, then not at all, then 200.
    receiver.answer = (r, i) => (r.path === '/ops' && event(r) === 'approval.requested' ? ([500, 'hang', 200] as const)[i] ?? 200 : 200);
    const held = started.call('retry-me');
    await receiver.waitFor((rs) => rs.some((r) => r.path === '/ops' && event(r) === 'approval.requested' && r.answered === 200), 10_000, 'the request, delivered');
    const requested = receiver.received.filter((r) => r.path === '/ops' && event(r) === 'approval.requested');
    expect(requested.map((r) => r.answered)).toEqual([500, 'hang', 200]);
    const id = approvalOf(requested[0]!)!;
    expect(id).toBe(await started.pendingId('retry-me'));
    // One delivery, three attempts of the same body, each signed afresh and verified here.
    expect(new Set(requested.map((r) => r.headers['x-tollgate-delivery'])).size).toBe(1);
    expect(requested.map((r) => r.headers['x-tollgate-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(requested.map((r) => r.body)).size).toBe(1);
    expect(requested.every((r) => r.signatureValid === true)).toBe(true);
    // Backed off: 50 ms (±20%) after the 500; the timed-out attempt lasted its 300 ms before the next wait of 100 ms.
    expect(requested[1]!.at - requested[0]!.at).toBeGreaterThanOrEqual(35);
    expect(requested[2]!.at - requested[1]!.at).toBeGreaterThanOrEqual(300 + 75);
    const body = requested[0]!.json as ApprovalNotificationBody;
    expect(body).toMatchObject({
      event: 'approval.requested',
      delivery_id: requested[0]!.headers['x-tollgate-delivery'],
      vote: null,
      console_url: `${started.admin}/console#${id}`,
      approval: { id, status: 'pending', server: 'rec', tool: 'echo', arguments: { text: 'retry-me' }, agent: 'agent-7', rule: 'human', reason: 'Echo needs a desk lead.', approvers: ['desk-leads'], min_approvals: 1, decisions: [] },
    });
    expect(body.summary).toBe(`Approval needed: rec/echo for agent agent-7 — Echo needs a desk lead. (desk-leads; 1 grant needed; expires ${body.approval.expires_at})`);
    expect(body.approval).not.toHaveProperty('can_decide');
    expect(requested[0]!.headers['content-type']).toBe('application/json');

    expect((await started.decide(id, 'approve', 'fine by me')).status).toBe(200);
    const result = await held;
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: 'retry-me' }]);
    await receiver.waitFor((rs) => rs.some((r) => r.path === '/ops' && event(r) === 'approval.granted' && approvalOf(r) === id), 5000, 'the grant');
    const granted = receiver.received.find((r) => r.path === '/ops' && event(r) === 'approval.granted' && approvalOf(r) === id)!;
    expect(granted.signatureValid).toBe(true);
    expect(granted.json).toMatchObject({ event: 'approval.granted', vote: { approver: 'desk-lead', decision: 'grant', reason: 'fine by me' }, approval: { id, status: 'granted', decisions: [{ approver: 'desk-lead', decision: 'grant' }] } });
    expect((granted.json as ApprovalNotificationBody).summary).toBe('desk-lead granted rec/echo for agent agent-7: approved, the call may run');

    // Nothing more comes: each event was delivered exactly once.
    await receiver.waitFor((rs) => rs.filter((r) => r.path === '/slack' && approvalOf(r) === undefined).length >= 2, 5000, 'both Slack messages');
    await sleep(500);
    const mine = receiver.received.filter((r) => r.path === '/ops' && approvalOf(r) === id);
    expect(mine.map((r) => [event(r), r.answered])).toEqual([
      ['approval.requested', 500],
      ['approval.requested', 'hang'],
      ['approval.requested', 200],
      ['approval.granted', 200],
    ]);

    // The admin API shows every delivery and every attempt.
    const shown = await started.show(id);
    const ops = shown.deliveries!.filter((d) => d.receiver === 'ops');
    expect(ops.map((d) => [d.event, d.approver, d.status, d.format])).toEqual([
      ['requested', null, 'delivered', 'json'],
      ['granted', 'desk-lead', 'delivered', 'json'],
    ]);
    expect(ops[0]!.id).toBe(requested[0]!.headers['x-tollgate-delivery']);
    expect(ops[0]!.attempts.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, null, 'no answer within 300 ms'],
      [3, 200, null],
    ]);
    expect(ops[0]!.attempts[1]!.duration_ms).toBeGreaterThanOrEqual(290);
    expect(ops[0]!.attempts.every((a) => a.replica.includes(`/${process.pid}/`) && !Number.isNaN(Date.parse(a.at)))).toBe(true);
    expect(shown.deliveries!.filter((d) => d.receiver === 'chat').map((d) => [d.event, d.status, d.format])).toEqual([
      ['requested', 'delivered', 'slack'],
      ['granted', 'delivered', 'slack'],
    ]);
  }, 30_000);

  it('sends Slack incoming-webhook messages: a text line and blocks with the call, the reason, who may approve and the console', async () => {
    const slack = receiver.received.filter((r) => r.path === '/slack');
    const requested = slack.find((r) => event(r) === 'approval.requested')!;
    const message = requested.json as SlackMessage;
    expect(Object.keys(message).sort()).toEqual(['blocks', 'text']);
    expect(message.text).toMatch(/^Approval needed: rec\/echo for agent agent-7 — Echo needs a desk lead\. .* http:\/\/127\.0\.0\.1:\d+\/console#[0-9a-f-]{36}$/);
    expect(message.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'actions', 'context']);
    const [, summary, args, actions] = message.blocks;
    expect(summary!.type === 'section' && summary!.text.text).toContain('*Reason:* Echo needs a desk lead.');
    expect(summary!.type === 'section' && summary!.fields!.map((f) => f.text)).toEqual(
      expect.arrayContaining(['*Call*\n`rec/echo`', '*Who may approve*\ndesk-leads; 1 grant needed', '*Rule*\n`human`']),
    );
    expect(args!.type === 'section' && args!.text.text).toContain('"text": "retry-me"');
    expect(actions).toEqual({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in the console' }, url: expect.stringMatching(/\/console#[0-9a-f-]{36}$/) }] });
    // No secret configured for it: not signed, but still named.
    expect(requested.headers['x-tollgate-signature']).toBeUndefined();
    expect(requested.headers['x-tollgate-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    // Its events are requested and granted only.
    expect(new Set(slack.map(event))).toEqual(new Set(['approval.requested', 'approval.granted']));
  });

  it('tells a denial with its reason and an expiry, each once, and only to receivers that asked for them', async () => {
    receiver.answer = (r) => (r.path === '/moved' ? 302 : 200);
    const denied = started.call('deny-me');
    const deniedId = await started.pendingId('deny-me');
    expect((await started.decide(deniedId, 'deny', 'not today')).status).toBe(200);
    expect((await denied).structuredContent).toMatchObject({ code: 'approval.denied' });
    const expired = await started.call('short-lived');
    expect(expired.structuredContent).toMatchObject({ code: 'approval.expired' });
    await receiver.waitFor((rs) => rs.some((r) => event(r) === 'approval.denied') && rs.some((r) => event(r) === 'approval.expired'), 5000, 'the denial and the expiry');
    await sleep(300);
    const deny = receiver.received.filter((r) => event(r) === 'approval.denied');
    expect(deny.map((r) => r.path)).toEqual(['/ops']);
    expect(deny[0]!.json).toMatchObject({ vote: { approver: 'desk-lead', decision: 'deny', reason: 'not today' }, approval: { id: deniedId, status: 'denied' } });
    expect((deny[0]!.json as ApprovalNotificationBody).summary).toBe('desk-lead denied rec/echo for agent agent-7: not today');
    const expiry = receiver.received.filter((r) => event(r) === 'approval.expired');
    expect(expiry.map((r) => r.path).sort()).toEqual(['/moved', '/ops']);
    expect(expiry[0]!.json).toMatchObject({ vote: null, approval: { status: 'expired', rule: 'short', arguments: { text: 'short-lived' } } });
    expect((expiry[0]!.json as ApprovalNotificationBody).summary).toBe('The approval of rec/echo for agent agent-7 expired: not decided in time (0 of 1 grants)');
    expect(expiry.find((r) => r.path === '/ops')!.signatureValid).toBe(true);
  }, 30_000);

  it('does not follow a redirect: the attempt is recorded as failed, and nothing reaches where it pointed', async () => {
    const expiry = receiver.received.find((r) => r.path === '/moved')!;
    expect(expiry.answered).toBe(302);
    const id = approvalOf(expiry)!;
    await sleep(200);
    expect(receiver.received.filter((r) => r.path === '/redirected')).toEqual([]);
    const moved = (await started.show(id)).deliveries!.find((d) => d.receiver === 'moved')!;
    expect(moved).toMatchObject({ event: 'expired', status: 'failed', attempts: [{ attempt: 1, status_code: 302, error: 'HTTP 302: redirects are not followed' }] });
  });
});

describe('approval notifications never hold anything up', () => {
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let receiver: WebhookReceiver;
  let started: Started;

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    await writeFile(join(upstream.policyDir, 'rec', 'policy.json'), JSON.stringify(POLICY));
    receiver = await startWebhookReceiver({ '/hang': SECRET });
    receiver.answer = () => 'hang';
    started = await startNotifying(db, upstream, {
      notify: [{ id: 'sink', url: receiver.url('/hang'), secret: SECRET, timeout: '2s', attempts: 1 }],
      delivery: { concurrency: 1, queue: 1 },
    });
  }, 60_000);

  afterAll(async () => {
    await started?.client.close();
    await started?.gateway.shutdown('test over');
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  }, 30_000);

  it('a receiver that hangs delays neither the held call being answered nor the grant', async () => {
    const opened = performance.now();
    const held = started.call('hang-1');
    const id = await started.pendingId('hang-1');
    expect(performance.now() - opened).toBeLessThan(1500);
    await receiver.waitFor((rs) => rs.some((r) => approvalOf(r) === id), 5000, 'the request');
    expect(receiver.inFlight).toBe(1);
    const grant = await started.decide(id, 'approve');
    expect(grant.status).toBe(200);
    expect(grant.ms).toBeLessThan(1000);
    const answeredAfter = performance.now();
    const result = await held;
    expect(result.content).toEqual([{ type: 'text', text: 'hang-1' }]);
    expect(performance.now() - answeredAfter).toBeLessThan(1000);
    // The receiver is still hanging on to the notification all the while.
    expect(receiver.inFlight).toBe(1);
  }, 20_000);

  it('keeps one attempt in flight and a bounded queue: what does not fit is dropped, and recorded as dropped', async () => {
    const texts = ['burst-1', 'burst-2', 'burst-3', 'burst-4', 'burst-5'];
    const calls = texts.map((t) => started.call(t));
    const ids = await Promise.all(texts.map((t) => started.pendingId(t)));
    // Every request's notification is on record, one way or the other, soon after it was opened.
    let shown: ApprovalBody[] = [];
    for (let i = 0; i < 100; i++) {
      shown = await Promise.all(ids.map((id) => started.show(id)));
      if (shown.every((a) => a.deliveries!.some((d) => d.event === 'requested'))) break;
      await sleep(20);
    }
    expect(shown.every((a) => a.deliveries!.some((d) => d.event === 'requested'))).toBe(true);
    const dropped = shown.flatMap((a) => a.deliveries!.filter((d) => d.status === 'dropped'));
    expect(dropped.length).toBeGreaterThanOrEqual(2);
    for (const d of dropped) {
      expect(d).toMatchObject({ event: 'requested', receiver: 'sink', attempts: [], next_attempt_at: null });
      expect(d.note).toMatch(/queue was full \(1 waiting, 1 in flight\)/);
    }
    expect(receiver.maxInFlight).toBe(1);
    // The calls themselves were never in question.
    for (const id of ids) expect((await started.decide(id, 'deny', 'burst over')).status).toBe(200);
    for (const call of calls) expect((await call).structuredContent).toMatchObject({ code: 'approval.denied' });
    expect(receiver.maxInFlight).toBe(1);
  }, 30_000);
});

describe('approval notifications outlive the replica that queued them', () => {
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let receiver: WebhookReceiver;
  const approvals = (notify: Record<string, unknown>) => ({
    mode: 'retry',
    notify: [{ id: 'later', timeout: '1s', attempts: 3, backoff: '100ms', ...notify }],
    delivery: { concurrency: 1, queue: 10, sweep: '100ms' },
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    await writeFile(join(upstream.policyDir, 'rec', 'policy.json'), JSON.stringify(POLICY));
    receiver = await startWebhookReceiver({ '/later': SECRET });
  }, 60_000);

  afterAll(async () => {
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  });

  it('stores what is still queued at shutdown, and the next gateway on the database delivers it', async () => {
    receiver.answer = () => 'hang';
    const first = await startNotifying(db, upstream, approvals({ url: receiver.url('/later'), secret: SECRET }));
    const ids: string[] = [];
    for (const text of ['park-1', 'park-2', 'park-3']) {
      const answer = await first.call(text);
      ids.push((answer.structuredContent as { approval_id: string }).approval_id);
    }
    await receiver.waitFor((rs) => rs.length === 1, 5000, 'the first attempt');
    await first.client.close();
    await first.gateway.shutdown('test: stop the first replica');
    const stored = await db.query<{ approval_id: string; status: string; attempts: number; lease_owner: string | null }>(
      "SELECT approval_id, status, attempts, lease_owner FROM approval_deliveries WHERE event = 'requested' ORDER BY created_at",
    );
    expect(stored.map((d) => [d.approval_id, d.status, d.lease_owner])).toEqual(ids.map((id) => [id, 'pending', null]));
    expect(stored.map((d) => d.attempts)).toEqual([1, 0, 0]);

    receiver.answer = () => 200;
    const second = await startNotifying(db, upstream, approvals({ url: receiver.url('/later'), secret: SECRET }));
    try {
      await receiver.waitFor((rs) => ids.every((id) => rs.some((r) => approvalOf(r) === id && r.answered === 200)), 10_000, 'every stored notification');
      await sleep(300);
      for (const id of ids) {
        const got = receiver.received.filter((r) => approvalOf(r) === id);
        expect(got.filter((r) => r.answered === 200)).toHaveLength(1);
        expect(got.every((r) => r.signatureValid)).toBe(true);
      }
      expect(receiver.received.filter((r) => approvalOf(r) === ids[1]).map((r) => r.headers['x-tollgate-attempt'])).toEqual(['1']);
      const shown = await second.show(ids[0]!);
      expect(shown.deliveries!.map((d) => [d.status, d.attempts.map((a) => a.status_code ?? a.error)])).toEqual([['delivered', ['no answer within 1000 ms', 200]]]);
    } finally {
      await second.client.close();
      await second.gateway.shutdown('test over');
    }
  }, 60_000);
});
