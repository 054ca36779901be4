import type { PGlite } from '@electric-sql/pglite';
import { MemoryLimitStore, compilePolicy, type LimitRequest } from '@tollgate/policy';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedPglite } from '../../test/support/pglite-test-template.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres-test-database.js';
import { startTcpProxy } from '../../test/support/tcp-proxy.js';
import { connectLedger } from '../database/connect-ledger.js';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { migrateLedger } from '../migration/ledger-migrator.js';
import { PostgresLimitStore, openLimitStore } from './postgres-limit-store.js';

/** A migrated ledger database on one backend, with a second connection to it. */
interface LimitBackend {
  readonly name: string;
  open(): Promise<{ connection: LedgerConnection; second(): Promise<LedgerConnection>; bare(): Promise<{ connection: LedgerConnection; dispose(): Promise<void> }>; dispose(): Promise<void> }>;
}

const postgres: LimitBackend = {
  name: 'PostgreSQL',
  async open() {
    const db: TestDatabase = await createTestDatabase();
    const connection = await connectLedger({ databaseUrl: db.url });
    await migrateLedger(connection);
    const extra: LedgerConnection[] = [];
    return {
      connection,
      second: async () => {
        const other = await connectLedger({ databaseUrl: db.url });
        extra.push(other);
        return other;
      },
      // An empty database: nobody ran `tollgate ledger migrate`.
      bare: async () => {
        const empty = await createTestDatabase();
        const bareConnection = await connectLedger({ databaseUrl: empty.url });
        return { connection: bareConnection, dispose: async () => (await bareConnection.close(), await empty.drop()) };
      },
      dispose: async () => {
        for (const c of extra) await c.close();
        await connection.close();
        await db.drop();
      },
    };
  },
};

const pglite: LimitBackend = {
  name: 'PGlite',
  async open() {
    const database: PGlite = await openMigratedPglite();
    const connection = await connectLedger({ pglite: database });
    return {
      connection,
      // PGlite is one session: a second store shares it.
      second: async () => connection,
      // A ledger whose limit counters are gone (a ledger older than migration 0010 looks the same).
      bare: async () => {
        const copy = await openMigratedPglite();
        const bareConnection = await connectLedger({ pglite: copy });
        await bareConnection.execute('DROP FUNCTION limit_acquire(text[], double precision[], double precision[], bigint[], bigint[]); DROP TABLE limit_counters');
        return { connection: bareConnection, dispose: async () => (await bareConnection.close(), await copy.close()) };
      },
      dispose: async () => {
        await connection.close();
        await database.close();
      },
    };
  },
};

describe.each([postgres, pglite])('limit store on $name', (backend) => {
  let ledger: Awaited<ReturnType<LimitBackend['open']>>;
  let store: PostgresLimitStore;

  beforeAll(async () => {
    ledger = await backend.open();
    store = openLimitStore(ledger.connection, { sweepIntervalMs: 0 });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await ledger?.dispose();
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
    const other = openLimitStore(await ledger.second(), { sweepIntervalMs: 0 });
    try {
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? store : other).acquire([req(key, 1, 17), req(`${key}:all`, 1, 1000)], 0)));
      expect(results.filter((r) => r.exceeded === -1)).toHaveLength(17);
    } finally {
      await other.close();
    }
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
    const bare = await ledger.bare();
    const unmigrated = openLimitStore(bare.connection, { sweepIntervalMs: 0 });
    try {
      await expect(unmigrated.check()).rejects.toMatchObject({ code: 'ledger.not_migrated', message: expect.stringMatching(/no limit counters .*run `tollgate ledger migrate`/) });
      await expect(unmigrated.acquire([req('k', 1, 5), req('l', 1, 5)], 0)).rejects.toMatchObject({ code: 'ledger.not_migrated' });
    } finally {
      await unmigrated.close();
      await bare.dispose();
    }
  });

  it('sweeps counters of long-ended windows', async () => {
    await store.acquire([req(`old${Math.random()}`, 1, 5, 0, 1000)], 0);
    expect(await store.sweep(2 * 86_400_000)).toBeGreaterThan(0);
  });

  it('sweeps on its own at the interval, by its clock', async () => {
    const key = `clocked${Math.random()}`;
    await store.acquire([req(key, 1, 5, 0, 1000)], 0);
    const sweeping = openLimitStore(ledger.connection, { sweepIntervalMs: 20, now: () => 3 * 86_400_000 });
    try {
      const deadline = Date.now() + 5000;
      let left = 1;
      while (left > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { rows } = await ledger.connection.execute<{ n: number }>('SELECT count(*)::int AS n FROM limit_counters WHERE counter_key = $1', [JSON.stringify(key)]);
        left = rows[0]!.n;
      }
      expect(left).toBe(0);
    } finally {
      await sweeping.close();
    }
  });
});

describe('limit store on a PostgreSQL database that stops answering', () => {
  it('fails a call within the statement timeout instead of hanging, and recovers', async () => {
    const db = await createTestDatabase();
    const direct = await connectLedger({ databaseUrl: db.url });
    await migrateLedger(direct);
    await direct.close();
    const proxy = await startTcpProxy(5432);
    const connection = await connectLedger({ databaseUrl: db.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`), statementTimeoutMs: 300 });
    const store = openLimitStore(connection, { sweepIntervalMs: 0 });
    try {
      const req: LimitRequest = { key: 'k', amount: 1, max: 5, windowStart: 0, windowEnd: 60_000 };
      expect(await store.acquire([req], 0)).toEqual({ exceeded: -1, used: [1] });
      await proxy.setMode('blackhole');
      const t0 = performance.now();
      await expect(store.acquire([req], 0)).rejects.toMatchObject({ code: 'ledger.unavailable', message: expect.stringContaining("checking a call's limits") });
      expect(performance.now() - t0).toBeLessThan(3000);
      await proxy.setMode('forward');
      expect(await store.acquire([req], 0)).toEqual({ exceeded: -1, used: [2] });
    } finally {
      await store.close();
      await connection.close();
      await proxy.close();
      await db.drop();
    }
  });
});
