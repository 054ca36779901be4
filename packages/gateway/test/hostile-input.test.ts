import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, demoExchangeStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

const TOKEN = 'hostile-agent';
const LIMITS = { max_bytes: 65_536, max_depth: 16 };

function nested(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const upstream = demoExchangeStdio('ccxt');
const baseConfig = (db: TestDatabase) => ({
  upstreams: { ccxt: { command: upstream.command, args: upstream.args, cwd: ROOT } },
  policy: { dir: resolve(ROOT, 'policies') },
  ledger: { database_url: db.url, migrate: true },
  requests: LIMITS,
});

describe('hostile input over Streamable HTTP', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  beforeAll(async () => {
    db = await createTestDatabase();
    const config = parseGatewayConfig(
      JSON.stringify({ ...baseConfig(db), listen: { http: { port: 0 } }, agents: [{ id: 'bot', token_sha256: sha256Hex(TOKEN) }] }),
      join(ROOT, 'gateway.json'),
    );
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    client = new Client({ name: 'hostile', version: '1' }, { capabilities: {} });
    transport = new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } });
    await client.connect(transport);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.shutdown('test over');
    await db?.drop();
  });

  const post = (body: string | Buffer, extra: Record<string, string> = {}) =>
    fetch(gateway.http!.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-06-18',
        ...extra,
      },
      body,
    });

  it('answers malformed JSON with -32700', async () => {
    const res = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
  });

  it('refuses a body over the configured size with 413', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'x'.repeat(70_000) } } });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: -32600, message: expect.stringContaining('65536') } });
  });

  it('refuses arguments nested deeper than allowed before any decision is made', async () => {
    const res = await post(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: nested(40) } } }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ id: 3, error: { code: -32600, message: expect.stringContaining('16 levels') } });
    const rows = await db.query("SELECT 1 FROM ledger_events WHERE event_type = 'decision'");
    expect(rows).toHaveLength(0);
  });

  it('refuses something that is not JSON-RPC', async () => {
    const res = await post(JSON.stringify({ hello: 'world' }));
    expect(res.status).toBe(400);
  });

  it('follows the Streamable HTTP rules for headers, notifications, streams and sessions', async () => {
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'ping' });
    expect((await post(ping, { accept: 'application/json' })).status).toBe(406);
    expect((await post(ping, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post(ping, { 'mcp-protocol-version': '1999-01-01' })).status).toBe(400);
    const pong = await post(ping);
    expect(pong.status).toBe(200);
    expect(pong.headers.get('content-type')).toBe('application/json');
    expect(await pong.json()).toEqual({ jsonrpc: '2.0', id: 'p', result: {} });
    const batch = await post(JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'ping' }]));
    expect(await batch.json()).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }, { jsonrpc: '2.0', id: 2, result: {} }]);
    expect((await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }))).status).toBe(202);
    const again = await post(JSON.stringify({ jsonrpc: '2.0', id: 'i', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }));
    expect(again.status).toBe(400);
    // The SDK client holds the session's GET stream already: a second one is refused.
    const headers = { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream', 'mcp-session-id': transport.sessionId! };
    expect((await fetch(gateway.http!.url, { headers })).status).toBe(409);
  });

  it('ends a session on DELETE and then answers it as unknown', async () => {
    const other = new Client({ name: 'short-lived', version: '1' }, { capabilities: {} });
    const t = new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } });
    await other.connect(t);
    const id = t.sessionId!;
    const sessions = gateway.http!.sessionCount();
    await t.terminateSession();
    expect(gateway.http!.sessionCount()).toBe(sessions - 1);
    const res = await fetch(gateway.http!.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(res.status).toBe(404);
    await other.close();
  });

  it('fails closed on an over-long value matched by a regex rule, and keeps serving', async () => {
    const result = await client.callTool({ name: 'create_spot_market_order', arguments: { exchange_id: 'binance', symbol: `${'A'.repeat(20_000)}/USDT`, side: 'buy', amount: 0.1 } });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ code: 'policy.denied', rule: 'tools.create_spot_market_order.require[1]' });
    expect((await client.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } })).isError).toBeFalsy();
  });
});

describe('hostile input over stdio', () => {
  let db: TestDatabase;
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  const responses: Array<Record<string, unknown>> = [];
  let waiters: Array<() => void> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-hostile-'));
    const file = join(dir, 'gateway.json');
    await writeFile(file, JSON.stringify({ ...baseConfig(db), listen: { stdio: true }, agent: { id: 'stdio-bot' } }));
    child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'packages/gateway/test/gateway-process.ts'), file], { cwd: ROOT, stdio: 'pipe' });
    child.stderr.resume();
    child.once('exit', () => {
      for (const w of waiters.splice(0)) w();
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      responses.push(JSON.parse(line) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    });
    await exchange({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  }, 60_000);

  afterAll(async () => {
    child?.stdin.end();
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  async function next(): Promise<Record<string, unknown>> {
    if (responses.length === 0) await new Promise<void>((r) => waiters.push(r));
    const response = responses.shift();
    if (!response) throw new Error(`the gateway exited with ${child.exitCode}`);
    return response;
  }

  async function exchange(message: unknown): Promise<Record<string, unknown>> {
    child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
    return next();
  }

  it('answers each bad line with a JSON-RPC error and carries on', async () => {
    expect(await exchange('this is not json')).toMatchObject({ id: null, error: { code: -32700 } });
    expect(await exchange('x'.repeat(70_000))).toMatchObject({ id: null, error: { code: -32600, message: expect.stringContaining('65536 allowed') } });
    expect(await exchange({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'fetch_account_balance', arguments: nested(40) } })).toMatchObject({
      id: 7,
      error: { code: -32600, message: expect.stringContaining('16 levels') },
    });
    expect(await exchange({ id: 8, method: 'tools/list' })).toMatchObject({ id: 8, error: { code: -32600 } });
    expect(await exchange({ jsonrpc: '2.0', id: 9, method: 'no/such/method' })).toMatchObject({ id: 9, error: { code: -32601 } });
    const ok = await exchange({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } } });
    expect(ok).toMatchObject({ id: 10, result: { content: [{ type: 'text' }] } });
    expect(child.exitCode).toBeNull();
  });
});
