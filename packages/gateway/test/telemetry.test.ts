import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildBundle, canonicalDigest, generateSigningKey, sha256Hex, signBundle } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { createPolicyRepo, type PolicyRepo } from './git-policy-repo.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

/** The `_meta` of a request the recording upstream received. */
function metaOf(call: { params: object }): Record<string, unknown> {
  return (call.params as { _meta?: Record<string, unknown> })._meta ?? {};
}

const AGENT_TOKEN = 'telemetry-agent';
const ADMIN_TOKEN = 'telemetry-admin';
const REVISION = 12;
const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
const STATUS_ERROR = 2;

/** The policy of the recording upstream: echo allowed, slow denied above a second, log-later hidden. */
const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['log-later'],
  tools: {
    echo: {},
    slow: {
      deny_if: [{ id: 'too-slow', conditions: [{ path: 'args.ms', op: 'gt', value: 1000 }], on_deny: 'no call may take more than a second' }],
      approve_if: [{ id: 'slowish', conditions: [{ path: 'args.ms', op: 'gt', value: 500 }], reason: 'a call of more than half a second needs a human' }],
    },
  },
};

/** A fresh W3C traceparent of the agent's own (sampled unless told otherwise). */
function agentTraceparent(sampled = true): { traceId: string; spanId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

/** The value of one Prometheus sample, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface Started {
  readonly gateway: RunningGateway;
  readonly client: Client;
  stop(): Promise<void>;
}

async function startTelemetryGateway(db: TestDatabase, upstream: RecordingUpstream, policy: Record<string, unknown>, telemetry: Record<string, unknown>): Promise<Started> {
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { port: 0 } },
      agents: [{ id: 'trader-1', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { rec: upstream.config },
      policy,
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'memory' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      approvals: { mode: 'retry' },
      telemetry,
    }),
    join(ROOT, 'gateway.json'),
  );
  const gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  const client = new Client({ name: 'telemetry-test', version: '1' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  return {
    gateway,
    client,
    async stop() {
      await client.close().catch(() => undefined);
      await gateway.shutdown('test over');
    },
  };
}

describe('OpenTelemetry: a span per tools/call, exported over OTLP/HTTP to a real receiver', () => {
  const key = generateSigningKey();
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let repo: PolicyRepo;
  let stateDir: string;
  let run: Started;

  /** The spans of one trace, once its SERVER span (and, for a forwarded call, its CLIENT span) arrived. */
  async function traceOf(traceId: string, forwarded: boolean): Promise<{ server: ReceivedSpan; children: ReceivedSpan[] }> {
    return receiver.until(`the spans of trace ${traceId}`, () => {
      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      const server = spans.find((s) => s.kind === SPAN_KIND.server);
      const ledger = spans.find((s) => s.name === 'tollgate.ledger.append');
      if (!server || (forwarded && !spans.some((s) => s.kind === SPAN_KIND.client))) return undefined;
      // The hidden tool's span ends before its decision's commit does.
      if (server.attributes['tollgate.decision.effect'] !== undefined && !ledger) return undefined;
      return { server, children: spans.filter((s) => s.parentSpanId === server.spanId) };
    });
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    repo = await createPolicyRepo({ keys: [key] });
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-telemetry-state-'));
    const bundle = signBundle(
      buildBundle({ files: [{ path: 'policies/rec/policy.json', text: JSON.stringify(POLICY) }], revision: REVISION, gitCommit: null, createdAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) }),
      key.privateKeyPem,
    );
    await repo.commit({ revision: REVISION, allowEcho: true, text: `${JSON.stringify(bundle, null, 2)}\n` });
    run = await startTelemetryGateway(
      db,
      upstream,
      { git: { repo: repo.dir, poll: '1h', watch: false }, trust: { keys: [{ public_key: key.publicKeyPem }] }, state_dir: stateDir },
      {
        service_name: 'tollgate-under-test',
        resource_attributes: { 'deployment.environment.name': 'test' },
        otlp: { endpoint: receiver.url, timeout: '1s' },
        traces: { schedule_delay: '20ms', arguments_sha256: true },
        metrics: { interval: '1s' },
      },
    );
  }, 60_000);

  afterAll(async () => {
    await run?.stop();
    await receiver?.close();
    await upstream?.cleanup();
    await repo?.remove();
    await rm(stateDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('an allowed call: a SERVER span with the decision, its ledger commit and the upstream call as children, the upstream given the CLIENT span as parent', async () => {
    const agent = agentTraceparent();
    const result = await run.client.callTool({ name: 'echo', arguments: { text: 'hello' }, _meta: { traceparent: agent.header } });
    expect(result.isError).toBeFalsy();
    const { server, children } = await traceOf(agent.traceId, true);

    expect(server).toMatchObject({ name: 'tools/call echo', kind: SPAN_KIND.server, parentSpanId: agent.spanId, scope: '@tollgate/gateway' });
    expect(server.status.code).not.toBe(STATUS_ERROR);
    expect(server.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo',
      'network.transport': 'tcp',
      'tollgate.agent.id': 'trader-1',
      'tollgate.server': 'rec',
      'tollgate.decision.effect': 'allow',
      'tollgate.policy.revision': REVISION,
      'tollgate.policy.digest': run.gateway.policies.policyFor('rec')!.digest,
    });
    expect(server.attributes['mcp.session.id']).toEqual(expect.any(String));
    expect(server.attributes['jsonrpc.request.id']).toEqual(expect.any(String));
    expect(server.attributes).not.toHaveProperty('error.type');
    expect(server.attributes).not.toHaveProperty('tollgate.decision.rule'); // a plain allow has no rule
    expect(server.resource).toMatchObject({ 'service.name': 'tollgate-under-test', 'service.version': '0.1.0', 'deployment.environment.name': 'test' });

    const ledger = children.find((s) => s.name === 'tollgate.ledger.append');
    expect(ledger).toMatchObject({ kind: SPAN_KIND.internal, attributes: { 'tollgate.ledger.event': 'decision' } });
    const client = children.find((s) => s.kind === SPAN_KIND.client);
    expect(client).toMatchObject({ name: 'tools/call echo', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'tollgate.server': 'rec', 'network.transport': 'pipe' } });

    // The upstream was told the gateway's CLIENT span is its parent, in params._meta.
    const [sent] = (await upstream.toolCalls()).filter((c) => JSON.stringify(c.params).includes(agent.traceId));
    expect(metaOf(sent!).traceparent).toBe(`00-${agent.traceId}-${client!.spanId}-01`);

    // The ledger row of the decision is the span's call id.
    const rows = await db.query<{ call_id: string }>("SELECT call_id FROM ledger_events WHERE event_type = 'decision' AND call_id = $1", [server.attributes['tollgate.call.id']]);
    expect(rows).toHaveLength(1);
  });

  it('a denied call: its effect, rule and code on an error span, its commit a child, and no upstream call', async () => {
    const agent = agentTraceparent();
    const result = await run.client.callTool({ name: 'slow', arguments: { ms: 5000 }, _meta: { traceparent: agent.header } });
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'policy.denied', rule: 'too-slow' } });
    const { server, children } = await traceOf(agent.traceId, false);
    expect(server).toMatchObject({ name: 'tools/call slow', parentSpanId: agent.spanId, status: { code: STATUS_ERROR, message: 'policy.denied' } });
    expect(server.attributes).toMatchObject({
      'tollgate.decision.effect': 'deny',
      'tollgate.decision.rule': 'too-slow',
      'tollgate.decision.code': 'policy.denied',
      'tollgate.policy.revision': REVISION,
      'tollgate.call.id': (result.structuredContent as { decision_id: string }).decision_id,
      'error.type': 'tool_error',
    });
    expect(server.events.map((e) => e.name)).toEqual(['tollgate.decision']);
    expect(children.map((s) => s.name)).toEqual(['tollgate.ledger.append']);
    expect((await upstream.toolCalls()).some((c) => JSON.stringify(c).includes(agent.traceId))).toBe(false);
  });

  it('a call that needs approval: the request id on the span, and its filing as an event and a commit', async () => {
    const agent = agentTraceparent();
    const result = await run.client.callTool({ name: 'slow', arguments: { ms: 700 }, _meta: { traceparent: agent.header } });
    const refusal = result.structuredContent as { code: string; approval_id: string; decision_id: string };
    expect(refusal).toMatchObject({ code: 'approval.required', approval_id: expect.any(String) });
    const { server, children } = await traceOf(agent.traceId, false);
    expect(server.attributes).toMatchObject({
      'tollgate.decision.effect': 'approval_required',
      'tollgate.decision.rule': 'slowish',
      'tollgate.decision.code': 'approval.required',
      'tollgate.approval.id': refusal.approval_id,
      'tollgate.call.id': refusal.decision_id,
    });
    expect(server.events.map((e) => e.name)).toEqual(['tollgate.approval.requested', 'tollgate.decision']);
    expect(server.events[0]!.attributes).toEqual({ 'tollgate.approval.id': refusal.approval_id });
    expect(children.map((s) => s.attributes['tollgate.ledger.event']).sort()).toEqual(['approval.requested', 'decision']);
  });

  it('a hidden tool: the agent sees an unknown tool, the span says hidden and names the rule', async () => {
    const agent = agentTraceparent();
    await expect(run.client.callTool({ name: 'log-later', arguments: { ms: 1, text: 'x' }, _meta: { traceparent: agent.header } })).rejects.toThrow(/Unknown tool: log-later/);
    const { server, children } = await traceOf(agent.traceId, false);
    expect(server).toMatchObject({ name: 'tools/call log-later', status: { code: STATUS_ERROR } });
    expect(server.attributes).toMatchObject({
      'tollgate.decision.effect': 'hidden',
      'tollgate.decision.rule': 'hide',
      'tollgate.decision.code': 'tool.hidden',
      'error.type': '-32602',
      'rpc.response.status_code': '-32602',
    });
    expect(children.map((s) => s.name)).toEqual(['tollgate.ledger.append']);

    // A tool that does not exist: no decision, and its made-up name stays out of the span's name.
    const other = agentTraceparent();
    await expect(run.client.callTool({ name: 'no-such-tool', arguments: {}, _meta: { traceparent: other.header } })).rejects.toThrow(/Unknown tool/);
    const unknown = await traceOf(other.traceId, false);
    expect(unknown.server.name).toBe('tools/call');
    expect(unknown.server.attributes).toMatchObject({ 'gen_ai.tool.name': 'no-such-tool', 'error.type': '-32602' });
    expect(unknown.server.attributes).not.toHaveProperty('tollgate.decision.effect');
  });

  it("carries the agent's tracestate through, and starts a trace of its own for a call without a traceparent", async () => {
    const agent = agentTraceparent();
    await run.client.callTool({ name: 'echo', arguments: { text: 'state' }, _meta: { traceparent: agent.header, tracestate: 'desk=7f3a,other=1' } });
    const { server, children } = await traceOf(agent.traceId, true);
    expect(server.traceState).toBe('desk=7f3a,other=1');
    const sent = (await upstream.toolCalls()).find((c) => JSON.stringify(c.params).includes(agent.traceId))!;
    expect(metaOf(sent)).toMatchObject({ tracestate: 'desk=7f3a,other=1' });
    expect(children.find((s) => s.kind === SPAN_KIND.client)!.traceState).toBe('desk=7f3a,other=1');

    const before = (await upstream.toolCalls()).length;
    await run.client.callTool({ name: 'echo', arguments: { text: 'no parent' } });
    const fresh = (await upstream.toolCalls()).slice(before)[0]!;
    const traceparent = String(metaOf(fresh).traceparent);
    const [, traceId, clientSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(traceparent)!;
    const root = await traceOf(traceId!, true);
    expect(root.server.parentSpanId).toBe('');
    expect(root.children.find((s) => s.kind === SPAN_KIND.client)!.spanId).toBe(clientSpanId);
  });

  it('ignores a traceparent that is malformed, all zeros, or not a string, and never passes it upstream', async () => {
    const bogus: unknown[] = [`00-${'z'.repeat(32)}-${'1'.repeat(16)}-01`, `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`, { trace: 'id' }, `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`];
    for (const traceparent of bogus) {
      const before = (await upstream.toolCalls()).length;
      const result = await run.client.callTool({ name: 'echo', arguments: { text: 'bogus' }, _meta: { traceparent, tracestate: 'evil=1' } } as never);
      expect(result.isError).toBeFalsy();
      const meta = metaOf((await upstream.toolCalls()).slice(before)[0]!);
      expect(meta.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(meta.traceparent).not.toEqual(traceparent);
      // A trace state without a valid parent is dropped with it.
      expect(meta).not.toHaveProperty('tracestate');
      const traceId = String(meta.traceparent).split('-')[1]!;
      expect((await traceOf(traceId, true)).server.parentSpanId).toBe('');
    }
  });

  it("never puts the arguments in a span: only their SHA-256, the ledger's own", async () => {
    const secret = `sk-live-${randomBytes(12).toString('hex')}`;
    const agent = agentTraceparent();
    await run.client.callTool({ name: 'echo', arguments: { text: secret }, _meta: { traceparent: agent.header } });
    const { server } = await traceOf(agent.traceId, true);
    const rows = await db.query<{ args_sha256: string }>("SELECT args_sha256 FROM ledger_events WHERE event_type = 'decision' AND call_id = $1", [server.attributes['tollgate.call.id']]);
    expect(server.attributes['tollgate.arguments.sha256']).toBe(canonicalDigest({ text: secret }));
    expect(server.attributes['tollgate.arguments.sha256']).toBe(rows[0]!.args_sha256);
    // Let a metrics export pass too, then look at everything the collector ever got.
    const exports = receiver.arrivals.get('/v1/metrics') ?? 0;
    await receiver.until('another metrics export', () => (receiver.arrivals.get('/v1/metrics') ?? 0) > exports);
    expect(receiver.bodies.some((b) => b.includes(secret))).toBe(false);
    expect([...receiver.contentTypes]).toEqual(['application/json']);
  });

  it('exports metrics: decisions by effect, decision latency, upstream latency, ledger commit time, the policy revision', async () => {
    const exports = receiver.arrivals.get('/v1/metrics') ?? 0;
    await receiver.until('a metrics export after the calls', () => (receiver.arrivals.get('/v1/metrics') ?? 0) > exports + 1);
    // The calls of the tests above: 8 allowed (echo), 1 denied and 1 held for approval (slow), 1 hidden (log-later).
    const decisions = receiver.metric('tollgate.decisions')!;
    const count = (effect: string): number => decisions.filter((p) => p.attributes['tollgate.decision.effect'] === effect).reduce((n, p) => n + (p.value ?? 0), 0);
    expect(count('allow')).toBeGreaterThanOrEqual(8);
    expect(count('deny')).toBe(1);
    expect(count('hidden')).toBe(1);
    expect(count('approval_required')).toBe(1);
    expect(decisions.find((p) => p.attributes['tollgate.decision.effect'] === 'deny')!.attributes).toEqual({
      'tollgate.server': 'rec',
      'gen_ai.tool.name': 'slow',
      'tollgate.decision.effect': 'deny',
      'tollgate.decision.code': 'policy.denied',
    });
    const histogramCount = (name: string, match: Record<string, unknown> = {}): number =>
      (receiver.metric(name) ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)).reduce((n, p) => n + (p.count ?? 0), 0);
    expect(histogramCount('tollgate.decision.duration', { 'tollgate.decision.effect': 'deny' })).toBe(1);
    expect(histogramCount('tollgate.upstream.duration', { 'tollgate.server': 'rec', 'tollgate.upstream.status': 'ok' })).toBeGreaterThanOrEqual(8);
    expect(histogramCount('tollgate.ledger.commit.duration')).toBeGreaterThan(0);
    expect(histogramCount('mcp.server.operation.duration', { 'gen_ai.tool.name': 'slow', 'error.type': 'tool_error' })).toBe(2);
    expect(histogramCount('mcp.client.operation.duration', { 'gen_ai.tool.name': 'echo', 'tollgate.server': 'rec' })).toBeGreaterThanOrEqual(8);
    expect(receiver.metric('tollgate.policy.revision')).toEqual([{ attributes: {}, value: REVISION }]);
  });

  it('leaves Prometheus as it was, and counts the exports there', async () => {
    const res = await fetch(`${run.gateway.admin!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await res.text();
    expect(sample(text, 'tollgate_decisions_total{server="rec",tool="slow",effect="deny",code="policy.denied"}')).toBe(1);
    expect(sample(text, 'tollgate_policy_revision')).toBe(REVISION);
    expect(sample(text, 'tollgate_telemetry_exports_total{signal="traces",result="ok"}')).toBeGreaterThan(0);
    expect(sample(text, 'tollgate_telemetry_exports_total{signal="metrics",result="ok"}')).toBeGreaterThan(0);
    expect(text).not.toContain('tollgate_telemetry_exports_total{signal="traces",result="error"}');
  });
});
