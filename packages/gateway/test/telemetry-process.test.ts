import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, type RecordingUpstream } from './fixtures.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

/** The `_meta` of a request the recording upstream received. */
function metaOf(call: { params: object }): Record<string, unknown> {
  return (call.params as { _meta?: Record<string, unknown> })._meta ?? {};
}

const GATEWAY_MAIN = resolve(ROOT, 'packages/gateway/test/gateway-process.ts');
const RECORDER = resolve(ROOT, 'packages/gateway/test/module-load-recorder.mjs');

/**
 * Runs a real stdio gateway process with `telemetry` (or none), makes one allowed call with the
 * agent's traceparent, stops the process, and returns the URLs of every module it resolved.
 */
async function runGateway(db: TestDatabase, upstream: RecordingUpstream, telemetry: Record<string, unknown> | undefined, traceparent: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-telemetry-process-'));
  try {
    const file = join(dir, 'gateway.json');
    const modules = join(dir, 'modules.log');
    await writeFile(modules, '');
    await writeFile(
      file,
      JSON.stringify({
        listen: { stdio: true },
        agent: { id: 'desk-bot' },
        upstreams: { rec: upstream.config },
        policy: { dir: upstream.policyDir },
        ledger: { database_url: db.url, migrate: true },
        limits: { store: 'memory' },
        log: { level: 'warn' },
        ...(telemetry ? { telemetry } : {}),
      }),
    );
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', '--import', RECORDER, GATEWAY_MAIN, file],
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), TOLLGATE_TEST_MODULE_LOG: modules },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'telemetry-process-test', version: '1' }, { capabilities: {} });
    await client.connect(transport);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'from a process' }, _meta: { traceparent } });
    expect(result.isError).toBeFalsy();
    // Closing stdin ends a stdio-only gateway, which flushes its telemetry on the way out.
    const pid = transport.pid!;
    await client.close();
    for (let i = 0; i < 400; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return (await readFile(modules, 'utf8')).split('\n').filter((line) => line !== '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('a gateway process with and without telemetry', () => {
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

  it('without a telemetry section loads no OpenTelemetry module at all, and passes the agent\'s trace context on untouched', async () => {
    const traceId = randomBytes(16).toString('hex');
    const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    const modules = await runGateway(db, upstream, undefined, traceparent);
    // The recorder saw the gateway's own module graph (so an absence below means something).
    expect(modules.some((url) => url.includes('@modelcontextprotocol/sdk'))).toBe(true);
    expect(modules.some((url) => url.endsWith('/gateway/src/gateway.ts'))).toBe(true);
    expect(modules.filter((url) => url.includes('opentelemetry') || url.includes('otlp-telemetry'))).toEqual([]);
    const sent = (await upstream.toolCalls()).find((c) => JSON.stringify(c.params).includes(traceId))!;
    expect(metaOf(sent).traceparent).toBe(traceparent);
  }, 60_000);

  it('with one, exports the call\'s spans from the process to the collector, under the agent\'s trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const agentSpan = randomBytes(8).toString('hex');
    const modules = await runGateway(db, upstream, { otlp: { endpoint: receiver.url, timeout: '2s' }, traces: { schedule_delay: '5s' } }, `00-${traceId}-${agentSpan}-01`);
    expect(modules.some((url) => url.includes('@opentelemetry/sdk-trace'))).toBe(true);
    // The schedule delay is longer than the process lived: the spans came with the flush at shutdown.
    const spans = receiver.spans().filter((s) => s.traceId === traceId);
    const server = spans.find((s) => s.kind === 2)!;
    expect(server).toMatchObject({ name: 'tools/call echo', parentSpanId: agentSpan, attributes: { 'network.transport': 'pipe', 'tollgate.decision.effect': 'allow', 'tollgate.agent.id': 'desk-bot' } });
    const client = spans.find((s) => s.kind === 3)!;
    expect(client.parentSpanId).toBe(server.spanId);
    const sent = (await upstream.toolCalls()).find((c) => JSON.stringify(c.params).includes(traceId))!;
    expect(metaOf(sent).traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
    expect(receiver.metric('tollgate.decisions')).toEqual([expect.objectContaining({ value: 1, attributes: expect.objectContaining({ 'tollgate.decision.effect': 'allow' }) })]);
  }, 60_000);
});
