import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

const TOKEN_A = 'connection-limits-agent-a';
const TOKEN_B = 'connection-limits-agent-b';
const AGENTS = [
  { id: 'agent-a', token_sha256: sha256Hex(TOKEN_A) },
  { id: 'agent-b', token_sha256: sha256Hex(TOKEN_B) },
];

/** A raw TCP connection to the gateway: what it was sent back, and when the gateway closed it. */
interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with the milliseconds from opening to the connection closing. */
  readonly closed: Promise<number>;
  isClosed(): boolean;
}

function open(port: number, payload?: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', () => undefined);
    const closed = new Promise<number>((r) =>
      socket.once('close', () => {
        done = true;
        r(Date.now() - started);
      }),
    );
    socket.once('connect', () => {
      if (payload !== undefined) socket.write(payload);
      resolve({ socket, received: () => data, closed, isClosed: () => done });
    });
    socket.once('error', reject);
  });
}

const statusOf = (connection: RawConnection): string => connection.received().slice(0, 12);

/** An authenticated POST whose headers are complete and whose body never finishes. */
const unfinishedPost = (token?: string) =>
  `POST /mcp HTTP/1.1\r\nHost: x\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`;
/** A whole, authenticated POST the gateway answers at once (400, not JSON), keeping the connection. */
const wholePost = (token: string) => `POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\nx`;

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function settle(connections: RawConnection[]): Promise<void> {
  for (const c of connections) c.socket.destroy();
  await Promise.all(connections.map((c) => c.closed));
}

async function gatewayWith(db: TestDatabase, rec: RecordingUpstream, http: Record<string, unknown>): Promise<RunningGateway> {
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { host: '127.0.0.1', port: 0, ...http } },
      agents: AGENTS,
      upstreams: { rec: rec.config },
      policy: { dir: rec.policyDir },
      ledger: { database_url: db.url, migrate: true },
    }),
    join(ROOT, 'gateway.json'),
  );
  return startGateway(config, { logger: testLogger(), services: configuredServices(config) });
}

