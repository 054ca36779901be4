import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLedger, migrateLedger, verifyLedger, type LedgerConnection } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startWriterProcess, type WriterProcess } from './support/writer-process.js';

const PROCESSES = 4;
const EVENTS = 1500;

describe('several writer processes appending at once (PostgreSQL)', () => {
  let database: TestDatabase;
  let connection: LedgerConnection;
  const writers: WriterProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    connection = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(connection);
  });

  afterAll(async () => {
    for (const w of writers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await connection?.close();
    await database?.drop();
  });

  it(`${PROCESSES} processes write ${PROCESSES} valid strands and lose no event`, async () => {
    for (let i = 0; i < PROCESSES; i++) writers.push(startWriterProcess(database.url, EVENTS, 32));
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.go();
    const reports = await Promise.all(writers.map((w) => w.exited));
    for (const report of reports) {
      expect(report.stderr).toBe('');
      expect(report.exitCode).toBe(0);
      expect(report.done).toBe(true);
      expect(report.committed.size).toBe(EVENTS);
    }
    expect(new Set(reports.map((r) => r.strandId)).size).toBe(PROCESSES);
    // They really wrote at the same time: every strand's time span overlaps every other's.
    const spans = await connection.db
      .selectFrom('ledger_events')
      .select((eb) => ['strand_id', eb.fn.min('occurred_at').as('first'), eb.fn.max('occurred_at').as('last')])
      .groupBy('strand_id')
      .execute();
    for (const a of spans) {
      for (const b of spans) expect(a.first <= b.last && b.first <= a.last, `${a.strand_id} and ${b.strand_id} overlap`).toBe(true);
    }

    const verified = await verifyLedger(connection);
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.events).toBe(PROCESSES * EVENTS);
    expect(verified.strands.map((s) => [s.strand_id, s.events, s.head_seq]).sort()).toEqual(
      reports.map((r) => [r.strandId, EVENTS, EVENTS]).sort(),
    );

    const stored = await connection.db.selectFrom('ledger_events').select(['strand_id', 'seq', 'event_id']).execute();
    const byKey = new Map(stored.map((r) => [`${r.strand_id}/${r.seq}`, r.event_id]));
    for (const report of reports) {
      for (const [seq, eventId] of report.committed) expect(byKey.get(`${report.strandId}/${seq}`)).toBe(eventId);
    }
  }, 180_000);
});
