import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseGatewayConfig, startGateway, type ApprovalBody, type RunningGateway } from '@tollgate/gateway';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayServices } from '../src/gateway/gateway-runner.js';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE } from './mcp-servers.js';

const AGENT_TOKEN = 'show-agent-token';
const LEAD_TOKEN = 'show-lead-token';

// `tollgate approvals show` lists the webhook notifications of a request and every attempt, as
// the gateway (here on the embedded PGlite ledger) recorded them.
describe('tollgate approvals show: notifications', () => {
  let tree: TempTree;
  let gateway: RunningGateway;
  let receiver: Server;
  let client: Client;
  const seen: Array<{ delivery: string; answered: number }> = [];

  beforeAll(async () => {
    tree = await tempTree({
      'policies/ccxt/policy.json': { version: '1', default: 'deny', tools: { fetch_account_balance: { action: 'approve', reason: 'Balances need a look.' } } },
      'hook.secret': 'whsec-cli-show-0123456789\n',
    });
    // Each notification's first attempt is answered 503, the next 200.
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const delivery = String(req.headers['x-tollgate-delivery']);
        const answered = seen.some((s) => s.delivery === delivery) ? 200 : 503;
        seen.push({ delivery, answered });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
        upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE, '--stdio'] } },
        policy: { dir: 'policies' },
        ledger: { data_dir: 'ledger' },
        admin: { port: 0, token_sha256: sha256Hex('show-admin-token') },
        log: { level: 'silent' },
        approvals: {
          mode: 'retry',
          approvers: [{ id: 'desk-lead', token_sha256: sha256Hex(LEAD_TOKEN) }],
          console_url: 'https://tollgate.example.com/',
          notify: [{ id: 'ops', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret_file: 'hook.secret', events: ['requested'], backoff: '50ms' }],
        },
      }),
      join(tree.root, 'gateway.json'),
    );
    gateway = await startGateway(config, { services: gatewayServices(config) });
    client = new Client({ name: 'show-test', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    await new Promise((resolve) => receiver?.close(resolve));
    await tree?.remove();
  });

  it('prints each notification with every attempt: when, the answer or the failure, how long, which replica', async () => {
    const answer = await client.request({ method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } } }, CallToolResultSchema);
    const id = (answer.structuredContent as { approval_id: string }).approval_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    for (let i = 0; i < 200 && !seen.some((s) => s.answered === 200); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(seen.map((s) => s.answered)).toEqual([503, 200]);

    const args = ['approvals', 'show', id, '--admin-url', gateway.admin!.url, '--token', LEAD_TOKEN];
    const out = await runCli(args, tree.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(new RegExp(`  notifications ops: requested \\(json\\) — delivered \\(2 attempts\\)  delivery ${seen[0]!.delivery}\\n`));
    expect(out.stdout).toMatch(/ {18}#1 \d{4}-\d\d-\d\dT[\d:.]+Z HTTP 503 in \d+ ms by \S+\/\d+\/[0-9a-f]{8}\n/);
    expect(out.stdout).toMatch(/ {18}#2 \d{4}-\d\d-\d\dT[\d:.]+Z HTTP 200 in \d+ ms by /);

    const json = await runCli([...args, '--json'], tree.root);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as ApprovalBody;
    expect(body.deliveries).toEqual([
      expect.objectContaining({
        id: seen[0]!.delivery,
        event: 'requested',
        receiver: 'ops',
        status: 'delivered',
        attempts: [expect.objectContaining({ attempt: 1, status_code: 503, error: 'HTTP 503' }), expect.objectContaining({ attempt: 2, status_code: 200, error: null })],
      }),
    ]);
  });
});
