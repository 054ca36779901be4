import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

/** The `_meta` of a request the recording upstream received. */
function metaOf(call: { params: object }): Record<string, unknown> {
  return (call.params as { _meta?: Record<string, unknown> })._meta ?? {};
}

const AGENT_TOKEN = 'telemetry-bounds-agent';
const ADMIN_TOKEN = 'telemetry-bounds-admin';

interface Started {
  readonly gateway: RunningGateway;
  readonly client: Client;
  /** Calls echo, optionally under the agent's traceparent; resolves with the traceparent the upstream got. */
  echo(traceparent?: string): Promise<string>;
  stop(): Promise<void>;
}

async function start(db: TestDatabase, upstream: RecordingUpstream, telemetry: Record<string, unknown>): Promise<Started> {
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { port: 0 } },
      agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { rec: upstream.config },
      policy: { dir: upstream.policyDir },
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'memory' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      telemetry,
    }),
    join(ROOT, 'gateway.json'),
  );
  const gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  const client = new Client({ name: 'telemetry-bounds-test', version: '1' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  return {
    gateway,
    client,
    async echo(traceparent) {
      const marker = randomBytes(8).toString('hex');
      const result = await client.callTool({ name: 'echo', arguments: { text: marker }, ...(traceparent ? { _meta: { traceparent } } : {}) });
      expect(result.isError).toBeFalsy();
      const sent = (await upstream.toolCalls()).find((c) => c.params.arguments?.text === marker)!;
      return String(metaOf(sent).traceparent);
    },
    async stop() {
      await client.close().catch(() => undefined);
      await gateway.shutdown('test over');
    },
  };
}

function traceparent(sampled: boolean): { traceId: string; spanId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

const UPSTREAM_TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe('telemetry sampling', () => {
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
  });

  afterAll(async () => {
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  });

  it("at ratio 0 records no trace of its own, but follows the agent's sampled flag, and always propagates the trace", async () => {
    const run = await start(db, upstream, { otlp: { endpoint: receiver.url, timeout: '1s' }, traces: { sample_ratio: 0, schedule_delay: '10ms' }, metrics: { enabled: false } });
    try {
      // No traceparent: a new trace, not sampled; the upstream still gets its context (flags 00).
      const own = UPSTREAM_TRACEPARENT.exec(await run.echo())!;
      expect(own[3]).toBe('00');
      // The agent's trace, not sampled: not recorded, passed on as not sampled.
      const quiet = traceparent(false);
      const quietUp = UPSTREAM_TRACEPARENT.exec(await run.echo(quiet.header))!;
      expect([quietUp[1], quietUp[3]]).toEqual([quiet.traceId, '00']);
      // The agent's trace, sampled: recorded under the agent's span.
      const loud = traceparent(true);
      const loudUp = UPSTREAM_TRACEPARENT.exec(await run.echo(loud.header))!;
      expect(loudUp[1]).toBe(loud.traceId);
      expect(loudUp[3]).toBe('01');
      const server = await receiver.until('the sampled call\'s span', () => receiver.spans().find((s) => s.traceId === loud.traceId && s.kind === 2));
      expect(server.parentSpanId).toBe(loud.spanId);
      // Spans are exported in the order they ended: the earlier calls would have come first.
      await receiver.until('the sampled call\'s client span', () => receiver.spans().find((s) => s.traceId === loud.traceId && s.kind === 3));
      expect(receiver.spans().filter((s) => s.traceId === own[1] || s.traceId === quiet.traceId)).toEqual([]);
    } finally {
      await run.stop();
    }
  });

  it('with follow_agent_sampling false, an agent cannot make the gateway record its calls', async () => {
    receiver.clear();
    const run = await start(db, upstream, {
      otlp: { endpoint: receiver.url, timeout: '1s' },
      traces: { sample_ratio: 0, follow_agent_sampling: false, schedule_delay: '10ms' },
      metrics: { interval: '1s' },
    });
    try {
      const loud = traceparent(true);
      const up = UPSTREAM_TRACEPARENT.exec(await run.echo(loud.header))!;
      // Still the agent's trace, passed on, but not sampled here.
      expect(up[1]).toBe(loud.traceId);
      expect(up[3]).toBe('00');
      // The call happened (metrics are not sampled) …
      await receiver.until('the call in the metrics', () => (receiver.metric('mcp.server.operation.duration') ?? []).some((p) => (p.count ?? 0) >= 1));
      // … and no span of it was ever sent.
      expect(receiver.arrivals.get('/v1/traces') ?? 0).toBe(0);
    } finally {
      await run.stop();
    }
    expect(receiver.spans()).toEqual([]);
  });
});

