import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// The admin API's connections are bounded like the agents': in time, in number, and a request
// whose body is never read cannot keep its connection.

const ADMIN_TOKEN = 'admin-limits-token';
const APPROVAL = '00000000-0000-4000-8000-000000000000';

/** A raw TCP connection: what it was sent back, and when the server closed it. */
interface RawConnection {
  readonly socket: Socket;
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

const statusOf = (c: RawConnection): string => c.received().slice(0, 12);

/** A request whose headers are complete and whose body (of `length` bytes, within the admin API's bound by default) never finishes. */
const unfinished = (method: string, path: string, token?: string, length = 10_000) =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{`;
const bodiless = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('admin API connections are bounded', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: RunningGateway;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { host: '127.0.0.1', port: 0 } },
        agents: [{ id: 'agent', token_sha256: sha256Hex('agent-token') }],
        upstreams: { rec: rec.config },
        policy: { dir: rec.policyDir },
        ledger: { database_url: db.url, migrate: true },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN), headers_timeout: '1s', request_timeout: '1s', idle_timeout: '1s', max_connections: 8 },
      }),
      join(ROOT, 'gateway.json'),
    );
    expect(config.admin!.connections).toEqual({ headersTimeoutMs: 1000, requestTimeoutMs: 1000, idleTimeoutMs: 1000, maxConnections: 8 });
    gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
    port = gateway.admin!.port;
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await rec?.cleanup();
    await db?.drop();
  });

  it('closes a connection at once after answering a request whose body it did not read, and keeps one whose request had none', async () => {
    const cases = await Promise.all([
      open(port, unfinished('GET', '/policy')).then((c) => [c, 'HTTP/1.1 401'] as const),
      open(port, unfinished('GET', '/metrics', 'wrong-token')).then((c) => [c, 'HTTP/1.1 401'] as const),
      open(port, unfinished('POST', '/healthz')).then((c) => [c, 'HTTP/1.1 405'] as const),
      open(port, unfinished('PUT', '/elsewhere')).then((c) => [c, 'HTTP/1.1 405'] as const),
      open(port, unfinished('GET', '/elsewhere')).then((c) => [c, 'HTTP/1.1 404'] as const),
      // Answered, and still closed: its body would otherwise be read to the end.
      open(port, unfinished('GET', '/healthz')).then((c) => [c, 'HTTP/1.1 200'] as const),
      // A body larger than the admin API takes is refused before any of it is read.
      open(port, unfinished('POST', `/approvals/${APPROVAL}/approve`, ADMIN_TOKEN, 1_000_000)).then((c) => [c, 'HTTP/1.1 413'] as const),
    ]);
    for (const [c, status] of cases) {
      // Well before headers_timeout or request_timeout could have done it.
      expect(await c.closed).toBeLessThan(500);
      expect(statusOf(c)).toBe(status);
      expect(c.received()).toMatch(/\r\nconnection: close\r\n/i);
    }
    expect(cases.at(-1)![0].received()).toContain('the body is larger than the 16384 bytes the admin API takes');

    // A request without a body keeps its connection for the next one.
    const keep = await open(port, bodiless('/healthz'));
    await until(() => keep.received().includes('"status":"ok"'), 'the first answer');
    expect(keep.received()).not.toMatch(/connection: close/i);
    keep.socket.write(bodiless('/readyz'));
    await until(() => keep.received().includes('"status":"ready"'), 'the second answer on the same connection');
    expect(keep.isClosed()).toBe(false);
    keep.socket.destroy();
  });

  it('closes a connection whose headers do not arrive within headers_timeout', async () => {
    const [silent, slow] = await Promise.all([open(port), open(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n')]);
    for (const c of [silent, slow]) {
      const after = await c.closed;
      expect(after).toBeGreaterThanOrEqual(900);
      expect(after).toBeLessThan(3000);
      expect(statusOf(c)).toBe('HTTP/1.1 408');
    }
  });

  it('closes a keep-alive connection that waits longer than idle_timeout for its next request', async () => {
    const c = await open(port, bodiless('/healthz'));
    await until(() => c.received().includes('"status":"ok"'), 'the answer');
    const after = await c.closed;
    // Node adds up to a second to the keep-alive timeout.
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(3500);
  });

  it('at max_connections, closes the longest-idle connection for a new one, which is served', async () => {
    const idle: RawConnection[] = [];
    for (let i = 0; i < 8; i++) idle.push(await open(port));
    await new Promise((r) => setTimeout(r, 50));
    const newcomer = await open(port);
    expect(await idle[0]!.closed).toBeLessThan(900);
    expect(idle.slice(1).every((c) => !c.isClosed())).toBe(true);
    newcomer.socket.write(bodiless('/healthz'));
    await until(() => newcomer.received().includes('"status":"ok"'), 'the newcomer\'s answer');
    for (const c of [...idle, newcomer]) c.socket.destroy();
    await Promise.all([...idle, newcomer].map((c) => c.closed));
  });
});

describe('2,000 sockets at the admin API without a token', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    // A gateway process of its own, with the default bounds: its file descriptors are its own.
    gateway = await startGatewayProcess('http', {
      upstreams: { rec: rec.config },
      policy: { dir: rec.policyDir },
      ledger: { database_url: db.url, migrate: true },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
    });
    const line = gateway.log.find((l) => l.includes('admin API listening'));
    port = Number(new URL(/"url":"([^"]+)"/.exec(line!)![1]!).port);
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

  it('cannot hold the gateway\'s sockets: each is refused and closed, and the admin token is served at once', async () => {
    const metrics = () => fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((await metrics()).status).toBe(200);
    const baseline = socketsHeld();
    const TOTAL = 2000;
    // Below the default max_connections (256): each socket gets its answer rather than make room for the next.
    const WAVE = 200;
    let refused = 0;
    let held = 0;
    for (let sent = 0; sent < TOTAL; sent += WAVE) {
      const wave = await Promise.all(Array.from({ length: WAVE }, (_, i) => open(port, i % 2 === 0 ? unfinished('GET', '/metrics') : unfinished('POST', `/approvals/${APPROVAL}/deny`, undefined, 1_000_000))));
      const deadline = new Promise<'held'>((r) => setTimeout(() => r('held'), 5000));
      const outcomes = await Promise.all(wave.map((c) => Promise.race([c.closed.then(() => 'closed' as const), deadline])));
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome === 'held') {
          held++;
          wave[i]!.socket.destroy();
        } else if (/^HTTP\/1\.1 (401|413)/.test(wave[i]!.received())) refused++;
      }
      if (held > 0) break;
    }
    expect(held).toBe(0);
    expect(refused).toBe(TOTAL);
    const started = Date.now();
    expect((await metrics()).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    await until(() => socketsHeld() <= baseline + 2, 'the gateway to let go of the sockets', 3000);
  }, 60_000);
});
