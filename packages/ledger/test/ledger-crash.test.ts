import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLedger, migrateLedger, verifyLedger, type LedgerConnection } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startWriterProcess, type WriterProcess, type WriterReport } from './support/writer-process.js';

const RUNS = 20;
const AT_ONCE = 4;

describe('a writer process killed with SIGKILL under load (PostgreSQL)', () => {
  let database: TestDatabase;
  let connection: LedgerConnection;
  const running = new Set<WriterProcess>();

  beforeAll(async () => {
    database = await createTestDatabase();
    connection = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(connection);
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await connection?.close();
    await database?.drop();
  });

  /** Starts a writer, lets it commit something, then kills it at a random moment. */
  const crashRun = async (): Promise<WriterReport> => {
    const writer = startWriterProcess(database.url, 'forever', 64);
    running.add(writer);
    try {
      await writer.ready;
      writer.go();
      await writer.committedAtLeast(1);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      writer.child.kill('SIGKILL');
      return await writer.exited;
    } finally {
      running.delete(writer);
    }
  };

  it(`loses no resolved append and leaves no partial batch, over ${RUNS} kills`, async () => {
    const reports: WriterReport[] = [];
    for (let started = 0; started < RUNS; started += AT_ONCE) {
      reports.push(...(await Promise.all(Array.from({ length: Math.min(AT_ONCE, RUNS - started) }, () => crashRun()))));
    }
    expect(reports).toHaveLength(RUNS);

    for (const report of reports) {
      expect(report.signal).toBe('SIGKILL');
      expect(report.done).toBe(false);
      const strandId = report.strandId!;
      const stored = await connection.db
        .selectFrom('ledger_events')
        .select(['seq', 'event_id'])
        .where('strand_id', '=', strandId)
        .orderBy('seq')
        .execute();
      const storedIds = new Map(stored.map((r) => [r.seq, r.event_id]));

      // Every append() that resolved is in the ledger, under the same id and place.
      expect(report.committed.size).toBeGreaterThan(0);
      for (const [seq, eventId] of report.committed) expect(storedIds.get(seq), `strand ${strandId} seq ${seq}`).toBe(eventId);

      // The strand is whole batches: it ends exactly where some announced batch ended.
      const head = stored.at(-1)?.seq ?? 0;
      expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
      const batchEnds = new Set(report.batches.map(([, last]) => last));
      expect(batchEnds.has(head), `strand ${strandId} ends at ${head}, inside a batch`).toBe(true);
      // Nothing beyond the last batch the process announced.
      expect(head).toBeLessThanOrEqual(Math.max(...report.batches.map(([, last]) => last)));
    }

    const verified = await verifyLedger(connection);
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.strands).toHaveLength(RUNS);
  }, 240_000);
});
