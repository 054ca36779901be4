import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  openApprovalDeliveryStore,
  openApprovalStore,
  type ApprovalDeliveryInput,
  type ApprovalDeliveryStore,
  type ApprovalStore,
  type ClaimedDelivery,
  type LedgerConnection,
} from '../../src/index.js';
import type { TestBackend, TestLedger } from '../support/ledger-test-backend.js';

/** One database shared by the tests of the delivery suite, and fresh ones for the few that need a whole database. */
export interface ApprovalDeliveryContext {
  readonly backend: TestBackend;
  readonly ledger: TestLedger;
  fresh(): Promise<TestLedger>;
}

const LEASE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const answered = (statusCode: number, error: string | null = statusCode >= 300 ? `HTTP ${statusCode}` : null) => ({
  startedAt: new Date(),
  durationMs: 12,
  statusCode,
  error,
});

let sequence = 0;

/**
 * The approval delivery store (`approvals.notify`): a delivery is created once whoever asks,
 * each attempt is claimed by one replica, a replica that stops mid-delivery is taken over, and
 * every attempt is on the record — each guarantee attacked the way a racing replica would.
 * The tests share one database: each works on requests of its own and on receivers named for
 * it, so one test's due deliveries are never another's.
 */
export function approvalDeliverySuite(ctx: ApprovalDeliveryContext): void {
  let approvals: ApprovalStore;
  let store: ApprovalDeliveryStore;
  let receiver: string;
  const others: ApprovalDeliveryStore[] = [];
  const connections: LedgerConnection[] = [];

  beforeEach(() => {
    approvals = openApprovalStore(ctx.ledger.connection);
    store = openApprovalDeliveryStore(ctx.ledger.connection);
    receiver = `hook-${++sequence}`;
  });
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await store.close();
    await approvals.close();
    for (const connection of connections.splice(0)) await connection.close();
  });

  /** A store on a second connection to the same database, as another replica has (PGlite: its one session). */
  const otherStore = async (): Promise<ApprovalDeliveryStore> => {
    const connection = await ctx.ledger.reconnect();
    if (connection !== ctx.ledger.connection) connections.push(connection);
    const other = openApprovalDeliveryStore(connection);
    others.push(other);
    return other;
  };

  /** An approval request of the test's own (deliveries refer to one). */
  const approval = async (): Promise<string> => {
    sequence++;
    const now = Date.now();
    const { record } = await approvals.open({
      server: 'ccxt',
      tool: 'cancel_order',
      argsSha256: randomUUID().replace(/-/g, '').padEnd(64, '0'),
      agentId: 'trader-1',
      policyRevision: '7',
      policyDigest: 'd'.repeat(64),
      rule: 'tools.cancel_order.action',
      sessionId: null,
      callId: `call-${sequence}`,
      args: { id: String(sequence) },
      reason: 'cancelling needs a human',
      approvers: null,
      minApprovals: 1,
      requestedAt: new Date(now),
      expiresAt: new Date(now + 600_000),
    });
    return record.id;
  };

  const delivery = (approvalId: string, overrides: Partial<ApprovalDeliveryInput> = {}): ApprovalDeliveryInput => ({
    id: randomUUID(),
    approvalId,
    event: 'requested',
    approver: null,
    receiver,
    format: 'json',
    payload: JSON.stringify({ event: 'approval.requested', approval: { id: approvalId } }),
    maxAttempts: 6,
    ...overrides,
  });

  it('creates a delivery once: the creator holds its first attempt, anyone asking again gets nothing', async () => {
    const id = await approval();
    const input = delivery(id);
    const claim = await store.create(input, { owner: 'replica-a', leaseMs: LEASE });
    expect(claim).toEqual({ id: input.id, approvalId: id, event: 'requested', approver: null, receiver, payload: input.payload, attempt: 1, maxAttempts: 6 });
    // The same event for the same receiver, whatever its id or body, from another replica.
    const other = await otherStore();
    expect(await other.create({ ...input, id: randomUUID(), payload: '{"other":true}' }, { owner: 'replica-b', leaseMs: LEASE })).toBeUndefined();
    expect(await store.create(input)).toBeUndefined();
    const [listed, ...rest] = await other.list(id);
    expect(rest).toEqual([]);
    expect(listed).toMatchObject({ id: input.id, status: 'pending', inProgress: true, attempts: [], note: null, format: 'json', maxAttempts: 6 });
    // Nobody else may claim the attempt the creator holds.
    expect(await other.claimDue([receiver], 'replica-b', LEASE, 10)).toEqual([]);
  });

  it('tells each vote and each receiver apart, and no more', async () => {
    const id = await approval();
    const made = await Promise.all([
      store.create(delivery(id, { event: 'granted', approver: 'alice' })),
      store.create(delivery(id, { event: 'granted', approver: 'bob' })),
      store.create(delivery(id, { event: 'denied', approver: 'alice' })),
      store.create(delivery(id, { receiver: `${receiver}-slack`, format: 'slack' })),
      store.create(delivery(id)),
    ]);
    expect(made.every((m) => m !== undefined)).toBe(true);
    expect(await store.create(delivery(id, { event: 'granted', approver: 'alice' }))).toBeUndefined();
    const listed = await store.list(id);
    expect(listed.map((d) => [d.event, d.approver, d.receiver]).sort()).toEqual(
      [
        ['denied', 'alice', receiver],
        ['granted', 'alice', receiver],
        ['granted', 'bob', receiver],
        ['requested', null, receiver],
        ['requested', null, `${receiver}-slack`],
      ].sort(),
    );
    // Unclaimed deliveries are due at once, not in progress.
    expect(listed.every((d) => d.status === 'pending' && !d.inProgress && d.nextAttemptAt !== null)).toBe(true);
  });

  it('records every attempt and schedules the next one: 500, then a timeout, then 200', async () => {
    const id = await approval();
    const first = (await store.create(delivery(id), { owner: 'replica-a', leaseMs: LEASE }))!;
    await store.finish(first, 'replica-a', answered(500), { kind: 'retry', delayMs: 60_000 });
    let [d] = await store.list(id);
    expect(d).toMatchObject({ status: 'pending', inProgress: false, attempts: [{ attempt: 1, statusCode: 500, error: 'HTTP 500', replica: 'replica-a', durationMs: 12 }] });
    expect(d!.nextAttemptAt!.getTime() - d!.createdAt.getTime()).toBeGreaterThan(55_000);
    // Not due yet: nobody claims it.
    expect(await store.claimDue([receiver], 'replica-a', LEASE, 10)).toEqual([]);

    await ctx.ledger.superuser("UPDATE approval_deliveries SET next_attempt_at = now() - interval '1 second' WHERE approval_id = $1", [id]);
    const [second] = await store.claimDue([receiver], 'replica-b', LEASE, 10);
    expect(second).toMatchObject({ id: first.id, attempt: 2, payload: first.payload });
    await store.finish(second!, 'replica-b', { startedAt: new Date(), durationMs: 5000, statusCode: null, error: 'timed out after 5000 ms' }, { kind: 'retry', delayMs: 0 });
    const [third] = await store.claimDue([receiver], 'replica-a', LEASE, 10);
    expect(third!.attempt).toBe(3);
    await store.finish(third!, 'replica-a', answered(200), { kind: 'delivered' });

    [d] = await store.list(id);
    expect(d).toMatchObject({ status: 'delivered', inProgress: false, nextAttemptAt: null });
    expect(d!.finishedAt).toBeInstanceOf(Date);
    expect(d!.attempts.map((a) => [a.attempt, a.statusCode, a.error, a.replica])).toEqual([
      [1, 500, 'HTTP 500', 'replica-a'],
      [2, null, 'timed out after 5000 ms', 'replica-b'],
      [3, 200, null, 'replica-a'],
    ]);
    // Delivered is final.
    expect(await store.claimDue([receiver], 'replica-a', LEASE, 10)).toEqual([]);
  });

  it('fails a delivery after its last attempt', async () => {
    const id = await approval();
    const first = (await store.create(delivery(id, { maxAttempts: 2 }), { owner: 'a', leaseMs: LEASE }))!;
    await store.finish(first, 'a', answered(503), { kind: 'retry', delayMs: 0 });
    const [last] = await store.claimDue([receiver], 'a', LEASE, 10);
    expect(last!.attempt).toBe(2);
    await store.finish(last!, 'a', answered(404), { kind: 'failed' });
    const [d] = await store.list(id);
    expect(d).toMatchObject({ status: 'failed', nextAttemptAt: null });
    expect(d!.attempts.map((a) => a.statusCode)).toEqual([503, 404]);
    expect(await store.claimDue([receiver], 'a', LEASE, 10)).toEqual([]);
  });

  it('takes over an attempt whose replica stopped, once its lease ended, and never reuses its number', async () => {
    const id = await approval();
    const abandoned = (await store.create(delivery(id, { maxAttempts: 3 }), { owner: 'stopped', leaseMs: 150 }))!;
    const other = await otherStore();
    expect(await other.claimDue([receiver], 'survivor', LEASE, 10)).toEqual([]);
    await sleep(300);
    const [taken] = await other.claimDue([receiver], 'survivor', LEASE, 10);
    expect(taken).toMatchObject({ id: abandoned.id, attempt: 2 });
    // The stopped replica comes back and reports its attempt: it is on the record, but the
    // delivery is the survivor's now and does not move.
    await store.finish(abandoned, 'stopped', answered(200), { kind: 'delivered' });
    let [d] = await other.list(id);
    expect(d).toMatchObject({ status: 'pending', inProgress: true });
    expect(d!.attempts.map((a) => [a.attempt, a.replica])).toEqual([[1, 'stopped']]);
    await other.finish(taken!, 'survivor', answered(200), { kind: 'delivered' });
    [d] = await other.list(id);
    expect(d!.status).toBe('delivered');
    expect(d!.attempts.map((a) => [a.attempt, a.replica])).toEqual([
      [1, 'stopped'],
      [2, 'survivor'],
    ]);
  });

  it('gives up a delivery whose last attempt was cut off', async () => {
    const id = await approval();
    await store.create(delivery(id, { maxAttempts: 1 }), { owner: 'stopped', leaseMs: 100 });
    await sleep(200);
    expect(await store.claimDue([receiver], 'survivor', LEASE, 10)).toEqual([]);
    const [d] = await store.list(id);
    expect(d).toMatchObject({ status: 'failed', attempts: [], note: expect.stringContaining('cut off') });
  });

  it('claims only the receivers asked for, at most `limit`, each attempt by one replica', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => approval()));
    for (const id of ids) await store.create(delivery(id));
    await store.create(delivery(ids[0]!, { receiver: `${receiver}-elsewhere` }));
    const some = await store.claimDue([receiver], 'a', LEASE, 3);
    expect(some).toHaveLength(3);
    const rest = await store.claimDue([receiver, `${receiver}-unknown`], 'b', LEASE, 10);
    expect(rest).toHaveLength(2);
    expect(new Set([...some, ...rest].map((c) => c.approvalId))).toEqual(new Set(ids));
    expect(await store.claimDue([receiver], 'c', LEASE, 10)).toEqual([]);
    expect(await store.claimDue([], 'c', LEASE, 10)).toEqual([]);
    const [elsewhere] = await store.claimDue([`${receiver}-elsewhere`], 'c', LEASE, 10);
    expect(elsewhere?.approvalId).toBe(ids[0]);
  });

  it('lets racing replicas create and claim each delivery exactly once', async () => {
    const replicas = [store, await otherStore(), await otherStore()];
    const ids = await Promise.all(Array.from({ length: 12 }, () => approval()));
    // Every replica tries to create every delivery at once.
    const created = await Promise.all(
      ids.flatMap((id) => replicas.map((r, i) => r.create({ ...delivery(id), id: randomUUID() }, i === 0 ? { owner: 'r0', leaseMs: LEASE } : undefined))),
    );
    const made = created.filter((c): c is ClaimedDelivery => c !== undefined);
    expect(made).toHaveLength(ids.length);
    // Those created unclaimed are due: the replicas sweep at once, repeatedly.
    const unclaimed = made.filter((c) => c.attempt === 0).length;
    const claims = (await Promise.all(replicas.flatMap((r, i) => [0, 1, 2].map(() => r.claimDue([receiver], `r${i}`, LEASE, 4))))).flat();
    expect(claims).toHaveLength(unclaimed);
    expect(new Set(claims.map((c) => c.id)).size).toBe(unclaimed);
  });

  it('records a dropped delivery with why, and keeps it from being sent later', async () => {
    const id = await approval();
    const input = delivery(id);
    expect(await store.drop(input, 'the delivery queue is full (1000 waiting)')).toBe(true);
    expect(await store.drop({ ...input, id: randomUUID() }, 'again')).toBe(false);
    expect(await store.create({ ...input, id: randomUUID() }, { owner: 'a', leaseMs: LEASE })).toBeUndefined();
    expect(await store.claimDue([receiver], 'a', LEASE, 10)).toEqual([]);
    const [d] = await store.list(id);
    expect(d).toMatchObject({ id: input.id, status: 'dropped', note: 'the delivery queue is full (1000 waiting)', attempts: [], nextAttemptAt: null, inProgress: false });
  });

  it('refuses malformed deliveries and attempts, naming the field', async () => {
    const id = await approval();
    await expect(store.create(delivery(id, { approver: 'alice' }))).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"approver"') });
    await expect(store.create(delivery(id, { event: 'granted' }))).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"approver"') });
    await expect(store.create(delivery(id, { event: 'consumed' as never }))).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"event"') });
    await expect(store.create(delivery(id, { maxAttempts: 0 }))).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"maxAttempts"') });
    await expect(store.create(delivery(id, { approvalId: 'x' }))).rejects.toMatchObject({ code: 'ledger.invalid_delivery' });
    await expect(store.create(delivery(id), { owner: 'a', leaseMs: 0 })).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"leaseMs"') });
    const claim = (await store.create(delivery(id), { owner: 'a', leaseMs: LEASE }))!;
    await expect(store.finish(claim, 'a', { startedAt: new Date(), durationMs: 1, statusCode: null, error: null }, { kind: 'delivered' })).rejects.toMatchObject({
      code: 'ledger.invalid_delivery',
    });
    await expect(store.finish(claim, 'a', answered(700), { kind: 'delivered' })).rejects.toMatchObject({ code: 'ledger.invalid_delivery', message: expect.stringContaining('"statusCode"') });
    // A delivery for a request that does not exist is refused by the database.
    await expect(store.create(delivery(randomUUID()))).rejects.toMatchObject({ code: expect.stringMatching(/^ledger\./) });
  });

  it('keeps the rows consistent: the database refuses a state the store would never write', async () => {
    const id = await approval();
    const claim = (await store.create(delivery(id), { owner: 'a', leaseMs: LEASE }))!;
    await expect(ctx.ledger.superuser("UPDATE approval_deliveries SET status = 'delivered' WHERE id = $1", [claim.id])).rejects.toThrow(/approval_deliveries_pending/);
    await expect(ctx.ledger.superuser('UPDATE approval_deliveries SET attempts = 7 WHERE id = $1', [claim.id])).rejects.toThrow(/approval_deliveries_attempts/);
    await expect(ctx.ledger.superuser('UPDATE approval_deliveries SET lease_owner = NULL WHERE id = $1', [claim.id])).rejects.toThrow(/approval_deliveries_pending/);
    await expect(
      ctx.ledger.superuser("INSERT INTO approval_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, replica) VALUES ($1, 1, now(), 1, 200, 'x', 'a')", [claim.id]),
    ).rejects.toThrow(/approval_delivery_attempts_result/);
    await expect(
      ctx.ledger.superuser("INSERT INTO approval_deliveries (id, approval_id, event, approver, receiver, format, payload, max_attempts, next_attempt_at) VALUES ($1, $2, 'granted', '', 'r', 'json', '{}', 1, now())", [randomUUID(), id]),
    ).rejects.toThrow(/approval_deliveries_approver/);
  });

  it('lets tollgate_writer keep deliveries, and ledger_apply_roles grants them again', async () => {
    const asWriter = (statement: string) => ctx.ledger.superuser(`SET LOCAL ROLE tollgate_writer; ${statement}`);
    await expect(asWriter('SELECT count(*) FROM approval_deliveries')).resolves.toBeDefined();
    await expect(asWriter("UPDATE approval_delivery_attempts SET error = error WHERE false")).resolves.toBeDefined();
    await ctx.ledger.superuser('REVOKE ALL ON approval_deliveries, approval_delivery_attempts FROM tollgate_writer');
    await expect(asWriter('SELECT count(*) FROM approval_deliveries')).rejects.toThrow(/permission denied/);
    await ctx.ledger.superuser('SELECT ledger_apply_roles()');
    await expect(asWriter('SELECT count(*) FROM approval_deliveries')).resolves.toBeDefined();
    await expect(asWriter('SELECT count(*) FROM approval_requests')).resolves.toBeDefined();
    await expect(ctx.ledger.superuser('SET LOCAL ROLE tollgate_auditor; SELECT count(*) FROM approval_deliveries')).rejects.toThrow(/permission denied/);
  });

  it('names the fix when the database has no delivery tables', async () => {
    const own = await ctx.fresh();
    await own.superuser('DROP TABLE approval_delivery_attempts; DROP TABLE approval_deliveries');
    const unmigrated = openApprovalDeliveryStore(own.connection);
    try {
      await expect(unmigrated.check()).rejects.toMatchObject({ code: 'ledger.not_migrated', message: expect.stringContaining('tollgate ledger migrate') });
    } finally {
      await unmigrated.close();
    }
    await expect(store.check()).resolves.toBeUndefined();
  });
}
