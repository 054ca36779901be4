import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { startDemoExchangeHttp, type DemoExchangeHttp } from '@tollgate/demo-exchange';
import { parseGatewayConfig, startGateway, type RunningGateway, type StdioUpstream } from '@tollgate/gateway';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../packages/gateway/test/database.js';
import { configuredServices } from '../packages/gateway/test/gateway-services.js';
import { ROOT, everythingEntry, testLogger } from '../packages/gateway/test/fixtures.js';

// One gateway in front of two upstreams: the demo exchange over Streamable HTTP and
// server-everything over stdio, with prefixed tool names, the PostgreSQL ledger, and the
// failures the gateway must survive: an upstream dying mid-call, the ledger going away.
const TOKEN = 'two-upstreams';

describe('gateway with two upstreams', () => {
  let db: TestDatabase;
  let exchange: DemoExchangeHttp;
  let gateway: RunningGateway;
  let client: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    exchange = await startDemoExchangeHttp({ port: 0 });
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'desk-bot', token_sha256: sha256Hex(TOKEN), labels: { team: 'desk' } }],
        upstreams: {
          ccxt: { url: exchange.url },
          everything: { command: process.execPath, args: [everythingEntry(), 'stdio'] },
        },
        policy: { dir: 'policies' },
        ledger: { database_url: db.url, migrate: true, await_outcome: true },
        limits: { store: 'memory' },
      }),
      join(ROOT, 'gateway.json'),
    );
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    client = new Client({ name: 'e2e', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    await exchange?.close();
    await db?.drop();
  }, 30_000);

  const call = (name: string, args: Record<string, unknown>) => client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema);

  it('lists both upstreams\' tools with <server>__ prefixes and routes calls by them', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('ccxt__fetch_account_balance');
    expect(names).toContain('everything__echo');
    expect(names).not.toContain('ccxt__set_trading_leverage');
    expect(names).not.toContain('everything__get-env');
    expect(names.every((n) => n.startsWith('ccxt__') || n.startsWith('everything__'))).toBe(true);
    expect(await call('everything__echo', { message: 'hi' })).toEqual({ content: [{ type: 'text', text: 'Echo: hi' }] });
    const balance = await call('ccxt__fetch_account_balance', { exchange_id: 'kraken' });
    expect(balance.isError).toBeFalsy();
    expect((balance.content[0] as { text: string }).text).toContain('"SOL"');
    const hidden = await call('ccxt__set_trading_leverage', {}).then(() => undefined, (e: unknown) => e as { code: number });
    expect(hidden?.code).toBe(-32602);
    // The hidden call's decision is recorded without holding up its answer: wait for it.
    let rows: Array<{ server: string; tool: string; effect: string }> = [];
    for (let i = 0; i < 100 && rows.length < 3; i++) {
      rows = await db.query("SELECT server, tool, effect FROM ledger_events WHERE event_type = 'decision' ORDER BY seq");
      if (rows.length < 3) await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows).toEqual([
      { server: 'everything', tool: 'echo', effect: 'allow' },
      { server: 'ccxt', tool: 'fetch_account_balance', effect: 'allow' },
      { server: 'ccxt', tool: 'set_trading_leverage', effect: 'hidden' },
    ]);
    // Prompts of the one upstream that has them carry its prefix too.
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toContain('everything__simple-prompt');
    expect((await client.getPrompt({ name: 'everything__simple-prompt' })).messages.length).toBeGreaterThan(0);
  });

  it('answers an upstream that dies mid-call with an error result and records the outcome', async () => {
    const everything = gateway.registry.upstream('everything') as StdioUpstream;
    const pending = call('everything__trigger-long-running-operation', { duration: 5, steps: 5 });
    await new Promise((r) => setTimeout(r, 500));
    process.kill(everything.pid!, 'SIGKILL');
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ code: 'upstream.unavailable' });
    const callId = (result.structuredContent as { decision_id: string }).decision_id;
    const rows = await db.query<{ event_type: string; effect: string | null; outcome_status: string | null; reason: string | null }>(
      'SELECT event_type, effect, outcome_status, reason FROM ledger_events WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    expect(rows.map((r) => [r.event_type, r.effect, r.outcome_status])).toEqual([
      ['decision', 'allow', null],
      ['outcome', null, 'error'],
    ]);
    expect(rows[1]!.reason).toMatch(/closed the connection/);
    // The next call restarts the server.
    expect(await call('everything__echo', { message: 'back' })).toEqual({ content: [{ type: 'text', text: 'Echo: back' }] });
  }, 30_000);

  it('forwards nothing while the ledger cannot record decisions', async () => {
    const before = exchange.exchange.fetchBalance('binance');
    await db.block();
    try {
      const order = await call('ccxt__create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 1 });
      expect(order.isError).toBe(true);
      expect(order.structuredContent).toMatchObject({ code: 'ledger.unavailable' });
      expect(order.content).toEqual([{ type: 'text', text: '[GATEWAY ERROR] the ledger could not record the decision, so the call was not forwarded' }]);
      expect(exchange.exchange.fetchBalance('binance')).toEqual({ ...before, timestamp: expect.any(Number), datetime: expect.any(String) });
    } finally {
      await db.unblock();
    }
    // Once the database is back, calls are recorded and forwarded again.
    const order = await call('ccxt__create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 1 });
    expect(order.isError).toBeFalsy();
    expect((exchange.exchange.fetchBalance('binance') as { SOL: { total: number } }).SOL.total).toBeGreaterThan((before as { SOL: { total: number } }).SOL.total);
  }, 60_000);
});
