import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { StdioUpstream } from '../src/upstream/stdio-upstream.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, demoExchangeStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

const ADMIN_TOKEN = 'admin-secret';
const AGENT_TOKEN = 'agent-secret';

describe('admin API and metrics', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  let client: Client;
  let admin: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const upstream = demoExchangeStdio('ccxt');
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN), labels: { team: 'desk' } }],
        upstreams: { ccxt: { command: upstream.command, args: upstream.args } },
        policy: { dir: 'policies' },
        ledger: { database_url: db.url, migrate: true },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      }),
      `${ROOT}/gateway.json`,
    );
    expect(config.limits.store).toBe('postgres');
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    admin = gateway.admin!.url;
    client = new Client({ name: 'admin-test', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    await db?.drop();
  });

  const get = (path: string, token?: string) => fetch(`${admin}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it('answers health and readiness without a token', async () => {
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', reasons: [], in_flight: 0 });
  });

  it('shows the active policy revision to the admin token only', async () => {
    expect((await get('/policy')).status).toBe(401);
    expect((await get('/policy', AGENT_TOKEN)).status).toBe(401);
    const body = (await (await get('/policy', ADMIN_TOKEN)).json()) as { policies: Array<Record<string, unknown>> };
    expect(body.policies).toHaveLength(1);
    expect(body.policies[0]).toMatchObject({ server: 'ccxt', revision: null, source: `${ROOT}/policies/ccxt/policy.json` });
    expect(body.policies[0]!.digest).toMatch(/^[0-9a-f]{64}$/);
    expect((await get('/nope', ADMIN_TOKEN)).status).toBe(404);
    expect((await fetch(`${admin}/policy`, { method: 'POST' })).status).toBe(405);
  });

  it('exports Prometheus metrics of decisions, latencies and ledger batches', async () => {
    await client.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } });
    await client.callTool({ name: 'create_spot_market_order', arguments: { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 9 } });
    expect((await get('/metrics')).status).toBe(401);
    const res = await get('/metrics', ADMIN_TOKEN);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('tollgate_decisions_total{server="ccxt",tool="fetch_account_balance",effect="allow",code=""} 1');
    expect(text).toContain('tollgate_decisions_total{server="ccxt",tool="create_spot_market_order",effect="deny",code="policy.denied"} 1');
    expect(text).toMatch(/tollgate_decision_duration_seconds_count\{effect="allow"\} 1/);
    expect(text).toMatch(/tollgate_upstream_duration_seconds_count\{server="ccxt",status="ok"\} 1/);
    expect(text).toMatch(/tollgate_ledger_batch_size_count [1-9]/);
    expect(text).toMatch(/tollgate_ledger_commit_duration_seconds_count [1-9]/);
    expect(text).toMatch(/tollgate_sessions\{transport="http"\} 1/);
  });

  it('reports not ready while an upstream is down', async () => {
    const upstream = gateway.registry.upstreams[0] as StdioUpstream;
    process.kill(upstream.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && upstream.connected; i++) await new Promise((r) => setTimeout(r, 20));
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not ready', reasons: ['upstream "ccxt" is not connected'] });
    // The next call brings it back.
    const result = await client.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } });
    expect(result.isError).toBeFalsy();
    expect((await get('/readyz')).status).toBe(200);
  }, 30_000);
});
