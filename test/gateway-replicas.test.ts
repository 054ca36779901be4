import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../packages/gateway/test/database.js';
import { ROOT, demoExchangeStdio } from '../packages/gateway/test/fixtures.js';
import { startGatewayProcess, type GatewayProcess } from '../packages/gateway/test/gateway-harness.js';

// Two gateway processes (replicas behind one load balancer) share one PostgreSQL: the ledger
// (one strand each) and the limit counters. A global limit must hold across both.
const MAX = 25;
const CALLS_PER_REPLICA = 40;

describe('gateway replicas sharing PostgreSQL', () => {
  let db: TestDatabase;
  let dir: string;
  const replicas: GatewayProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-replicas-'));
    await mkdir(join(dir, 'ccxt'));
    await writeFile(
      join(dir, 'ccxt/policy.json'),
      JSON.stringify({
        version: '1',
        default: 'deny',
        tools: { fetch_account_balance: { limits: [{ counter: 'shared-reads', max: MAX, window: 'day', scope: 'global' }] } },
      }),
    );
    const upstream = demoExchangeStdio('ccxt');
    const config = {
      upstreams: { ccxt: { command: upstream.command, args: upstream.args, cwd: ROOT } },
      policy: { dir },
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'postgres' },
    };
    // One after the other, so the two do not race to migrate the fresh database.
    replicas.push(await startGatewayProcess('http', config));
    replicas.push(await startGatewayProcess('http', config));
  }, 120_000);

  afterAll(async () => {
    const codes: Array<number | null> = [];
    try {
      for (const r of replicas) codes.push(await r.stop());
    } finally {
      await rm(dir, { recursive: true, force: true });
      await db?.drop();
    }
    expect(codes.every((c) => c === 0)).toBe(true);
  }, 60_000);

  it(`never admits more than the limit's max (${MAX}) between them`, async () => {
    const extra = await Promise.all(replicas.map((r) => r.connectAnother()));
    const clients = [...replicas.map((r) => r.client), ...extra];
    const results = await Promise.all(
      Array.from({ length: CALLS_PER_REPLICA * 2 }, (_, i) =>
        clients[i % clients.length]!.request({ method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } } }, CallToolResultSchema),
      ),
    );
    const admitted = results.filter((r) => !r.isError);
    const limited = results.filter((r) => r.isError && (r.structuredContent as { code?: string } | undefined)?.code === 'rate_limited');
    expect(admitted).toHaveLength(MAX);
    expect(limited).toHaveLength(CALLS_PER_REPLICA * 2 - MAX);
    await Promise.all(extra.map((c) => c.close()));

    const strands = await db.query<{ strand_id: string; allowed: string }>(
      "SELECT strand_id, count(*) FILTER (WHERE effect = 'allow') AS allowed FROM ledger_events WHERE event_type = 'decision' GROUP BY strand_id",
    );
    expect(strands).toHaveLength(2);
    expect(strands.reduce((sum, s) => sum + Number(s.allowed), 0)).toBe(MAX);
    const [counter] = await db.query<{ used: number }>('SELECT used FROM limit_counters');
    expect(counter?.used).toBe(MAX);
  }, 60_000);
});
