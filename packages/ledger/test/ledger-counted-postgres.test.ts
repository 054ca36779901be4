import type { LimitRequest, LimitResult } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerError, LedgerWriter, connectLedger, migrateLedger, verifyLedger, type LedgerBatchInfo, type LedgerConnection } from '../src/index.js';
import { decision, outcome } from './support/ledger-event-factory.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';

const MINUTE = 60_000;
const WINDOW = Math.floor(Date.now() / MINUTE) * MINUTE;

/** One counter of a test policy: `max` calls a minute on `key`. */
const counter = (key: string, max: number, amount = 1): LimitRequest => ({ key, amount, max, windowStart: WINDOW, windowEnd: WINDOW + MINUTE });

/** A decision whose effect follows its counters, as the gateway builds one from a policy's pending decision. */
function counted(n: number, limits: LimitRequest[][], seen: LimitResult[][] = []) {
  return {
    limits,
    event: (results: readonly LimitResult[]) => {
      seen.push([...results]);
      const admitted = results.every((r) => r.exceeded < 0);
      return decision(n, { effect: admitted ? 'allow' : 'deny', rule: admitted ? null : 'limits[0]', reason: admitted ? 'allowed' : 'rate limited', detail: { used: results.map((r) => [...r.used]) } });
    },
  };
}

/** The writer's limits in the ledger's transaction: counters and decision commit together or not at all. */
describe('LedgerWriter.appendCounted on PostgreSQL', () => {
  let database: TestDatabase;
  let connection: LedgerConnection;

  beforeAll(async () => {
    database = await createTestDatabase();
    connection = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(connection);
  });

  afterAll(async () => {
    await connection?.close();
    await database?.drop();
  });

  const used = async (key: string): Promise<number | undefined> =>
    (await asSuperuser<{ used: number }>(database.url, 'SELECT used FROM limit_counters WHERE counter_key = $1 AND window_start = $2', [JSON.stringify(key), WINDOW])).rows[0]?.used;

  it('counts a call and records the decision its counters lead to, in one commit', async () => {
    const batches: LedgerBatchInfo[] = [];
    const writer = new LedgerWriter(connection, { observer: { batchCommitted: (b) => batches.push(b) } });
    const seen: LimitResult[][] = [];
    const results = [];
    for (let n = 1; n <= 3; n++) results.push(await writer.appendCounted(counted(n, [[counter('one', 2)]], seen)));
    expect(seen).toEqual([[{ exceeded: -1, used: [1] }], [{ exceeded: -1, used: [2] }], [{ exceeded: 0, used: [2] }]]);
    expect(await used('one')).toBe(2);
    const rows = (await asSuperuser<{ call_id: string; effect: string; detail: unknown }>(database.url, 'SELECT call_id, effect, detail FROM ledger_events WHERE strand_id = $1 ORDER BY seq', [writer.strandId])).rows;
    expect(rows).toEqual([
      { call_id: 'call-1', effect: 'allow', detail: { used: [[1]] } },
      { call_id: 'call-2', effect: 'allow', detail: { used: [[2]] } },
      { call_id: 'call-3', effect: 'deny', detail: { used: [[2]] } },
    ]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(batches.map((b) => b.size)).toEqual([1, 1, 1]);
    await writer.close();
    expect((await verifyLedger(connection)).ok).toBe(true);
  });

  it('counts calls of one batch in order, several counters all or none', async () => {
    const writer = new LedgerWriter(connection, { maxBatchDelayMs: 20 });
    const seen: LimitResult[][] = [];
    // Three calls in one batch, each adding to a shared global cap and its own agent counter.
    const appended = await Promise.all(
      [1, 2, 3].map((n) => writer.appendCounted(counted(10 + n, [[counter(`agent-${n}`, 5), counter('cap', 25, 10)]], seen))),
    );
    expect(new Set(appended.map((a) => a.seq)).size).toBe(3);
    expect(seen).toEqual([[{ exceeded: -1, used: [1, 10] }], [{ exceeded: -1, used: [1, 20] }], [{ exceeded: 1, used: [1, 20] }]]);
    expect(await used('cap')).toBe(20);
    // The refused call incremented nothing, not even its own agent counter (reported as it would have been).
    expect(await used('agent-3')).toBe(0);
    await writer.close();
  });

  it('rolls the counters back with a batch that fails: no counter moves without its decision', async () => {
    await asSuperuser(database.url, `CREATE FUNCTION counted_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.call_id = 'call-66' THEN RAISE EXCEPTION 'poisoned decision'; END IF; RETURN NEW; END $$`);
    await asSuperuser(database.url, 'CREATE TRIGGER counted_test_poison BEFORE INSERT ON ledger_events FOR EACH ROW EXECUTE FUNCTION counted_test_poison()');
    try {
      const writer = new LedgerWriter(connection, { maxBatchDelayMs: 20 });
      const settled = await Promise.allSettled([65, 66, 67].map((n) => writer.appendCounted(counted(n, [[counter('poisoned', 10)]]))));
      expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(((settled[0] as PromiseRejectedResult).reason as LedgerError).message).toMatch(/poisoned decision/);
      expect(await used('poisoned')).toBeUndefined();
      expect((await asSuperuser(database.url, 'SELECT call_id FROM ledger_events WHERE strand_id = $1', [writer.strandId])).rows).toEqual([]);
      // The strand goes on, counting from where the database really is.
      await writer.appendCounted(counted(68, [[counter('poisoned', 10)]]));
      expect(await used('poisoned')).toBe(1);
      await writer.close();
    } finally {
      await asSuperuser(database.url, 'DROP TRIGGER counted_test_poison ON ledger_events');
    }
    expect((await verifyLedger(connection)).ok).toBe(true);
  });

  it('rolls back and rejects the batch when the event cannot be built from the counters', async () => {
    const writer = new LedgerWriter(connection, { maxBatchDelayMs: 20 });
    const bad = {
      limits: [[counter('bad', 10)]],
      event: () => {
        throw new LedgerError('ledger.invalid_event', 'no decision');
      },
    };
    const [a, b] = await Promise.allSettled([writer.appendCounted(bad), writer.append(decision(70))]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(await used('bad')).toBeUndefined();
    expect((await writer.append(decision(71))).seq).toBe(1);
    await writer.close();
  });

  it('commits a deferred outcome with the next decision instead of on its own, and on its own after maxDeferMs', async () => {
    const batches: LedgerBatchInfo[] = [];
    const writer = new LedgerWriter(connection, { maxDeferMs: 200, observer: { batchCommitted: (b) => batches.push(b) } });
    await writer.append(decision(80));
    const out = writer.append(outcome(80), { defer: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(writer.pending).toBe(1);
    const next = await writer.append(decision(81));
    await out;
    // The outcome kept its place before the later decision, and both went in one batch.
    expect(next.seq).toBe(3);
    expect(batches.map((b) => b.size)).toEqual([1, 2]);
    const started = performance.now();
    await writer.append(outcome(81), { defer: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(batches.map((b) => b.size)).toEqual([1, 2, 1]);
    // flush() does not wait for company.
    const flushed = writer.append(outcome(82), { defer: true });
    const t0 = performance.now();
    await writer.flush();
    await flushed;
    expect(performance.now() - t0).toBeLessThan(150);
    await writer.close();
  });
});
