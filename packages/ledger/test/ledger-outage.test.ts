import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  LedgerError,
  LedgerWriter,
  connectLedger,
  migrateLedger,
  verifyLedger,
  type AppendedEvent,
  type LedgerConnection,
} from '../src/index.js';
import { decision } from './support/ledger-event-factory.js';
import { createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { createThrowawayCluster, type ThrowawayCluster } from './support/throwaway-cluster.js';

const CONNECT_TIMEOUT = 1000;
const STATEMENT_TIMEOUT = 1500;
// The longest an append() may take when the database is gone: a batch's statement (the server's
// timeout, then the client's one second more), then the resync of the head (a new connection).
const BOUND = STATEMENT_TIMEOUT + 1000 + CONNECT_TIMEOUT + 1500;

interface Settled {
  result?: AppendedEvent;
  error?: unknown;
  ms: number;
}

/** Appends `n` events at once and reports how each settled and how long it took. */
async function appendAll(writer: LedgerWriter, from: number, n: number): Promise<Settled[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const started = performance.now();
      try {
        const result = await writer.append(decision(from + i));
        return { result, ms: performance.now() - started };
      } catch (error) {
        return { error, ms: performance.now() - started };
      }
    }),
  );
}

function expectUnavailable(settled: Settled[]): void {
  for (const s of settled) {
    expect(s.result).toBeUndefined();
    expect(s.error).toBeInstanceOf(LedgerError);
    expect((s.error as LedgerError).code).toBe('ledger.unavailable');
    expect((s.error as LedgerError).message).toMatch(/is unavailable while/);
    expect(s.ms).toBeLessThan(BOUND);
  }
}

describe('PostgreSQL stopped mid-run (a throwaway cluster)', () => {
  let cluster: ThrowawayCluster | undefined;
  let connection: LedgerConnection | undefined;

  beforeAll(async () => {
    cluster = await createThrowawayCluster();
    connection = await connectLedger({ databaseUrl: cluster.url, connectTimeoutMs: CONNECT_TIMEOUT, statementTimeoutMs: STATEMENT_TIMEOUT });
    await migrateLedger(connection);
  }, 120_000);

  afterAll(async () => {
    await connection?.close();
    await cluster?.destroy();
  });

  it('rejects appends within a bounded time while it is down, and resumes the strand when it is back', async () => {
    const writer = new LedgerWriter(connection!);
    const before = await appendAll(writer, 0, 50);
    expect(before.every((s) => s.result)).toBe(true);

    // Stop the server while a stream of appends is under way.
    let next = 100;
    let streaming = true;
    const during: Settled[] = [];
    const stream = (async () => {
      while (streaming) during.push(...(await appendAll(writer, (next += 20), 20)));
    })();
    while (!during.some((s) => s.result)) await new Promise((r) => setTimeout(r, 10));
    await cluster!.stop();
    const down = await appendAll(writer, 1000, 30);
    streaming = false;
    await stream;
    expectUnavailable(down);
    // Some of the stream got in before the stop; everything after it was refused in time.
    expect(during.some((s) => s.error instanceof LedgerError)).toBe(true);
    for (const s of during) expect(s.ms).toBeLessThan(BOUND);
    expect(writer.pending).toBe(0);

    await cluster!.start();
    const after = await appendAll(writer, 2000, 40);
    expect(after.every((s) => s.result)).toBe(true);

    const committed = [...before, ...during, ...after].filter((s) => s.result).map((s) => s.result!);
    const stored = await connection!.db.selectFrom('ledger_events').select(['event_id', 'seq']).where('strand_id', '=', writer.strandId).orderBy('seq').execute();
    const storedIds = new Set(stored.map((r) => r.event_id));
    for (const c of committed) expect(storedIds.has(c.eventId)).toBe(true);
    // The strand carries on from its real head, whatever the outage cut off.
    expect(stored.map((r) => r.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(after.map((s) => s.result!.seq).sort((a, b) => a - b)[0]).toBe(stored.length - 39);
    await writer.close();
    const report = await verifyLedger(connection!);
    expect(report.problems).toEqual([]);
  }, 120_000);

  it('fails to connect with a clear error while it is down', async () => {
    await cluster!.stop();
    try {
      const started = performance.now();
      await expect(connectLedger({ databaseUrl: cluster!.url, connectTimeoutMs: CONNECT_TIMEOUT })).rejects.toMatchObject({
        code: 'ledger.unavailable',
        message: expect.stringContaining(`cannot connect to the ledger database postgres://postgres@127.0.0.1:${cluster!.port}/postgres`),
      });
      expect(performance.now() - started).toBeLessThan(CONNECT_TIMEOUT + 1000);
    } finally {
      await cluster!.start();
    }
  }, 60_000);
});

describe('PostgreSQL unreachable through the network (a proxy in front of the real server)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let connection: LedgerConnection;
  let writer: LedgerWriter;

  beforeAll(async () => {
    database = await createTestDatabase();
    const setup = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(setup);
    await setup.close();
  });

  afterAll(async () => {
    await database?.drop();
  });

  afterEach(async () => {
    await proxy?.setMode('forward');
    await writer?.close();
    await connection?.close();
    await proxy?.close();
  });

  const open = async () => {
    proxy = await startTcpProxy(Number(new URL(database.url).port || 5432));
    const url = new URL(database.url);
    url.port = String(proxy.port);
    connection = await connectLedger({ databaseUrl: url.toString(), connectTimeoutMs: CONNECT_TIMEOUT, statementTimeoutMs: STATEMENT_TIMEOUT });
    writer = new LedgerWriter(connection);
  };

  it('rejects at once when connections are refused, and resumes when they are not', async () => {
    await open();
    expect((await appendAll(writer, 0, 10)).every((s) => s.result)).toBe(true);
    await proxy.setMode('refuse');
    expectUnavailable(await appendAll(writer, 100, 10));
    await proxy.setMode('forward');
    const after = await appendAll(writer, 200, 10);
    expect(after.map((s) => s.result?.seq).sort((a, b) => a! - b!)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect((await verifyLedger(connection)).ok).toBe(true);
  }, 60_000);

  it('does not hang when the network drops every packet, and resumes when it heals', async () => {
    await open();
    expect((await appendAll(writer, 0, 10)).every((s) => s.result)).toBe(true);
    await proxy.setMode('blackhole');
    const stuck = await appendAll(writer, 100, 10);
    expectUnavailable(stuck);
    await proxy.setMode('forward');
    const after = await appendAll(writer, 200, 10);
    expect(after.every((s) => s.result)).toBe(true);
    expect(after[0]!.result!.prevHash).not.toBe('0'.repeat(64));
    expect((await verifyLedger(connection)).ok).toBe(true);
  }, 60_000);
});
