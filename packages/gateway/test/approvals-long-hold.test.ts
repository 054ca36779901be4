import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, approvalGatewayConfig, approvalPolicyDir, textOf } from './approvals-support.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// The SDK's default request timeout is 60 s, and progress resets it only with
// resetTimeoutOnProgress. A held call with a progress token gets notifications/progress every
// progress_interval, so a client that resets its timeout waits past those 60 s for a human.

describe('a held call outlives the SDK client\'s default 60 s timeout', () => {
  let db: TestDatabase;
  let policies: Awaited<ReturnType<typeof approvalPolicyDir>>;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    policies = await approvalPolicyDir();
    gateway = await startGatewayProcess('http', approvalGatewayConfig(policies.dir, { database_url: db.url, migrate: true }, { progress_interval: '10s' }));
  }, 90_000);

  afterAll(async () => {
    await gateway?.stop();
    await policies?.remove();
    await db?.drop();
  }, 60_000);

  it('runs once approved 62 s after it was made, with the default timeout and resetTimeoutOnProgress', async () => {
    const client = gateway.client;
    const placed = await client.callTool({ name: 'create_spot_limit_order', arguments: { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price: 10 } });
    const cancel = { exchange_id: 'binance', id: (JSON.parse(textOf(placed as CallToolResult)) as { id: string }).id, symbol: 'SOL/USDT' };
    const progress: number[] = [];
    const t0 = Date.now();
    // No `timeout`: the SDK's default (60 s) applies.
    const held = client.request({ method: 'tools/call', params: { name: 'cancel_order', arguments: cancel } }, CallToolResultSchema, {
      resetTimeoutOnProgress: true,
      onprogress: () => progress.push(Date.now() - t0),
    });
    const admin = adminApi(await gateway.adminUrl());
    const request = await admin.awaitPending('cancel_order', [], cancel);
    await new Promise((r) => setTimeout(r, 62_000 - (Date.now() - t0)));
    expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
    const result = (await held) as CallToolResult;
    expect(Date.now() - t0).toBeGreaterThan(62_000);
    expect(textOf(result)).toContain('canceled by user');
    expect(progress.length).toBeGreaterThanOrEqual(6);
  }, 120_000);
});
