import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LedgerWriter,
  connectLedger,
  migrateLedger,
  openApprovalStore,
  type ApprovalRecorder,
  type ApprovalRequestInput,
  type LedgerConnection,
  type PostgresApprovalStore,
} from '../src/index.js';
import { startApprovalReplica, type ApprovalReplica } from './support/approval-replica-process.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from './support/postgres-test-database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

// Two gateway replicas as two real processes on one PostgreSQL database: the approval store's
// races (open, consume, expire) and its notifications, across processes.

const T0 = new Date('2026-01-05T10:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

let sequence = 0;
function request(overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  sequence++;
  return {
    server: 'ccxt',
    tool: 'withdraw',
    argsSha256: (0xabc000 + sequence).toString(16).padStart(64, '0'),
    agentId: 'trader-1',
    policyRevision: '3',
    policyDigest: 'f'.repeat(64),
    rule: 'tools.withdraw.action',
    sessionId: null,
    callId: `parent-${sequence}`,
    args: { amount: sequence },
    reason: 'withdrawals need a human',
    approvers: null,
    minApprovals: 1,
    requestedAt: T0,
    expiresAt: at(600_000),
    ...overrides,
  };
}

/** Resolves once `seen()` holds `id`, with how long that took (rejects after `ms`). */
function until(seen: () => string[], id: string, ms = 3000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (seen().includes(id)) {
        clearInterval(poll);
        resolve(performance.now() - started);
      } else if (performance.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`${id} not heard within ${ms} ms`));
      }
    }, 1);
  });
}

describe('approval store across two processes (PostgreSQL)', () => {
  let database: TestDatabase;
  let connection: LedgerConnection;
  let writer: LedgerWriter;
  let store: PostgresApprovalStore;
  let replica: ApprovalReplica;

  const record: ApprovalRecorder = async (r) => {
    await writer.append({
      type: r.status === 'expired' ? 'approval.expired' : 'approval.granted',
      approvalId: r.id,
      callId: r.callId,
      agentId: r.agentId,
      server: r.server,
      tool: r.tool,
      argsSha256: r.argsSha256,
      approver: r.votes.at(-1)?.approver ?? null,
      reason: null,
    });
  };
  const recorded = async (overrides: Partial<ApprovalRequestInput> = {}) => {
    const { record: r } = await store.open(request(overrides));
    await store.markRecorded(r.id);
    return r;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    connection = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(connection);
    writer = new LedgerWriter(connection, { maxBatchDelayMs: 0 });
    store = openApprovalStore(connection);
    replica = startApprovalReplica(database.url);
    await replica.ready;
  }, 60_000);

  afterAll(async () => {
    await replica?.close();
    await store?.close();
    await writer?.close();
    await connection?.close();
    await database?.drop();
  });

  it('two processes opening one binding at the same moment get one request', async () => {
    const input = request();
    const startAt = Date.now() + 300;
    const [child, mine] = await Promise.all([
      replica.send<{ results: Array<{ id: string; created: boolean }> }>('open', { input, count: 12, startAt }),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
        return Promise.all(Array.from({ length: 12 }, (_, i) => store.open({ ...input, callId: `parent-open-${i}` })));
      })(),
    ]);
    const all = [...child.results, ...mine.map((r) => ({ id: r.record.id, created: r.created }))];
    expect(all.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(all.map((r) => r.id)).size).toBe(1);
  });

  it('a grant is used by exactly one call of the two processes', async () => {
    const r = await recorded();
    expect(await store.decide(r.id, { approver: 'alice', decision: 'grant', reason: null, at: at(1000) }, at(1000), record)).toMatchObject({ ok: true });
    const startAt = Date.now() + 300;
    const [child, mine] = await Promise.all([
      replica.send<{ won: string[] }>('consume', { id: r.id, count: 25, now: at(2000), startAt }),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
        const won = await Promise.all(Array.from({ length: 25 }, (_, i) => store.consume(r.id, `parent-${i}`, at(2000))));
        return won.flatMap((ok, i) => (ok ? [`parent-${i}`] : []));
      })(),
    ]);
    const winners = [...child.won, ...mine];
    expect(winners).toHaveLength(1);
    expect((await store.get(r.id))!).toMatchObject({ status: 'consumed', consumedByCall: winners[0] });
  });

  it('two processes expiring at once record each expiry exactly once, each in its own strand', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await recorded({ expiresAt: at(60_000 + i) })).id);
    const startAt = Date.now() + 300;
    const [child, mine] = await Promise.all([
      replica.send<{ expired: string[] }>('expire', { now: at(120_000), startAt }),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
        return (await store.expire(at(120_000), record)).map((r) => r.id);
      })(),
    ]);
    expect([...child.expired, ...mine].sort()).toEqual([...ids].sort());
    // It was a race: both processes expired some of them.
    expect(child.expired.length).toBeGreaterThan(0);
    expect(mine.length).toBeGreaterThan(0);
    const { rows } = await connection.execute<{ approval_id: string; n: number }>(
      "SELECT approval_id, count(*)::int AS n FROM ledger_events WHERE event_type = 'approval.expired' AND approval_id = ANY($1::text[]) GROUP BY approval_id",
      [ids],
    );
    expect(rows).toHaveLength(ids.length);
    expect(rows.every((row) => row.n === 1)).toBe(true);
    const strands = await connection.execute<{ n: number }>(
      "SELECT count(DISTINCT strand_id)::int AS n FROM ledger_events WHERE event_type = 'approval.expired' AND approval_id = ANY($1::text[])",
      [ids],
    );
    expect(strands.rows).toEqual([{ n: 2 }]);
    for (const id of ids) expect((await store.get(id))!.status).toBe('expired');
  });

  it('a change in one process wakes the other within milliseconds, both ways', async () => {
    await replica.send('subscribe');
    const r = await recorded();
    expect(await until(() => replica.notified.map((n) => n.id), r.id)).toBeLessThan(500);

    const mine: string[] = [];
    const stop = await store.subscribe((id) => mine.push(id));
    try {
      const t0 = performance.now();
      const child = await replica.send<{ result: { ok: boolean } }>('decide', { id: r.id, vote: { approver: 'bob', decision: 'grant', reason: null, at: at(1000) }, now: at(1000) });
      expect(child.result.ok).toBe(true);
      await until(() => mine, r.id);
      expect(performance.now() - t0).toBeLessThan(500);
      // The grant's ledger event, written by the other process's strand, was committed first.
      const { rows } = await connection.execute<{ approver: string }>("SELECT approver FROM ledger_events WHERE approval_id = $1 AND event_type = 'approval.granted'", [r.id]);
      expect(rows).toEqual([{ approver: 'bob' }]);
    } finally {
      await stop();
    }
  });
});

