import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { openLedgerServices, type LedgerServices } from '@tollgate/ledger';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { FeedSink } from '../src/ledger/feed-sink.js';
import { DecisionFeed } from '../src/metrics/decision-feed.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, demoExchangeStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

// The console's feed sits in front of the ledger's sink. It must not cost the hot path what the
// ledger's writer saves: a decision's limit counters commit in the decision's own transaction,
// and an outcome nobody waits for rides with the next commit. Both show in PostgreSQL's xmin
// (the transaction that wrote a row).

const AGENT_TOKEN = 'agent-secret';

describe('the decision feed in front of the ledger (PostgreSQL)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  }, 60_000);

  afterAll(async () => {
    await db?.drop();
  });

  describe('a gateway with limit counters in PostgreSQL', () => {
    let gateway: RunningGateway;
    let client: Client;

    beforeAll(async () => {
      const upstream = demoExchangeStdio('ccxt');
      const config = parseGatewayConfig(
        JSON.stringify({
          listen: { http: { port: 0 } },
          agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
          upstreams: { ccxt: { command: upstream.command, args: upstream.args } },
          policy: { dir: 'policies' },
          ledger: { database_url: db.url, migrate: true },
          limits: { store: 'postgres' },
        }),
        `${ROOT}/gateway.json`,
      );
      gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
      client = new Client({ name: 'feed-sink-test', version: '1' }, { capabilities: {} });
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
    }, 60_000);

    afterAll(async () => {
      await client?.close();
      await gateway?.shutdown('test over');
    });

    it('counts each decision\'s limits in the transaction that records it, and the feed shows each once committed', async () => {
      for (let i = 0; i < 3; i++) {
        const result = await client.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } });
        expect(result.isError).toBeFalsy();
      }
      // policies/ccxt counts every call in the all-tools counter "ccxt-calls".
      const counters = await db.query<{ counter: string; used: number; xmin: string }>("SELECT counter_key AS counter, used, xmin::text AS xmin FROM limit_counters WHERE counter_key LIKE '%ccxt-calls%'");
      expect(counters).toHaveLength(1);
      expect(counters[0]!.used).toBe(3);
      const decisions = await db.query<{ xmin: string }>("SELECT xmin::text AS xmin FROM ledger_events WHERE event_type = 'decision' ORDER BY seq");
      expect(decisions).toHaveLength(3);
      // The counter row was last written by the transaction that recorded the last decision.
      expect(counters[0]!.xmin).toBe(decisions.at(-1)!.xmin);
      expect(gateway.decisions.recent().filter((d) => d.tool === 'fetch_account_balance')).toHaveLength(3);
    });
  });

  describe('FeedSink over the ledger\'s writer', () => {
    let services: LedgerServices;

    beforeAll(async () => {
      // A deferred event waits up to a second for company: only the next awaited event sends it.
      services = await openLedgerServices({ databaseUrl: db.url, migrate: true, limits: 'postgres', maxDeferMs: 1000, label: 'feed-sink-test' });
    }, 60_000);

    afterAll(async () => {
      await services?.close();
    });

    it('keeps an outcome deferred until the next decision, and both commit together', async () => {
      const feed = new DecisionFeed();
      const sink = new FeedSink(services.sink, feed);
      expect(sink.appendCounted).toBeTypeOf('function');
      const call = { callId: randomUUID(), agentId: 'bot', sessionId: null, server: 'ccxt', tool: 'fetch_account_balance' };
      const outcome = sink.append({ type: 'outcome', ...call, status: 'ok', durationMs: 1 }, { defer: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await db.query("SELECT 1 FROM ledger_events WHERE event_type = 'outcome' AND call_id = $1", [call.callId])).toHaveLength(0);

      const next = { ...call, callId: randomUUID() };
      await sink.append({ type: 'decision', ...next, args: { exchange_id: 'binance' }, effect: 'allow', rule: 'default', reason: 'test', policyRevision: '1', policyDigest: 'a'.repeat(64) });
      await outcome;
      const rows = await db.query<{ event_type: string; xmin: string }>('SELECT event_type, xmin::text AS xmin FROM ledger_events WHERE call_id = ANY($1::text[]) ORDER BY seq', [[call.callId, next.callId]]);
      expect(rows.map((r) => r.event_type)).toEqual(['outcome', 'decision']);
      expect(rows[0]!.xmin).toBe(rows[1]!.xmin);
      expect(feed.recent().map((d) => d.call_id)).toEqual([next.callId]);
    });
  });
});
