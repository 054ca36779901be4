import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { MemoryLimitStore, compilePolicy, type CompiledPolicy } from '@tollgate/policy';
import { openLedgerSink, type OpenedLedgerSink } from '@tollgate/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewaySession } from '../src/downstream/gateway-session.js';
import { GatewayMetrics } from '../src/metrics/gateway-metrics.js';
import { PassthroughRouter } from '../src/downstream/passthrough-router.js';
import { ToolCallPipeline } from '../src/pipeline/tool-call-pipeline.js';
import type { ActivePolicy, PolicySource } from '../src/policy/policy-source.js';
import { UpstreamRegistry } from '../src/upstream/upstream-registry.js';
import { InMemoryUpstream, testLogger } from './fixtures.js';

// List changes and client notifications cross the gateway in both directions.
describe('gateway session notifications', () => {
  const logger = testLogger();
  let sink: OpenedLedgerSink;
  let upstreamServer: McpServer;
  let registry: UpstreamRegistry;
  let client: Client;
  let session: GatewaySession;
  let upstream: InMemoryUpstream;
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const forwarded: unknown[] = [];

  beforeAll(async () => {
    sink = await openLedgerSink({ dataDir: 'memory://', migrate: true });
    upstreamServer = new McpServer({ name: 'dynamic', version: '1' }, { capabilities: { tools: { listChanged: true } } });
    upstreamServer.registerTool('first', { description: 'the first tool' }, async () => ({ content: [{ type: 'text', text: 'one' }] }));
    upstreamServer.server.fallbackNotificationHandler = async (n) => {
      forwarded.push(n);
    };
    upstream = new InMemoryUpstream('dynamic', () => upstreamServer.server, logger);
    registry = new UpstreamRegistry([upstream], logger);
    await registry.start();
    const policy: CompiledPolicy = compilePolicy({ version: '1', default: 'allow' }, { server: 'dynamic', limits: new MemoryLimitStore() });
    const policies: PolicySource = {
      policyFor: () => policy,
      active: () => new Map<string, ActivePolicy>([['dynamic', { policy, source: 'test', activatedAt: 0 }]]),
    };
    const pipeline = new ToolCallPipeline({ registry, policies, sink, logger });
    session = new GatewaySession({ registry, pipeline, router: new PassthroughRouter(registry, logger), agent: { id: 'a' }, sessionId: 's', logger, metrics });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await session.connect(serverSide);
    client = new Client({ name: 'agent', version: '1' }, { capabilities: { roots: { listChanged: true } } });
    await client.connect(clientSide);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await registry?.close();
    await sink?.close();
  });

  it('announces an upstream\'s new tool once the gateway has reloaded its list', async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first']);
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    upstreamServer.registerTool('second', { description: 'added later' }, async () => ({ content: [{ type: 'text', text: 'two' }] }));
    await changed;
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first', 'second']);
    expect(await client.callTool({ name: 'second', arguments: {} })).toEqual({ content: [{ type: 'text', text: 'two' }] });
  });

  it('passes no agent notification on to the upstream: a tools/call without an id is dropped', async () => {
    const callsBefore = upstream.toolCalls().length;
    // A tools/call without an id would reach the upstream with no decision and no ledger row.
    await client.notification({ method: 'tools/call', params: { name: 'second', arguments: {} } } as never);
    await client.notification({ method: 'notifications/vendor/heartbeat', params: { n: 1 } } as never);
    await client.notification({ method: 'notifications/roots/list_changed' });
    // A call after them reaches the upstream after anything they could have caused.
    expect(await client.callTool({ name: 'first', arguments: {} })).toEqual({ content: [{ type: 'text', text: 'one' }] });
    await new Promise((r) => setTimeout(r, 50));
    expect(forwarded).toEqual([]);
    expect(upstream.toolCalls()).toHaveLength(callsBefore + 1);
    expect(upstream.sent.filter((m) => (m as { id?: unknown }).id === undefined && m.method !== 'notifications/initialized')).toEqual([]);
    const text = (await metrics.render()).body;
    expect(text).toContain('tollgate_dropped_notifications_total{method="tools/call"} 1');
    expect(text).toContain('tollgate_dropped_notifications_total{method="other"} 1');
    // roots/list_changed is MCP's and is taken (then ignored), not counted as dropped.
    expect(text).not.toContain('method="notifications/roots/list_changed"');
  });

  it('closes the session when the agent goes away', async () => {
    let closed = false;
    session.onclose = () => {
      closed = true;
    };
    await client.close();
    expect(closed).toBe(true);
  });
});