describe('telemetry with traces off', () => {
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
  });

  afterAll(async () => {
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  });

  it("exports metrics only, and passes the agent's trace context on untouched", async () => {
    const run = await start(db, upstream, { otlp: { endpoint: receiver.url, timeout: '1s' }, traces: { enabled: false }, metrics: { interval: '1s' } });
    try {
      const agent = traceparent(true);
      expect(await run.echo(agent.header)).toBe(agent.header);
      await receiver.until('the call in the metrics', () => (receiver.metric('tollgate.decisions') ?? []).some((p) => p.value === 1));
    } finally {
      await run.stop();
    }
    expect(receiver.arrivals.get('/v1/traces')).toBeUndefined();
  });
});

describe('a collector that hangs', () => {
  const TIMEOUT_MS = 1000;
  const MAX_QUEUE = 16;
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let run: Started;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    receiver.mode = 'hang';
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    run = await start(db, upstream, {
      otlp: { endpoint: receiver.url, timeout: `${TIMEOUT_MS}ms`, max_concurrent_exports: 1 },
      traces: { schedule_delay: '10ms', max_queue_size: MAX_QUEUE, max_export_batch_size: 4 },
      metrics: { interval: `${TIMEOUT_MS}ms` },
    });
  });

  afterAll(async () => {
    await run?.stop();
    await receiver?.close();
    await upstream?.cleanup();
    await db?.drop();
  });

  it('never slows a call: each one answers long before an export could time out', async () => {
    await run.echo();
    // An export is stuck at the collector before the measured calls start.
    await receiver.until('an export to hang', () => (receiver.arrivals.get('/v1/traces') ?? 0) >= 1);
    const took: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      await run.echo();
      took.push(performance.now() - t0);
    }
    // And many at once: the queue fills and spans are dropped, the calls do not wait.
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 40 }, () => run.echo()));
    const burst = performance.now() - t0;
    took.sort((a, b) => a - b);
    expect(took.at(-1)!).toBeLessThan(TIMEOUT_MS / 2);
    expect(burst).toBeLessThan(TIMEOUT_MS * 2);
    // The stuck export timed out and was counted as failed; nothing was taken.
    await new Promise((r) => setTimeout(r, TIMEOUT_MS + 200));
    const text = await (await fetch(`${run.gateway.admin!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(text).toMatch(/^tollgate_telemetry_exports_total\{signal="traces",result="error"\} [1-9]/m);
    expect(receiver.spans()).toEqual([]);
  }, 30_000);

  it('keeps at most its queue while the collector is stuck, and exports new calls once it answers again', async () => {
    // Calls made while it hangs: their spans are queued (at most MAX_QUEUE) or dropped.
    const stuck = new Set<string>();
    for (let i = 0; i < 3 * MAX_QUEUE; i++) stuck.add(UPSTREAM_TRACEPARENT.exec(await run.echo())![1]!);
    receiver.mode = 'ok';
    // Spans that end while a stuck export still holds its slot are dropped too: calls go on until one gets through.
    let arrived = false;
    for (let i = 0; i < 50 && !arrived; i++) {
      const traceId = UPSTREAM_TRACEPARENT.exec(await run.echo())![1]!;
      arrived = await receiver.until("the call's span", () => receiver.spans().some((s) => s.traceId === traceId), 200).catch(() => false);
    }
    expect(arrived).toBe(true);
    expect(receiver.spans().filter((s) => stuck.has(s.traceId)).length).toBeLessThanOrEqual(MAX_QUEUE);
  }, 30_000);

  it('shuts down within the export timeout when the collector hangs again', async () => {
    receiver.mode = 'hang';
    await run.echo();
    const t0 = performance.now();
    await run.stop();
    // The flush at shutdown is bounded by the export timeout (plus the rest of the shutdown).
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS + 3000);
  }, 30_000);
});
