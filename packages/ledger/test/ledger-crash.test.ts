import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLedger, migrateLedger, verifyLedger, type LedgerConnection } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startWriterProcess, type WriterProcess, type WriterReport } from './support/writer-process.js';

/** Starts a writer process, lets it commit something, then kills it at a random moment. */
async function crashRun(target: string, running: Set<WriterProcess>): Promise<WriterReport> {
  const writer = startWriterProcess(target, 'forever', 64);
  running.add(writer);
  try {
    await writer.ready;
    writer.go();
    await writer.firstCommit;
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
    writer.child.kill('SIGKILL');
    return await writer.exited;
  } finally {
    running.delete(writer);
  }
}

/** What must hold after a writer was killed: every resolved append kept, whole batches only. */
async function checkAfterCrash(connection: LedgerConnection, report: WriterReport): Promise<void> {
  expect(report.signal).toBe('SIGKILL');
  expect(report.done).toBe(false);
  const strandId = report.strandId!;
  const stored = await connection.db.selectFrom('ledger_events').select(['seq', 'event_id']).where('strand_id', '=', strandId).orderBy('seq').execute();
  const storedIds = new Map(stored.map((r) => [r.seq, r.event_id]));

  // Every append() that resolved is in the ledger, under the same id and place.
  expect(report.committed.size).toBeGreaterThan(0);
  for (const [seq, eventId] of report.committed) expect(storedIds.get(seq), `strand ${strandId} seq ${seq}`).toBe(eventId);

  // The strand is whole batches: it ends exactly where some announced batch ended.
  const head = stored.at(-1)?.seq ?? 0;
  expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  const batchEnds = new Set(report.batches.map(([, last]) => last));
  const near = report.batches.filter(([first, last]) => last >= head - 600 && first <= head + 600).map(([f, l]) => `${f}-${l}`);
  expect(batchEnds.has(head), `strand ${strandId} ends at ${head}, inside a batch (batches near it: ${near.join(', ')})`).toBe(true);
  expect(head).toBeLessThanOrEqual(Math.max(...report.batches.map(([, last]) => last)));
}

describe('a writer process killed with SIGKILL under load (PostgreSQL)', () => {
  const RUNS = 20;
  const AT_ONCE = 4;
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

  it(`loses no resolved append and leaves no partial batch, over ${RUNS} kills`, async () => {
    const reports: WriterReport[] = [];
    for (let started = 0; started < RUNS; started += AT_ONCE) {
      reports.push(...(await Promise.all(Array.from({ length: Math.min(AT_ONCE, RUNS - started) }, () => crashRun(database.url, running)))));
    }
    expect(reports).toHaveLength(RUNS);
    for (const report of reports) await checkAfterCrash(connection, report);

    const verified = await verifyLedger(connection);
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.strands).toHaveLength(RUNS);
  }, 240_000);
});

describe('a writer process killed with SIGKILL under load (embedded PGlite, file-backed)', () => {
  const RUNS = 5;
  let dir: string;
  const running = new Set<WriterProcess>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
    const connection = await connectLedger({ dataDir: join(dir, 'ledger') });
    await migrateLedger(connection);
    await connection.close();
  }, 60_000);

  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it(`recovers after each of ${RUNS} kills with every resolved append and whole batches only`, async () => {
    const dataDir = join(dir, 'ledger');
    for (let run = 1; run <= RUNS; run++) {
      // One process at a time holds the embedded ledger: the killed writer's lock is stale.
      const report = await crashRun(dataDir, running);
      const connection = await connectLedger({ dataDir });
      try {
        await checkAfterCrash(connection, report);
        const verified = await verifyLedger(connection);
        expect(verified.problems).toEqual([]);
        expect(verified.strands).toHaveLength(run);
      } finally {
        await connection.close();
      }
    }
  }, 240_000);
});
