import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { startDemoExchangeHttp, type DemoExchangeHttp } from '@tollgate/demo-exchange';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

const TOKEN = 'shadow-mode';

// `ccxt`: default allow, with a new restriction tried in shadow on market orders, and a
// would-be hiding of withdrawals. `paper`: a whole policy in shadow (default deny, hides
// withdrawals) that enforces nothing yet.
const CCXT_POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    create_spot_market_order: {
      shadow: true,
      deny_if: [{ id: 'market-order-cap', conditions: [{ path: 'args.amount', op: 'gt', value: 1 }], on_deny: 'Market orders above 1 are refused.' }],
    },
    withdraw_cryptocurrency: { shadow: true, action: 'hide' },
    cancel_order: { action: 'deny', reason: 'Cancellations are done by a human.' },
  },
};
const PAPER_POLICY = {
  version: '1',
  default: 'deny',
  shadow: true,
  hide: ['withdraw_cryptocurrency'],
  tools: { fetch_account_balance: {} },
};

interface DecisionRow {
  call_id: string;
  server: string;
  tool: string;
  effect: string;
  rule: string | null;
  shadow_effect: string | null;
  shadow_rule: string | null;
  detail: { shadow?: { reason: string; code: string | null } } | null;
}

describe('shadow mode in the gateway, with real upstreams and a PostgreSQL ledger', () => {
  let db: TestDatabase;
  let ccxt: DemoExchangeHttp;
  let paper: DemoExchangeHttp;
  let gateway: RunningGateway;
  let client: Client;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    ccxt = await startDemoExchangeHttp({ port: 0 });
    paper = await startDemoExchangeHttp({ port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'tollgate-shadow-'));
    for (const [server, policy] of [['ccxt', CCXT_POLICY], ['paper', PAPER_POLICY]] as const) {
      mkdirSync(join(dir, 'policies', server), { recursive: true });
      writeFileSync(join(dir, 'policies', server, 'policy.json'), JSON.stringify(policy, null, 2));
    }
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'desk-bot', token_sha256: sha256Hex(TOKEN) }],
        upstreams: { ccxt: { url: ccxt.url }, paper: { url: paper.url } },
        policy: { dir: 'policies' },
        ledger: { database_url: db.url, migrate: true, await_outcome: true },
        limits: { store: 'memory' },
      }),
      join(dir, 'gateway.json'),
    );
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    client = new Client({ name: 'shadow', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    await ccxt?.close();
    await paper?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const call = (name: string, args: Record<string, unknown>) => client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema);
  const decisionOf = async (callId: string): Promise<DecisionRow> => {
    const rows = await db.query<DecisionRow>(
      "SELECT call_id, server, tool, effect, rule, shadow_effect, shadow_rule, detail FROM ledger_events WHERE event_type = 'decision' AND call_id = $1",
      [callId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  };
  const callIdOf = async (server: string, tool: string): Promise<string> => {
    const rows = await db.query<{ call_id: string }>(
      "SELECT call_id FROM ledger_events WHERE event_type = 'decision' AND server = $1 AND tool = $2 ORDER BY occurred_at DESC, seq DESC LIMIT 1",
      [server, tool],
    );
    return rows[0]!.call_id;
  };

  it('forwards a call a tool rule in shadow would deny, and records the would-be denial', async () => {
    const before = ccxt.exchange.fetchBalance('binance');
    const order = await call('ccxt__create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 2 });
    expect(order.isError).toBeFalsy();
    // The order really reached the exchange.
    expect(ccxt.exchange.fetchBalance('binance')).not.toEqual({ ...before, timestamp: expect.any(Number), datetime: expect.any(String) });
    const row = await decisionOf(await callIdOf('ccxt', 'create_spot_market_order'));
    expect(row).toMatchObject({ effect: 'allow', rule: 'default', shadow_effect: 'deny', shadow_rule: 'market-order-cap' });
    expect(row.detail?.shadow).toEqual({ reason: 'Market orders above 1 are refused.', code: 'policy.denied' });
    const outcomes = await db.query<{ outcome_status: string }>("SELECT outcome_status FROM ledger_events WHERE event_type = 'outcome' AND call_id = $1", [row.call_id]);
    expect(outcomes).toEqual([{ outcome_status: 'ok' }]);
  });

  it('records the would-be allow of a call under the cap', async () => {
    const order = await call('ccxt__create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.5 });
    expect(order.isError).toBeFalsy();
    const row = await decisionOf(await callIdOf('ccxt', 'create_spot_market_order'));
    expect(row).toMatchObject({ effect: 'allow', rule: 'default', shadow_effect: 'allow', shadow_rule: null });
  });

  it('leaves enforced rules enforced, with no shadow decision on their events', async () => {
    const cancel = await call('ccxt__cancel_order', { exchange_id: 'binance', id: '1' });
    expect(cancel.isError).toBe(true);
    expect(cancel.structuredContent).toMatchObject({ code: 'policy.denied', rule: 'tools.cancel_order.action' });
    const row = await decisionOf((cancel.structuredContent as { decision_id: string }).decision_id);
    expect(row).toMatchObject({ effect: 'deny', shadow_effect: null, shadow_rule: null });
  });

  it('tools/list follows the enforced decision: a would-be hidden tool and a policy in shadow list their tools', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('ccxt__withdraw_cryptocurrency');
    expect(names).not.toContain('ccxt__cancel_order');
    expect(names).toContain('paper__withdraw_cryptocurrency');
    expect(names).toContain('paper__create_spot_market_order');
  });

  it('a policy in shadow forwards what it would deny or hide, and records it', async () => {
    const order = await call('paper__create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 1 });
    expect(order.isError).toBeFalsy();
    expect(await decisionOf(await callIdOf('paper', 'create_spot_market_order'))).toMatchObject({ effect: 'allow', rule: null, shadow_effect: 'deny', shadow_rule: 'default' });
    // Hidden by the policy's rules, yet a known tool that is forwarded to the exchange.
    await call('paper__withdraw_cryptocurrency', { exchange_id: 'binance', code: 'USDT', amount: 1, address: 'TXYZ' });
    const withdrawal = await decisionOf(await callIdOf('paper', 'withdraw_cryptocurrency'));
    expect(withdrawal).toMatchObject({ effect: 'allow', shadow_effect: 'hidden', shadow_rule: 'hide' });
    const outcomes = await db.query<{ outcome_status: string }>("SELECT outcome_status FROM ledger_events WHERE event_type = 'outcome' AND call_id = $1", [withdrawal.call_id]);
    expect(outcomes).toEqual([{ outcome_status: 'ok' }]);
  });

  it('the ledger with shadow decisions verifies', async () => {
    const { connectLedger, verifyLedger } = await import('@tollgate/ledger');
    const connection = await connectLedger({ databaseUrl: db.url });
    try {
      const report = await verifyLedger(connection);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await connection.close();
    }
  });
});