async function agentClient(url: string, token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'limits', version: '1' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

describe('agent HTTP connections are bounded in time, and responses are not', () => {
  // The first four tests use raw sockets of their own and run side by side.
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: RunningGateway;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    gateway = await gatewayWith(db, rec, { headers_timeout: '1s', request_timeout: '1s', idle_timeout: '1s', max_sessions_per_agent: 2 });
    port = gateway.http!.port;
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await rec?.cleanup();
    await db?.drop();
  });

  it.concurrent('closes a connection at once after refusing a request whose body it did not read', async () => {
    const unauthenticated = await open(port, unfinishedPost());
    const wrongPath = await open(port, unfinishedPost(TOKEN_A).replace('POST /mcp', 'POST /elsewhere'));
    const badOrigin = await open(port, unfinishedPost(TOKEN_A).replace('Host: x\r\n', 'Host: x\r\nOrigin: http://evil.example\r\n'));
    for (const [c, status] of [
      [unauthenticated, 'HTTP/1.1 401'],
      [wrongPath, 'HTTP/1.1 404'],
      [badOrigin, 'HTTP/1.1 403'],
    ] as const) {
      // Well before headers_timeout or request_timeout could have done it.
      expect(await c.closed).toBeLessThan(500);
      expect(statusOf(c)).toBe(status);
      expect(c.received()).toMatch(/\r\nconnection: close\r\n/i);
    }
  });

  it.concurrent('closes a connection whose headers do not arrive within headers_timeout', async () => {
    const silent = await open(port);
    const slow = await open(port, 'POST /mcp HTTP/1.1\r\nHost: x\r\n');
    for (const c of [silent, slow]) {
      const after = await c.closed;
      expect(after).toBeGreaterThanOrEqual(900);
      expect(after).toBeLessThan(3000);
      expect(statusOf(c)).toBe('HTTP/1.1 408');
    }
  });

  it.concurrent('closes an authenticated request whose body does not arrive within request_timeout', async () => {
    const c = await open(port, unfinishedPost(TOKEN_A));
    const after = await c.closed;
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(3000);
    expect(statusOf(c)).toBe('HTTP/1.1 408');
  });

  it.concurrent('closes a keep-alive connection that waits longer than idle_timeout for its next request', async () => {
    const c = await open(port, wholePost(TOKEN_A));
    await until(() => c.received().includes('Parse error'), 'the answer');
    expect(statusOf(c)).toBe('HTTP/1.1 400');
    expect(c.received()).not.toMatch(/connection: close/i);
    const after = await c.closed;
    // Node adds up to a second to the keep-alive timeout.
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(3500);
  });

  it('lets a tool call that runs longer than every timeout finish, over JSON and over an SSE stream', async () => {
    const { client, transport } = await agentClient(gateway.http!.url, TOKEN_A);
    const before = (await rec.toolCalls()).length;
    // Silent for longer than headers_timeout, request_timeout and idle_timeout together (and Node's second).
    const [result, streamed] = await Promise.all([
      client.callTool({ name: 'slow', arguments: { ms: 3200, text: 'json' } }),
      // With a progress token the answer comes as an SSE stream.
      client.callTool({ name: 'slow', arguments: { ms: 3200, text: 'sse' } }, undefined, { onprogress: () => undefined }),
    ]);
    expect(result).toEqual({ content: [{ type: 'text', text: 'slept 3200 ms: json' }] });
    expect(streamed).toEqual({ content: [{ type: 'text', text: 'slept 3200 ms: sse' }] });
    // Each call reached the upstream once: nothing was cut off and retried.
    expect((await rec.toolCalls()).slice(before).map((c) => c.params.arguments?.text).sort()).toEqual(['json', 'sse']);
    await transport.terminateSession();
    await client.close();
  }, 20_000);

  it('keeps an idle GET SSE stream open past every timeout', async () => {
    const headers = { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await fetch(gateway.http!.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(init.status).toBe(200);
    const session = init.headers.get('mcp-session-id')!;
    await init.text();
    const sessionHeaders = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    expect((await fetch(gateway.http!.url, { method: 'POST', headers: sessionHeaders, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).status).toBe(202);
    const stream = await fetch(gateway.http!.url, { headers: { ...sessionHeaders, accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    // The upstream logs, about no request, only after the stream has idled past headers_timeout,
    // request_timeout and idle_timeout (plus Node's second): the log reaches this very stream.
    const later = await fetch(gateway.http!.url, {
      method: 'POST',
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'log-later', arguments: { ms: 3000, text: 'after the timeouts' } } }),
    });
    expect(await later.json()).toMatchObject({ id: 2, result: { content: [{ type: 'text', text: 'later' }] } });
    const started = Date.now();
    const decoder = new TextDecoder();
    let events = '';
    while (!events.includes('after the timeouts')) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`the SSE stream ended after ${Date.now() - started} ms`);
      events += decoder.decode(chunk.value);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    expect(events).toContain('"method":"notifications/message"');
    expect((await fetch(gateway.http!.url, { method: 'DELETE', headers: sessionHeaders })).status).toBe(200);
    // Ending the session ends its stream.
    expect((await reader.read()).done).toBe(true);
  }, 20_000);

  it('refuses one more session than max_sessions_per_agent allows, with a JSON-RPC error, and only for that agent', async () => {
    const first = await agentClient(gateway.http!.url, TOKEN_A);
    const second = await agentClient(gateway.http!.url, TOKEN_A);
    const refused = await fetch(gateway.http!.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'init-3', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('mcp-session-id')).toBeNull();
    expect(await refused.json()).toEqual({
      jsonrpc: '2.0',
      id: 'init-3',
      error: { code: -32000, message: expect.stringContaining('Too many sessions: agent "agent-a" already has 2 open (listen.http.max_sessions_per_agent)') },
    });
    // Another agent is not affected.
    const other = await agentClient(gateway.http!.url, TOKEN_B);
    // Ending one of agent-a's sessions makes room for a new one.
    await first.transport.terminateSession();
    await first.client.close();
    const third = await agentClient(gateway.http!.url, TOKEN_A);
    expect((await third.client.callTool({ name: 'echo', arguments: { text: 'room' } })).content).toEqual([{ type: 'text', text: 'room' }]);
    for (const c of [second, other, third]) {
      await c.transport.terminateSession();
      await c.client.close();
    }
    expect((await gateway.metrics.render()).body).toContain('tollgate_rejected_messages_total{reason="too_many_sessions"} 1');
  });
});

describe('agent HTTP connections are bounded in number', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: RunningGateway;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    gateway = await gatewayWith(db, rec, { headers_timeout: '5s', request_timeout: '5s', max_connections: 8, max_connections_per_agent: 4 });
    port = gateway.http!.port;
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await rec?.cleanup();
    await db?.drop();
  });

  const connections = () => gateway.http!.connectionCount();

  it('at max_connections, closes the longest-idle connection for a new one, or the new one when all are busy', async () => {
    const idle: RawConnection[] = [];
    for (let i = 0; i < 8; i++) idle.push(await open(port));
    await until(() => connections() === 8, '8 connections');
    const newcomer = await open(port);
    expect(await idle[0]!.closed).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 100));
    expect(idle.slice(1).every((c) => !c.isClosed())).toBe(true);
    expect(newcomer.isClosed()).toBe(false);
    expect(connections()).toBe(8);
    await settle([...idle, newcomer]);
    await until(() => connections() === 0, 'no connections');

    // Eight busy connections: requests whose bodies are still arriving, four per agent.
    const busy: RawConnection[] = [];
    for (let i = 0; i < 8; i++) busy.push(await open(port, unfinishedPost(i < 4 ? TOKEN_A : TOKEN_B)));
    await until(() => connections() === 8, '8 busy connections');
    await new Promise((r) => setTimeout(r, 100));
    const turnedAway = await open(port);
    expect(await turnedAway.closed).toBeLessThan(1000);
    expect(turnedAway.received()).toBe('');
    expect(busy.every((c) => !c.isClosed())).toBe(true);
    await settle(busy);
    const metrics = (await gateway.metrics.render()).body;
    expect(metrics).toContain('tollgate_http_connections_closed_total{reason="evicted"} 1');
    expect(metrics).toContain('tollgate_http_connections_closed_total{reason="max_connections"} 1');
  });

  it('at max_connections_per_agent, closes the agent\'s idle connection for a new one, or refuses the request when all are busy', async () => {
    await until(() => connections() === 0, 'no connections');
    const busy: RawConnection[] = [];
    for (let i = 0; i < 4; i++) busy.push(await open(port, unfinishedPost(TOKEN_A)));
    await until(() => connections() === 4, '4 connections');
    await new Promise((r) => setTimeout(r, 100));
    const fifth = await open(port, wholePost(TOKEN_A));
    expect(await fifth.closed).toBeLessThan(1000);
    expect(statusOf(fifth)).toBe('HTTP/1.1 429');
    expect(fifth.received()).toContain('Too many connections: agent \\"agent-a\\" already holds 4, all busy (listen.http.max_connections_per_agent)');
    // Another agent is served.
    const other = await open(port, wholePost(TOKEN_B));
    await until(() => other.received().includes('Parse error'), 'agent-b\'s answer');
    expect(statusOf(other)).toBe('HTTP/1.1 400');
    expect(busy.every((c) => !c.isClosed())).toBe(true);
    await settle([...busy, other]);
    await until(() => connections() === 0, 'no connections');

    // Four idle keep-alive connections of agent-a: a fifth makes the longest-idle one close.
    const idle: RawConnection[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await open(port, wholePost(TOKEN_A));
      await until(() => c.received().includes('Parse error'), 'an answer');
      idle.push(c);
    }
    const next = await open(port, wholePost(TOKEN_A));
    await until(() => next.received().includes('Parse error'), 'the fifth answer');
    expect(statusOf(next)).toBe('HTTP/1.1 400');
    expect(await idle[0]!.closed).toBeLessThan(1000);
    expect(idle.slice(1).every((c) => !c.isClosed())).toBe(true);
    await settle([...idle, next]);
    expect((await gateway.metrics.render()).body).toContain('tollgate_http_connections_closed_total{reason="max_connections_per_agent"} 1');
  });
});

