import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, demoExchangeStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

const ADMIN_TOKEN = 'admin-secret';
const AGENT_TOKEN = 'agent-secret';
// The ledger's probe gives up after 1 s and its answer stands for 1 s; /readyz waits 2 s at most.
const READYZ_BOUND_MS = 2500;
const FLIP_BOUND_MS = 5000;

interface Readiness {
  status: number;
  body: { status: string; reasons: string[]; in_flight: number };
  ms: number;
}

/** A gateway on `databaseUrl` with the admin API, and an agent connected over HTTP. */
async function startWithLedger(databaseUrl: string): Promise<{ gateway: RunningGateway; client: Client; readyz: () => Promise<Readiness> }> {
  const upstream = demoExchangeStdio('ccxt');
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { port: 0 } },
      agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { ccxt: { command: upstream.command, args: upstream.args } },
      policy: { dir: 'policies' },
      ledger: { database_url: databaseUrl, migrate: true },
      // Counters in memory: what a refused call runs into here is the ledger, nothing else.
      limits: { store: 'memory' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
    }),
    `${ROOT}/gateway.json`,
  );
  const gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  const client = new Client({ name: 'readiness-test', version: '1' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  const readyz = async (): Promise<Readiness> => {
    const started = performance.now();
    const res = await fetch(`${gateway.admin!.url}/readyz`);
    const body = (await res.json()) as Readiness['body'];
    return { status: res.status, body, ms: performance.now() - started };
  };
  return { gateway, client, readyz };
}

/** Asks /readyz until it answers `status`, checking every answer came within the bound; returns the last one and how long it took. */
async function until(readyz: () => Promise<Readiness>, status: number): Promise<Readiness & { after: number }> {
  const started = performance.now();
  for (;;) {
    const r = await readyz();
    expect(r.ms).toBeLessThan(READYZ_BOUND_MS);
    const after = performance.now() - started;
    if (r.status === status || after > FLIP_BOUND_MS) return { ...r, after };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const balance = { name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } };

describe('/readyz follows the ledger (PostgreSQL blocked, then back)', () => {
  let db: TestDatabase;
  let started: Awaited<ReturnType<typeof startWithLedger>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    started = await startWithLedger(db.url);
  }, 60_000);

  afterAll(async () => {
    await db?.unblock();
    await started?.client.close();
    await started?.gateway.shutdown('test over');
    await db?.drop();
  });

  it('answers 503 naming the ledger within a bounded time while the database is blocked, and 200 once it is back', async () => {
    const { readyz, client } = started;
    expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready', reasons: [] } });
    expect((await client.callTool(balance)).isError).toBeFalsy();

    await db.block();
    const down = await until(readyz, 503);
    expect(down.status).toBe(503);
    expect(down.after).toBeLessThan(FLIP_BOUND_MS);
    expect(down.body.status).toBe('not ready');
    expect(down.body.reasons).toHaveLength(1);
    expect(down.body.reasons[0]).toMatch(new RegExp(`^the ledger cannot record decisions: .*ledger database postgres://[^ ]*/${db.name}`));
    // What readiness says is what a call gets: refused, because its decision cannot be recorded.
    const refused = await client.callTool(balance);
    expect(refused).toMatchObject({ isError: true, structuredContent: { code: 'ledger.unavailable' } });

    await db.unblock();
    const up = await until(readyz, 200);
    expect(up.status).toBe(200);
    expect(up.after).toBeLessThan(FLIP_BOUND_MS);
    expect(up.body).toEqual({ status: 'ready', reasons: [], in_flight: 0 });
    expect((await client.callTool(balance)).isError).toBeFalsy();
  }, 30_000);

  it('answers within a bounded time while a lock stalls the ledger table, and 200 once it is released', async () => {
    const { readyz } = started;
    expect((await until(readyz, 200)).status).toBe(200);
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ledger_events IN ACCESS EXCLUSIVE MODE');
      const down = await until(readyz, 503);
      expect(down.status).toBe(503);
      expect(down.body.reasons[0]).toMatch(/^the ledger cannot record decisions: /);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect((await until(readyz, 200)).status).toBe(200);
  }, 30_000);
});

/** A TCP proxy to PostgreSQL that can swallow every byte, as a stalled server or a partition does. */
async function startStallingProxy(targetPort: number): Promise<{ url: (base: string) => string; stall(on: boolean): void; close(): Promise<void> }> {
  let stalled = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    client.on('data', (chunk) => void (stalled || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (stalled || client.write(chunk)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: (base) => {
      const u = new URL(base);
      u.port = String(port);
      return u.toString();
    },
    stall(on) {
      // Connections that lived through the stall are stuck mid-protocol: end them when it lifts.
      if (stalled && !on) for (const s of sockets) s.destroy();
      stalled = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('/readyz cannot hang when the database stops answering', () => {
  let db: TestDatabase;
  let proxy: Awaited<ReturnType<typeof startStallingProxy>>;
  let started: Awaited<ReturnType<typeof startWithLedger>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = await startStallingProxy(Number(new URL(db.url).port || 5432));
    started = await startWithLedger(proxy.url(db.url));
  }, 60_000);

  afterAll(async () => {
    proxy?.stall(false);
    await started?.client.close();
    await started?.gateway.shutdown('test over');
    await proxy?.close();
    await db?.drop();
  });

  it('answers 503 within the bound on every request while no byte comes back, and 200 once the network heals', async () => {
    const { readyz } = started;
    expect((await readyz()).status).toBe(200);
    proxy.stall(true);
    const down = await until(readyz, 503);
    expect(down.status).toBe(503);
    expect(down.body.reasons[0]).toMatch(/^the ledger cannot record decisions: ledger database .* is unavailable/);
    // Keep asking for a while: every answer stays bounded, none hangs on the stalled probe.
    const stalledUntil = performance.now() + 3000;
    while (performance.now() < stalledUntil) {
      const r = await readyz();
      expect(r.status).toBe(503);
      expect(r.ms).toBeLessThan(READYZ_BOUND_MS);
    }
    proxy.stall(false);
    const up = await until(readyz, 200);
    expect(up.status).toBe(200);
    expect(up.after).toBeLessThan(FLIP_BOUND_MS + 2000);
  }, 40_000);
});