describe('the LISTEN session survives a lost connection (PostgreSQL)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let direct: LedgerConnection;
  let viaProxy: LedgerConnection;
  let changer: PostgresApprovalStore;
  let listener: PostgresApprovalStore;
  const heard: string[] = [];
  let stop: () => Promise<void>;

  beforeAll(async () => {
    database = await createTestDatabase();
    direct = await connectLedger({ databaseUrl: database.url });
    await migrateLedger(direct);
    proxy = await startTcpProxy(5432);
    viaProxy = await connectLedger({ databaseUrl: database.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`), connectTimeoutMs: 500, statementTimeoutMs: 500 });
    changer = openApprovalStore(direct);
    listener = openApprovalStore(viaProxy, { heartbeatMs: 150, applicationName: 'tollgate-approvals-proxied' });
    stop = await listener.subscribe((id) => heard.push(id));
  }, 60_000);

  afterAll(async () => {
    await stop?.();
    await listener?.close();
    await changer?.close();
    await viaProxy?.close();
    await direct?.close();
    await proxy?.close();
    await database?.drop();
  });

  const change = async (): Promise<string> => (await changer.open(request())).record.id;

  it('listens again after an administrator terminates the session', async () => {
    const before = await change();
    await until(() => heard, before);
    const terminated = await asSuperuser<{ pid: number }>(
      database.url,
      "SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tollgate-approvals-proxied-listen'",
    );
    expect(terminated.rows).toHaveLength(1);
    // Changes right after the loss arrive: through the new session, or its catch-up read.
    const after = await change();
    await until(() => heard, after, 5000);
    const later = await change();
    expect(await until(() => heard, later, 2000)).toBeLessThan(1000);
  });

  it('notices a session that went silent, and listens on a new one', async () => {
    const before = await change();
    await until(() => heard, before);
    // The session stays open but nothing comes through it any more: only the heartbeat can tell.
    proxy.silenceOpenConnections();
    const missed = await change();
    const ms = await until(() => heard, missed, 5000);
    expect(ms).toBeGreaterThan(100);
    const next = await change();
    expect(await until(() => heard, next, 2000)).toBeLessThan(1000);
  });

  it('catches up on what changed while the database was unreachable or the network dropped everything', async () => {
    for (const mode of ['refuse', 'blackhole'] as const) {
      await proxy.setMode(mode);
      // Long enough for the heartbeat to notice a silent network (150 ms) and give up on it.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const missed = await change();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard, mode).not.toContain(missed);
      await proxy.setMode('forward');
      await until(() => heard, missed, 8000);
      const next = await change();
      await until(() => heard, next, 3000);
    }
  });
});

describe('store sessions belong to their ledger connection (PostgreSQL)', () => {
  it('closing the connection closes a store it opened, LISTEN session and pool included', async () => {
    const database = await createTestDatabase();
    try {
      const connection = await connectLedger({ databaseUrl: database.url });
      await migrateLedger(connection);
      const store = openApprovalStore(connection, { applicationName: 'tollgate-approvals-owned' });
      await store.subscribe(() => {});
      await store.list();
      const sessions = async () =>
        (
          await asSuperuser<{ name: string }>(
            database.url,
            "SELECT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'tollgate-approvals-owned%' ORDER BY 1",
          )
        ).rows.map((r) => r.name);
      expect(await sessions()).toEqual(['tollgate-approvals-owned', 'tollgate-approvals-owned-listen']);
      await connection.close();
      const deadline = Date.now() + 3000;
      while ((await sessions()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await sessions()).toEqual([]);
      await expect(store.get('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'ledger.closed' });
      await store.close();
    } finally {
      await database.drop();
    }
  });
});
