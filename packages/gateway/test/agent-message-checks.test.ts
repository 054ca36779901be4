import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

// What an agent sends is checked before it reaches the session, over both transports, against a
// real gateway whose upstream writes down every message it receives.

const ADMIN_TOKEN = 'message-checks-admin';
type Message = Record<string, unknown> & { id?: unknown; error?: { code: number; message: string }; result?: unknown };

const INITIALIZE = { jsonrpc: '2.0', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const call = (id: string | number | undefined, name: string, args: unknown) => ({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method: 'tools/call', params: { name, arguments: args } });

/** Requests with params MCP does not define, and what the agent is told. */
const MALFORMED: ReadonlyArray<[string, Record<string, unknown>, string]> = [
  ['a name that is not a string', { method: 'tools/call', params: { name: 7, arguments: { text: 'bad-1' } } }, 'Invalid params: in tools/call, params.name must be a string, not a number'],
  ['arguments that are an array', { method: 'tools/call', params: { name: 'echo', arguments: ['bad-2'] } }, 'Invalid params: in tools/call, params.arguments must be an object, not an array'],
  ['arguments that are a string', { method: 'tools/call', params: { name: 'echo', arguments: 'bad-3' } }, 'Invalid params: in tools/call, params.arguments must be an object, not a string'],
  ['no params at all', { method: 'tools/call' }, 'Invalid params: in tools/call, params is missing: it must be an object'],
  ['a cursor that is not a string', { method: 'tools/list', params: { cursor: 5 } }, 'Invalid params: in tools/list, params.cursor must be a string, not a number'],
  ['a prompt without its name', { method: 'prompts/get', params: { arguments: { name: 'x' } } }, 'Invalid params: in prompts/get, params.name is missing: it must be a string'],
  ['a logging level MCP does not have', { method: 'logging/setLevel', params: { level: 'loud' } }, 'Invalid params: in logging/setLevel, params.level must be one of "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency", not "loud"'],
  ['prompt arguments that are not strings', { method: 'prompts/get', params: { name: 'greet', arguments: { name: 42 } } }, 'Invalid params: in prompts/get, params.arguments.name must be a string, not a number'],
];

async function decisions(db: TestDatabase): Promise<number> {
  const [row] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger_events WHERE event_type = 'decision'");
  return Number(row!.n);
}

async function adminMetrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
}

