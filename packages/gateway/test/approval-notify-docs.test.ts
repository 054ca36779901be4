import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalBody } from '../src/admin/approvals-api.js';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

// docs/approvals.md, "Notifications", is known to work: its configuration example loads, and its
// webhook receiver — run as written — accepts the gateway's notifications and refuses forged,
// stale and repeated ones.

const SECRET = 'whsec-docs-receiver-0123456789';
const AGENT_TOKEN = 'docs-agent-token';
const ADMIN_TOKEN = 'docs-admin-token';

/** The fenced block that follows `<!-- <marker>` in docs/approvals.md. */
async function docsBlock(marker: string): Promise<string> {
  const text = await readFile(join(ROOT, 'docs/approvals.md'), 'utf8');
  const start = text.indexOf(`<!-- ${marker}`);
  expect(start).toBeGreaterThanOrEqual(0);
  const block = /```[a-z]*\n([\s\S]*?)\n```/.exec(text.slice(start));
  return block![1]!;
}

describe('docs/approvals.md, Notifications', () => {
  let dir: string;
  let receiver: ChildProcess;
  let port: number;
  const printed: string[] = [];
  let db: TestDatabase;
  let upstream: RecordingUpstream;
  let gateway: RunningGateway;
  let client: Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-docs-receiver-'));
    await writeFile(join(dir, 'receiver.mjs'), await docsBlock('receiver.mjs'));
    receiver = spawn(process.execPath, [join(dir, 'receiver.mjs')], { env: { ...process.env, TOLLGATE_WEBHOOK_SECRET: SECRET, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the receiver did not start: ${printed.join('\n')}`)), 10_000);
      createInterface({ input: receiver.stdout! }).on('line', (line) => {
        printed.push(line);
        const m = /^listening on (\d+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    db = await createTestDatabase();
    upstream = await recordingUpstream('rec');
    await writeFile(join(upstream.policyDir, 'rec', 'policy.json'), JSON.stringify({ version: '1', default: 'allow', tools: { echo: { action: 'approve', reason: 'Echo needs a human.' } } }));
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'agent-7', token_sha256: sha256Hex(AGENT_TOKEN) }],
        upstreams: { rec: upstream.config },
        policy: { dir: upstream.policyDir },
        ledger: { database_url: db.url, migrate: true },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
        approvals: { mode: 'retry', console_url: 'https://tollgate.example.com', notify: [{ id: 'docs', url: `http://127.0.0.1:${port}/`, secret: SECRET }] },
      }),
      join(ROOT, 'gateway.json'),
    );
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    client = new Client({ name: 'docs-test', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    receiver?.kill();
    await upstream?.cleanup();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('loads the configuration example as written', async () => {
    const yaml = await docsBlock('notify-config');
    await writeFile(join(dir, 'tollgate-webhook.secret'), `${SECRET}\n`);
    const config = parseGatewayConfig(
      `listen: { stdio: true }\nagent: { id: desk-bot }\nupstreams: { ccxt: { command: node } }\npolicy: { dir: policies }\n${yaml}\n`,
      join(dir, 'gateway.yaml'),
    );
    expect(config.approvals.notify.map((r) => [r.id, r.format, r.events, r.secret])).toEqual([
      ['ops', 'json', ['requested', 'granted', 'denied', 'expired'], SECRET],
      ['desk-channel', 'slack', ['requested', 'granted', 'denied'], undefined],
    ]);
    expect(config.approvals.consoleUrl).toBe('https://tollgate.example.com');
  });

  it("the example receiver takes the gateway's notification, and refuses forged, stale and repeated ones", async () => {
    const answer = await client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'docs' } } }, CallToolResultSchema);
    const id = (answer.structuredContent as { approval_id: string }).approval_id;
    const line = `approval.requested rec/echo ${id} https://tollgate.example.com/console#${id}`;
    for (let i = 0; i < 200 && !printed.includes(line); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(printed).toContain(line);
    const shown = (await (await fetch(`${gateway.admin!.url}/approvals/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as ApprovalBody;
    expect(shown.deliveries!.map((d) => [d.status, d.attempts.map((a) => a.status_code)])).toEqual([['delivered', [204]]]);

    // What an attacker can send without the secret, or with a captured notification.
    const body = JSON.stringify({ event: 'approval.granted', approval: { server: 'rec', tool: 'echo', id: 'forged' } });
    const sign = (t: number, key = SECRET) => `t=${t},v1=${createHmac('sha256', key).update(`${t}.${body}`).digest('hex')}`;
    const post = async (signature: string, delivery: string) =>
      (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'x-tollgate-signature': signature, 'x-tollgate-delivery': delivery }, body })).status;
    const now = Math.floor(Date.now() / 1000);
    expect(await post(sign(now, 'not-the-secret-at-all'), 'd-1')).toBe(401);
    expect(await post(sign(now - 600), 'd-2')).toBe(401);
    expect(await post(`t=${now},v1=`, 'd-3')).toBe(401);
    expect(await post('', 'd-4')).toBe(401);
    // Signed right, twice: handled once.
    expect(await post(sign(now), 'd-5')).toBe(204);
    expect(await post(sign(now), 'd-5')).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(printed.filter((l) => l.startsWith('approval.granted rec/echo forged'))).toHaveLength(1);
    expect(printed.filter((l) => l.startsWith('approval.'))).toHaveLength(2);
  });
});
