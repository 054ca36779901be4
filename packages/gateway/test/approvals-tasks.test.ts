import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, ElicitRequestSchema, type CallToolResult, type ElicitRequest } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, approvalGatewayConfig, approvalPolicyDir, callTool, refusalOf, textOf } from './approvals-support.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { DOWNSTREAM_TRANSPORTS, startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// Clients that can wait properly: a task-augmented tools/call (MCP Tasks, 2025-11-25) is answered
// at once with a task that follows the approval; and a rule that lets the agent's own user
// decide asks them in-band (MCP elicitation), recording their answer as user:<agent id>.

for (const transport of DOWNSTREAM_TRANSPORTS) {
  describe(`tasks and elicitation over ${transport}`, () => {
    let db: TestDatabase;
    let policies: Awaited<ReturnType<typeof approvalPolicyDir>>;
    let gateway: GatewayProcess;
    let client: Client;
    let admin: ReturnType<typeof adminApi>;
    const asked: ElicitRequest['params'][] = [];
    let answer: { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> } = { action: 'accept', content: { approve: true } };
    let price = 20;

    beforeAll(async () => {
      db = await createTestDatabase();
      policies = await approvalPolicyDir();
      gateway = await startGatewayProcess(transport, approvalGatewayConfig(policies.dir, { database_url: db.url, migrate: true, await_outcome: true }), {
        capabilities: { elicitation: { form: {} } },
        setup: (c) =>
          c.setRequestHandler(ElicitRequestSchema, async (request) => {
            asked.push(request.params);
            return answer;
          }),
      });
      client = gateway.client;
      admin = adminApi(await gateway.adminUrl());
    }, 90_000);

    afterAll(async () => {
      await gateway?.stop();
      await policies?.remove();
      await db?.drop();
    }, 60_000);

    const restingOrder = async (): Promise<Record<string, unknown>> => {
      price -= 1;
      const id = (JSON.parse(textOf(await callTool(client, 'create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price }))) as { id: string }).id;
      return { exchange_id: 'binance', id, symbol: 'SOL/USDT' };
    };

    it('advertises every tool as optionally callable as a task, never required', async () => {
      const { tools } = await client.listTools();
      expect(tools.length).toBeGreaterThan(10);
      expect(tools.every((t) => t.execution?.taskSupport === 'optional')).toBe(true);
      expect(client.getServerCapabilities()?.tasks).toMatchObject({ requests: { tools: { call: {} } } });
    });

    it('a task-augmented call is answered at once; tasks/get shows the approval it awaits; tasks/result follows the grant', async () => {
      const cancel = await restingOrder();
      const stream = client.experimental.tasks.callToolStream({ name: 'cancel_order', arguments: cancel }, CallToolResultSchema, { task: { ttl: 120_000 } });
      const first = await stream.next();
      expect(first.value).toMatchObject({ type: 'taskCreated', task: { status: 'working' } });
      const taskId = (first.value as { task: { taskId: string } }).task.taskId;
      const request = await admin.awaitPending('cancel_order', [], cancel);
      // The task names the approval it waits for.
      let status = await client.experimental.tasks.getTask(taskId);
      for (let i = 0; i < 40 && !status.statusMessage; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = await client.experimental.tasks.getTask(taskId);
      }
      expect(status).toMatchObject({ status: 'working', statusMessage: `awaiting approval ${request.id} until ${request.expires_at}` });
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
      let result: CallToolResult | undefined;
      for await (const message of stream) if (message.type === 'result') result = message.result as CallToolResult;
      expect(textOf(result!)).toContain('canceled by user');
      expect((await client.experimental.tasks.getTask(taskId)).status).toBe('completed');
      expect(textOf((await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult)).toContain('canceled by user');
    });

    it('a task whose call is refused completes with the refusal as its result', async () => {
      const stream = client.experimental.tasks.callToolStream({ name: 'fetch_order_history', arguments: { exchange_id: 'kraken' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      let result: CallToolResult | undefined;
      for await (const message of stream) if (message.type === 'result') result = message.result as CallToolResult;
      // fetch_order_history's approvals expire after 2 s.
      expect(refusalOf(result!)).toMatchObject({ code: 'approval.expired' });
    });

    it('the agent\'s own user approves in-band: the answer is recorded as user:<agent id> and the call runs', async () => {
      asked.length = 0;
      answer = { action: 'accept', content: { approve: true, reason: 'yes, that is my account' } };
      const ran = await callTool(client, 'fetch_my_trade_history', { exchange_id: 'binance' });
      expect(refusalOf(ran)).toBeUndefined();
      expect(asked).toHaveLength(1);
      expect(asked[0]!.message).toContain('asks to call fetch_my_trade_history on ccxt');
      expect(asked[0]).toMatchObject({ mode: 'form', requestedSchema: { required: ['approve'] } });
      const votes = await db.query<{ approver: string; reason: string }>("SELECT approver, reason FROM ledger_events WHERE event_type = 'approval.granted' AND tool = 'fetch_my_trade_history'");
      expect(votes).toEqual([{ approver: 'user:agent-7', reason: 'yes, that is my account' }]);
    });

    it('the user declining denies the call; a user who does not answer leaves it to the configured approvers', async () => {
      answer = { action: 'decline' };
      const denied = await callTool(client, 'fetch_my_trade_history', { exchange_id: 'kraken' });
      expect(refusalOf(denied)).toMatchObject({ code: 'approval.denied' });
      expect(textOf(denied)).toContain("denied by user:agent-7: declined by the agent's user");

      answer = { action: 'cancel' };
      const held = callTool(client, 'fetch_my_trade_history', { exchange_id: 'coinbase' });
      const request = await admin.awaitPending('fetch_my_trade_history', [], { exchange_id: 'coinbase' });
      expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
      expect(refusalOf(await held)).toBeUndefined();
    });

    it('elicitation is used only where the rule names the user', async () => {
      asked.length = 0;
      const cancel = await restingOrder();
      const held = callTool(client, 'cancel_order', cancel);
      const request = await admin.awaitPending('cancel_order', [], cancel);
      expect((await admin.vote(request.id, 'alice', 'deny')).status).toBe(200);
      expect(refusalOf(await held)).toMatchObject({ code: 'approval.denied' });
      expect(asked).toHaveLength(0);
    });
  });
}