async function until<T>(get: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent messages over stdio', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let admin: string;
  const received: Message[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-checks-'));
    const file = join(dir, 'gateway.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { stdio: true },
        agent: { id: 'stdio-agent' },
        upstreams: { rec: rec.config },
        policy: { dir: rec.policyDir },
        ledger: { database_url: db.url, migrate: true },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
        log: { level: 'info' },
      }),
    );
    child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'packages/gateway/test/gateway-process.ts'), file], { cwd: ROOT, stdio: 'pipe' });
    let adminUrl: string | undefined;
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.includes('admin API listening')) adminUrl = /"url":"([^"]+)"/.exec(line)?.[1];
    });
    createInterface({ input: child.stdout }).on('line', (line) => received.push(JSON.parse(line) as Message));
    write({ ...INITIALIZE, id: 'init' });
    await answer('init', 60_000);
    write({ jsonrpc: '2.0', method: 'notifications/initialized' });
    admin = await until(() => adminUrl, 'the admin API', 60_000);
  }, 90_000);

  afterAll(async () => {
    child?.stdin.end();
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
    await rec?.cleanup();
    await db?.drop();
  });

  function write(message: unknown): void {
    child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** The next message from the gateway that matches, taken off the list. */
  async function take(match: (m: Message) => boolean, what: string, ms = 10_000): Promise<Message> {
    return until(() => {
      const i = received.findIndex(match);
      return i === -1 ? undefined : received.splice(i, 1)[0];
    }, what, ms);
  }
  const answer = (id: unknown, ms?: number) => take((m) => m.id === id, `the answer to ${JSON.stringify(id)}`, ms);

  it('never passes a tools/call sent as a notification on to the upstream', async () => {
    const before = await decisions(db);
    write(call(undefined, 'echo', { text: 'ungoverned' }));
    write([call(undefined, 'echo', { text: 'ungoverned in a batch' }), { jsonrpc: '2.0', id: 'p', method: 'ping' }]);
    expect(await answer('p')).toEqual({ jsonrpc: '2.0', id: 'p', result: {} });
    write(call('governed', 'echo', { text: 'governed' }));
    expect(await answer('governed')).toMatchObject({ result: { content: [{ type: 'text', text: 'governed' }] } });
    const upstream = JSON.stringify(await rec.messages());
    expect(upstream).toContain('"governed"');
    expect(upstream).not.toContain('ungoverned');
    // Only the governed call was decided (and recorded).
    expect(await decisions(db)).toBe(before + 1);
    // JSON-RPC answers no notification: nothing came back for the dropped ones.
    expect(received.filter((m) => m.id === null)).toEqual([]);
    expect(await adminMetrics(admin)).toContain('tollgate_dropped_notifications_total{method="tools/call"} 2');
  });

  it('answers params MCP does not define with -32602 naming the field, and runs nothing', async () => {
    const before = await decisions(db);
    for (const [i, [, request, message]] of MALFORMED.entries()) {
      write({ jsonrpc: '2.0', id: `bad-${i}`, ...request });
      expect(await answer(`bad-${i}`)).toEqual({ jsonrpc: '2.0', id: `bad-${i}`, error: { code: -32602, message } });
    }
    write({ ...INITIALIZE, id: 'reinit', params: { protocolVersion: 2025 } });
    expect(await answer('reinit')).toEqual({
      jsonrpc: '2.0',
      id: 'reinit',
      error: { code: -32602, message: 'Invalid params: in initialize, params.protocolVersion must be a string, not a number; params.capabilities is missing: it must be an object; params.clientInfo is missing: it must be an object' },
    });
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('bad-');
    expect(await decisions(db)).toBe(before);
    // A well-formed call is untouched by the check.
    write(call('fine', 'echo', { text: 'well-formed' }));
    expect(await answer('fine')).toMatchObject({ result: { content: [{ type: 'text', text: 'well-formed' }] } });
    expect(await adminMetrics(admin)).toContain(`tollgate_rejected_messages_total{reason="invalid_params"} ${MALFORMED.length + 1}`);
  });

  it('refuses a batch with two requests of the same id before running any of it', async () => {
    const before = await decisions(db);
    write([call(1, 'echo', { text: 'dup-a' }), call(1, 'echo', { text: 'dup-b' })]);
    expect(await take((m) => m.id === null, 'the refusal')).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request: the batch has more than one request with id 1, so none of it was run; give every request in a batch its own id' },
    });
    // The next answer is to what came after: nothing of the batch answered.
    write({ jsonrpc: '2.0', id: 'after', method: 'ping' });
    await answer('after');
    expect(received.filter((m) => m.id === 1)).toEqual([]);
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('dup-');
    expect(await decisions(db)).toBe(before);
  });

  it('refuses a request whose id is still in flight without running it, and takes the id again once answered', async () => {
    const callsBefore = (await rec.toolCalls()).length;
    write(call(7, 'slow', { ms: 800, text: 'first' }));
    write(call(7, 'echo', { text: 'second' }));
    // Refused under id null: an error under id 7 would read as the first call's answer.
    expect(await take((m) => m.id === null, 'the refusal')).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request: request id 7 is already in flight in this session, so this message was not run; give every request an id that no unanswered request of the session uses' },
    });
    expect(await answer(7)).toMatchObject({ result: { content: [{ type: 'text', text: 'slept 800 ms: first' }] } });
    write(call(7, 'echo', { text: 'third' }));
    expect(await answer(7)).toMatchObject({ result: { content: [{ type: 'text', text: 'third' }] } });
    expect((await rec.toolCalls()).slice(callsBefore).map((c) => c.params.arguments?.text)).toEqual(['first', 'third']);
  });

  it('takes the id of a cancelled request again, and cancels the call upstream', async () => {
    write(call('c', 'slow', { ms: 10_000, text: 'cancelled' }));
    const upstreamCall = await until(async () => (await rec.toolCalls()).find((c) => c.params.arguments?.text === 'cancelled'), 'the call upstream');
    write({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c', reason: 'changed my mind' } });
    await until(async () => (await rec.messages()).find((m) => m.method === 'notifications/cancelled' && m.params?.requestId === upstreamCall.id), 'the cancellation upstream');
    write(call('c', 'echo', { text: 'reused' }));
    expect(await answer('c')).toMatchObject({ result: { content: [{ type: 'text', text: 'reused' }] } });
    // The cancelled call was never answered.
    expect(received.filter((m) => m.id === 'c')).toEqual([]);

    // A reuse in the same read as the cancellation is refused: it must not take the place of the
    // call being cancelled (and be the one aborted, while the cancelled call runs on).
    write(call('d', 'slow', { ms: 10_000, text: 'cancelled too' }));
    const second = await until(async () => (await rec.toolCalls()).find((c) => c.params.arguments?.text === 'cancelled too'), 'the second call upstream');
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'd' } })}\n${JSON.stringify(call('d', 'echo', { text: 'too soon' }))}\n`);
    expect(await take((m) => m.id === null, 'the refusal')).toMatchObject({ error: { code: -32600, message: expect.stringContaining('request id "d" is already in flight') } });
    await until(async () => (await rec.messages()).find((m) => m.method === 'notifications/cancelled' && m.params?.requestId === second.id), 'the second cancellation upstream');
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('too soon');
  });
});

describe('agent messages over Streamable HTTP', () => {
  const TOKEN = 'message-checks-agent';
  const OTHER = 'message-checks-other-agent';
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: RunningGateway;
  let url: string;
  let session: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { host: '127.0.0.1', port: 0 } },
        agents: [
          { id: 'http-agent', token_sha256: sha256Hex(TOKEN) },
          { id: 'other-agent', token_sha256: sha256Hex(OTHER) },
        ],
        upstreams: { rec: rec.config },
        policy: { dir: rec.policyDir },
        ledger: { database_url: db.url, migrate: true },
      }),
      join(ROOT, 'gateway.json'),
    );
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    url = gateway.http!.url;
    session = await openSession(TOKEN);
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await rec?.cleanup();
    await db?.drop();
  });

  /** Request headers; `id` null for none (an initialize). */
  const headers = (token = TOKEN, id: string | null = session) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
    ...(id ? { 'mcp-session-id': id } : {}),
  });

  async function openSession(token: string): Promise<string> {
    const res = await fetch(url, { method: 'POST', headers: headers(token, null), body: JSON.stringify({ ...INITIALIZE, id: 0 }) });
    expect(res.status).toBe(200);
    await res.text();
    const id = res.headers.get('mcp-session-id')!;
    const ready = await fetch(url, { method: 'POST', headers: headers(token, id), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    expect(ready.status).toBe(202);
    return id;
  }

  const post = async (body: unknown, h: Record<string, string> = headers()): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };

  it('never passes a tools/call sent as a notification on to the upstream, and says so', async () => {
    const before = await decisions(db);
    expect(await post(call(undefined, 'echo', { text: 'ungoverned' }))).toEqual({
      status: 400,
      body: {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32600,
          message:
            'Invalid Request: the gateway does not take the notification "tools/call", so nothing of this POST was passed on; a request (such as tools/call) needs an id, and of notifications only those MCP defines for clients are accepted',
        },
      },
    });
    // Next to a request, it is dropped and the request answered.
    expect(await post([call(undefined, 'echo', { text: 'ungoverned in a batch' }), { jsonrpc: '2.0', id: 'p', method: 'ping' }])).toEqual({ status: 200, body: [{ jsonrpc: '2.0', id: 'p', result: {} }] });
    // A notification MCP defines is still taken.
    expect((await post({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' })).status).toBe(202);
    expect(await post(call('governed', 'echo', { text: 'governed' }))).toMatchObject({ status: 200, body: { id: 'governed', result: { content: [{ type: 'text', text: 'governed' }] } } });
    const upstream = JSON.stringify(await rec.messages());
    expect(upstream).toContain('"governed"');
    expect(upstream).not.toContain('ungoverned');
    expect(upstream).not.toContain('roots/list_changed');
    expect(await decisions(db)).toBe(before + 1);
    expect((await gateway.metrics.render()).body).toContain('tollgate_dropped_notifications_total{method="tools/call"} 2');
  });

  it('answers params MCP does not define with -32602 naming the field, and runs nothing', async () => {
    const before = await decisions(db);
    for (const [i, [, request, message]] of MALFORMED.entries()) {
      expect(await post({ jsonrpc: '2.0', id: i, ...request })).toEqual({ status: 200, body: { jsonrpc: '2.0', id: i, error: { code: -32602, message } } });
    }
    // In a batch, only the malformed request is refused.
    expect(await post([{ jsonrpc: '2.0', id: 'bad', ...MALFORMED[0]![1] }, call('good', 'echo', { text: 'good' })])).toMatchObject({
      status: 200,
      body: [
        { id: 'bad', error: { code: -32602, message: MALFORMED[0]![2] } },
        { id: 'good', result: { content: [{ type: 'text', text: 'good' }] } },
      ],
    });
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('bad-');
    expect(await decisions(db)).toBe(before + 1);
  });

  it('opens no session for an initialize with malformed params, and says why', async () => {
    const sessions = gateway.http!.sessionCount();
    const res = await fetch(url, { method: 'POST', headers: headers(TOKEN, null), body: JSON.stringify({ ...INITIALIZE, id: 'i', params: { protocolVersion: '2025-06-18', capabilities: {} } }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 'i', error: { code: -32602, message: 'Invalid params: in initialize, params.clientInfo is missing: it must be an object' } });
    // Nor in a batch of one.
    const batched = await fetch(url, { method: 'POST', headers: headers(TOKEN, null), body: JSON.stringify([{ ...INITIALIZE, id: 'j', params: { protocolVersion: 5, capabilities: {}, clientInfo: { name: 'x', version: '1' } } }]) });
    expect(batched.headers.get('mcp-session-id')).toBeNull();
    expect(await batched.json()).toEqual([{ jsonrpc: '2.0', id: 'j', error: { code: -32602, message: 'Invalid params: in initialize, params.protocolVersion must be a string, not a number' } }]);
    expect(gateway.http!.sessionCount()).toBe(sessions);
  });

  it('refuses a batch with two requests of the same id before running any of it', async () => {
    const before = await decisions(db);
    expect(await post([call(1, 'echo', { text: 'dup-a' }), call(1, 'echo', { text: 'dup-b' })])).toEqual({
      status: 400,
      body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: the batch has more than one request with id 1, so none of it was run; give every request in a batch its own id' } },
    });
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('dup-');
    expect(await decisions(db)).toBe(before);
  });

  it('refuses a request whose id is still in flight without running it, even after the first POST went away', async () => {
    const callsBefore = (await rec.toolCalls()).length;
    const first = post(call(7, 'slow', { ms: 800, text: 'first' }));
    await until(async () => ((await rec.toolCalls()).length > callsBefore ? true : undefined), 'the first call upstream');
    const refusal = {
      status: 409,
      body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: request id 7 is already in flight in this session, so this message was not run; give every request an id that no unanswered request of the session uses' } },
    };
    expect(await post(call(7, 'echo', { text: 'second' }))).toEqual(refusal);
    expect(await first).toMatchObject({ status: 200, body: { id: 7, result: { content: [{ type: 'text', text: 'slept 800 ms: first' }] } } });
    expect(await post(call(7, 'echo', { text: 'third' }))).toMatchObject({ status: 200, body: { id: 7, result: { content: [{ type: 'text', text: 'third' }] } } });

    // An agent that drops its POST does not end the call: the id stays taken until it is answered.
    const abandoned = new AbortController();
    const gone = fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(call(8, 'slow', { ms: 800, text: 'abandoned' })), signal: abandoned.signal }).catch(() => 'aborted');
    await until(async () => ((await rec.toolCalls()).some((c) => c.params.arguments?.text === 'abandoned') ? true : undefined), 'the abandoned call upstream');
    abandoned.abort();
    expect(await gone).toBe('aborted');
    expect((await post(call(8, 'echo', { text: 'too soon' }))).status).toBe(409);
    await until(async () => ((await post(call(8, 'echo', { text: 'later' }))).status === 200 ? true : undefined), 'id 8 to be free again');
    expect((await rec.toolCalls()).slice(callsBefore).map((c) => c.params.arguments?.text)).toEqual(['first', 'third', 'abandoned', 'later']);
  });

  it('ends the POST of a cancelled request, takes its id again, and cancels the call upstream', async () => {
    const waiting = post(call('c', 'slow', { ms: 10_000, text: 'cancelled' }));
    const upstreamCall = await until(async () => (await rec.toolCalls()).find((c) => c.params.arguments?.text === 'cancelled'), 'the call upstream');
    expect((await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c' } })).status).toBe(202);
    expect(await waiting).toEqual({ status: 202, body: undefined });
    expect(await post(call('c', 'echo', { text: 'reused' }))).toMatchObject({ status: 200, body: { id: 'c', result: { content: [{ type: 'text', text: 'reused' }] } } });
    await until(async () => (await rec.messages()).find((m) => m.method === 'notifications/cancelled' && m.params?.requestId === upstreamCall.id), 'the cancellation upstream');
  });

  it('answers a request for another agent\'s session exactly like one for a session that does not exist', async () => {
    const theirs = await openSession(OTHER);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const answerFor = async (id: string) => {
      const r = await post(call(9, 'echo', { text: 'probe' }), headers(TOKEN, id));
      return JSON.stringify(r).replace(id, '<id>');
    };
    expect(await answerFor(theirs)).toBe(await answerFor(unknown));
    expect(await answerFor(unknown)).toContain('"status":404');
    // Even while the other agent has a call of that id in flight.
    const busy = post(call(9, 'slow', { ms: 600, text: 'theirs' }), headers(OTHER, theirs));
    await until(async () => ((await rec.toolCalls()).some((c) => c.params.arguments?.text === 'theirs') ? true : undefined), 'their call');
    expect(await answerFor(theirs)).toBe(await answerFor(unknown));
    expect((await busy).status).toBe(200);
    expect(JSON.stringify(await rec.toolCalls())).not.toContain('probe');
  });
});