describe('10,000 sockets without a token', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    // A gateway process of its own, with the default bounds: its file descriptors are its own.
    gateway = await startGatewayProcess('http', { upstreams: { rec: rec.config }, policy: { dir: rec.policyDir }, ledger: { database_url: db.url, migrate: true } });
    port = Number(new URL(gateway.url!).port);
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    await rec?.cleanup();
    await db?.drop();
  });

  const socketsHeld = (): number => {
    const dir = `/proc/${gateway.process!.pid}/fd`;
    let n = 0;
    for (const fd of readdirSync(dir)) {
      try {
        if (readlinkSync(join(dir, fd)).startsWith('socket:')) n++;
      } catch {
        // Closed while listing.
      }
    }
    return n;
  };

  it('cannot hold the gateway\'s sockets: each is refused and closed, and a legitimate agent is served at once', async () => {
    const call = () => gateway.client.callTool({ name: 'echo', arguments: { text: 'still here' } });
    expect((await call()).content).toEqual([{ type: 'text', text: 'still here' }]);
    const baseline = socketsHeld();
    const TOTAL = 10_000;
    // In waves, so that this process stays far below its own descriptor limit whatever the gateway does.
    const WAVE = 500;
    let refused = 0;
    let held = 0;
    let peak = 0;
    for (let sent = 0; sent < TOTAL; sent += WAVE) {
      const wave = await Promise.all(Array.from({ length: WAVE }, () => open(port, unfinishedPost())));
      const deadline = new Promise<'held'>((r) => setTimeout(() => r('held'), 5000));
      const outcomes = await Promise.all(wave.map((c) => Promise.race([c.closed.then(() => 'closed' as const), deadline])));
      peak = Math.max(peak, socketsHeld());
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome === 'held') {
          held++;
          wave[i]!.socket.destroy();
        } else if (statusOf(wave[i]!) === 'HTTP/1.1 401') refused++;
      }
      // A gateway that keeps them would make this test open tens of thousands: stop early.
      if (held > 0) break;
    }
    expect(held).toBe(0);
    // Every socket got its 401 before being closed.
    expect(refused).toBe(TOTAL);
    // Served at once, with no backlog of sockets left behind.
    const started = Date.now();
    expect((await call()).content).toEqual([{ type: 'text', text: 'still here' }]);
    expect(Date.now() - started).toBeLessThan(1000);
    await until(() => socketsHeld() <= baseline + 2, 'the gateway to let go of the sockets', 3000);
    expect(peak).toBeLessThan(WAVE + baseline + 50);
  }, 120_000);
});
