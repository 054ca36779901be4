import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter, connectLedger, migrateLedger, openLedgerSink, type LedgerConnection, type LedgerHealth } from '../src/index.js';
import { decision } from './support/ledger-event-factory.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const PROBE_TIMEOUT = 400;
// A health() call never takes much longer than one probe.
const BOUND = PROBE_TIMEOUT + 400;

async function timed(work: () => Promise<LedgerHealth>): Promise<{ health: LedgerHealth; ms: number }> {
  const started = performance.now();
  const health = await work();
  return { health, ms: performance.now() - started };
}

/** What PostgreSQL does to readiness: stalls, partitions, refusals, read-only and privileges. */
describe('ledger health on PostgreSQL', () => {
  let database: TestDatabase;
  let proxy: TcpProxy | undefined;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const setup = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(setup);
    await setup.close();
  });

  afterEach(async () => {
    await proxy?.setMode('forward');
    for (const o of open.splice(0).reverse()) await o.close();
    await proxy?.close();
    proxy = undefined;
  });

  afterAll(async () => {
    await database?.drop();
  });

  const connect = async (url = database.url): Promise<LedgerConnection> => {
    const connection = await connectLedger({ databaseUrl: url, connectTimeoutMs: 1000, statementTimeoutMs: 1000 });
    open.push(connection);
    return connection;
  };
  const writerOn = (connection: LedgerConnection, cacheMs = 0): LedgerWriter => {
    const writer = new LedgerWriter(connection, { health: { timeoutMs: PROBE_TIMEOUT, cacheMs } });
    open.push(writer);
    return writer;
  };
  const throughProxy = async (): Promise<string> => {
    proxy = await startTcpProxy(Number(new URL(database.url).port || 5432));
    const url = new URL(database.url);
    url.port = String(proxy.port);
    return url.toString();
  };

  it('is down within the probe timeout while a lock blocks ledger_events, and up once it is released', async () => {
    const writer = writerOn(await connect());
    expect((await writer.health()).ok).toBe(true);
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ledger_events IN ACCESS EXCLUSIVE MODE');
      const { health, ms } = await timed(() => writer.health());
      expect(health).toMatchObject({ ok: false, code: 'ledger.unavailable', source: 'probe' });
      expect(health.reason).toMatch(/statement timeout|no answer within 400 ms/);
      expect(ms).toBeLessThan(BOUND);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect((await writer.health()).ok).toBe(true);
  });

  it('stays bounded while the network drops every packet, opening no pile of connections, and recovers when it heals', async () => {
    const writer = writerOn(await connect(await throughProxy()), 100);
    expect((await writer.health()).ok).toBe(true);
    await proxy!.setMode('blackhole');
    // Past the cache of the last good answer.
    await new Promise((r) => setTimeout(r, 150));
    const answers: Array<{ health: LedgerHealth; ms: number }> = [];
    const until = performance.now() + 2500;
    while (performance.now() < until) {
      answers.push(await timed(() => writer.health()));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(answers.length).toBeGreaterThan(5);
    for (const a of answers) {
      expect(a.health.ok).toBe(false);
      expect(a.health.code).toBe('ledger.unavailable');
      expect(a.ms).toBeLessThan(BOUND);
    }
    // While a probe's connection is still being opened (connectTimeoutMs), the next one does not open another.
    expect(answers.some((a) => a.health.reason?.includes('has not answered the previous probe yet'))).toBe(true);
    await proxy!.setMode('forward');
    const deadline = performance.now() + 3000;
    let health = await writer.health();
    while (!health.ok && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      health = await writer.health();
    }
    expect(health).toMatchObject({ ok: true });
  }, 20_000);

  it('is down when connections are refused, naming the database; a failed batch says so at once', async () => {
    const connection = await connect(await throughProxy());
    const writer = writerOn(connection, 5000);
    await writer.append(decision(1));
    await proxy!.setMode('refuse');
    await expect(writer.append(decision(2))).rejects.toMatchObject({ code: 'ledger.unavailable' });
    const { health, ms } = await timed(() => writer.health());
    expect(health).toMatchObject({ ok: false, source: 'batch', code: 'ledger.unavailable' });
    expect(ms).toBeLessThan(50);
    // A writer with no batch behind it probes, and finds no database to connect to.
    const probed = await writerOn(connection).health();
    expect(probed).toMatchObject({ ok: false, source: 'probe', code: 'ledger.unavailable' });
    expect(probed.reason).toContain(`ledger database ${connection.location} is unavailable: cannot connect`);
  });

  it('is down on a read-only session and for a user that may not insert into ledger_events', async () => {
    const readOnly = new URL(database.url);
    readOnly.searchParams.set('options', '-c default_transaction_read_only=on');
    const ro = await writerOn(await connect(readOnly.toString())).health();
    expect(ro).toMatchObject({ ok: false, code: 'ledger.unavailable' });
    expect(ro.reason).toContain('is read-only (transaction_read_only is on): it cannot record events');

    const role = `tollgate_reader_${database.name.slice(-12)}`;
    await asSuperuser(database.url, `CREATE ROLE ${role} LOGIN; GRANT SELECT ON ledger_events TO ${role}`);
    try {
      const asReader = new URL(database.url);
      asReader.username = role;
      const reader = await writerOn(await connect(asReader.toString())).health();
      expect(reader).toMatchObject({ ok: false, code: 'ledger.write_failed' });
      expect(reader.reason).toContain('does not let this user insert into ledger_events; grant it tollgate_writer');
    } finally {
      for (const o of open.splice(0).reverse()) await o.close();
      await asSuperuser(database.url, `REVOKE ALL ON ledger_events FROM ${role}; DROP ROLE ${role}`);
    }
  });

  it("an opened sink answers with its writer's health", async () => {
    const sink = await openLedgerSink({ databaseUrl: database.url });
    open.push(sink);
    expect(await sink.health()).toMatchObject({ ok: true, source: 'probe', reason: null });
  });
});
