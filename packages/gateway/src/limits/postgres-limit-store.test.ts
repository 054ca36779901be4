import { MemoryLimitStore, compilePolicy, type LimitRequest } from '@tollgate/policy';
import { connectLedger, migrateLedger } from '@tollgate/ledger';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/database.js';
import { PostgresLimitStore } from './postgres-limit-store.js';

describe('PostgreSQL limit store', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresLimitStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    const connection = await connectLedger({ databaseUrl: db.url });
    try {
      await migrateLedger(connection);
    } finally {
      await connection.close();
    }
    pool = new pg.Pool({ connectionString: db.url, max: 8 });
    // Idle clients are terminated when the test database is dropped.
    pool.on('error', () => undefined);
    store = new PostgresLimitStore(pool, { sweepIntervalMs: 0 });
  }, 60_000);

  afterAll(async () => {
    store?.close();
    await pool?.end();
    await db?.drop();
  });

  const req = (key: string, amount: number, max: number, windowStart = 0, windowEnd = 60_000): LimitRequest => ({ key, amount, max, windowStart, windowEnd });

  it('admits while every counter fits, all-or-nothing', async () => {
    const k = `a\u0000${Math.random()}`;
    expect(await store.acquire([req(k, 1, 2), req(`${k}b`, 5, 5)], 0)).toEqual({ exceeded: -1, used: [1, 5] });
    // The second counter is full: nothing is incremented, not even the first.
    expect(await store.acquire([req(k, 1, 2), req(`${k}b`, 1, 5)], 0)).toEqual({ exceeded: 1, used: [2, 5] });
    expect(await store.acquire([req(k, 1, 2)], 0)).toEqual({ exceeded: -1, used: [2] });
    expect(await store.acquire([req(k, 1, 2)], 0)).toEqual({ exceeded: 0, used: [2] });
    // A new window starts from zero.
    expect(await store.acquire([req(k, 1, 2, 60_000, 120_000)], 60_000)).toEqual({ exceeded: -1, used: [1] });
  });

  it('answers exactly like the in-memory store (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ key: fc.constantFrom('x', 'y', 'z'), amount: fc.constantFrom(0, 1, 2, 0.5), max: fc.constantFrom(1, 3, 5) }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        async (calls) => {
          const prefix = `p${Math.random()}\u0000`;
          const memory = new MemoryLimitStore();
          for (const call of calls) {
            const requests = call.map((c) => req(prefix + c.key, c.amount, c.max));
            expect(await store.acquire(requests, 0)).toEqual(memory.acquire(requests, 0));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('never admits more than the max under concurrent callers on separate connections', async () => {
    const key = `race\u0000${Math.random()}`;
    const otherPool = new pg.Pool({ connectionString: db.url, max: 8 });
    otherPool.on('error', () => undefined);
    const other = new PostgresLimitStore(otherPool, { sweepIntervalMs: 0 });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? store : other).acquire([req(key, 1, 17), req(`${key}:all`, 1, 1000)], 0)));
    expect(results.filter((r) => r.exceeded === -1)).toHaveLength(17);
    other.close();
    await otherPool.end();
  });

  it('admits exactly the max of a single counter under concurrency, and refuses an amount over the max', async () => {
    const key = `one\u0000${Math.random()}`;
    const results = await Promise.all(Array.from({ length: 60 }, () => store.acquire([req(key, 1, 17)], 0)));
    expect(results.filter((r) => r.exceeded === -1)).toHaveLength(17);
    expect(results.filter((r) => r.exceeded === 0).every((r) => r.used[0] === 17)).toBe(true);
    expect(await store.acquire([req(`${key}:big`, 9, 5)], 0)).toEqual({ exceeded: 0, used: [0] });
  });

  it('backs a compiled policy through decideAsync', async () => {
    const policy = compilePolicy({ version: '1', default: 'allow', tools: { t: { rate_limit: { max: 2, window: 'minute' } } } }, { server: `s${Math.random()}`, limits: store });
    const effects: string[] = [];
    for (let i = 0; i < 3; i++) effects.push((await policy.decideAsync({ tool: 't', agent: { id: 'a' } })).effect);
    expect(effects).toEqual(['allow', 'allow', 'deny']);
  });

  it('checks at start-up that the counters exist, naming the fix when they do not', async () => {
    await expect(store.check()).resolves.toBeUndefined();
    const bare = await createTestDatabase();
    const barePool = new pg.Pool({ connectionString: bare.url, max: 1 });
    barePool.on('error', () => undefined);
    try {
      await expect(new PostgresLimitStore(barePool, { sweepIntervalMs: 0 }).check()).rejects.toThrow(/no limit counters .*run `tollgate ledger migrate`/);
    } finally {
      await barePool.end();
      await bare.drop();
    }
  });

  it('sweeps counters of long-ended windows', async () => {
    await store.acquire([req(`old${Math.random()}`, 1, 5, 0, 1000)], 0);
    expect(await store.sweep(2 * 86_400_000)).toBeGreaterThan(0);
  });
});
