import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  LedgerWriter,
  openApprovalStore,
  type ApprovalRecord,
  type ApprovalRecorder,
  type ApprovalRequestInput,
  type ApprovalStore,
  type LedgerConnection,
} from '../../src/index.js';
import type { TestBackend, TestLedger } from '../support/ledger-test-backend.js';

/** One database shared by the tests of the approval suite, and fresh ones for the few that need a whole database. */
export interface ApprovalContext {
  readonly backend: TestBackend;
  /** The ledger every test of the suite shares. */
  readonly ledger: TestLedger;
  /** A ledger of the test's own, disposed after it. */
  fresh(): Promise<TestLedger>;
}

// Tests share one database, so each lives in a time of its own: every test starts one day
// before the one before it, so that expiring "everything due by now" in a test never reaches a
// request of an earlier test (all of which expire later), and bindings never repeat.
let epoch = Date.parse('2026-01-05T10:00:00.000Z');
const at = (ms: number): Date => new Date(epoch + ms);
const TEN_MINUTES = 600_000;
const DIGEST = 'd'.repeat(64);

let sequence = 0;
/** A request input; each call binds a call of its own (distinct arguments) unless told otherwise. */
function request(overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  sequence++;
  return {
    server: 'ccxt',
    tool: 'cancel_order',
    argsSha256: sequence.toString(16).padStart(64, '0'),
    agentId: 'trader-1',
    policyRevision: '7',
    policyDigest: DIGEST,
    rule: 'tools.cancel_order.action',
    sessionId: 'session-1',
    callId: `call-${sequence}`,
    args: { exchange_id: 'binance', id: String(sequence), nested: { list: [1, 2.5, 'x', null, true] } },
    reason: 'cancelling needs a human',
    approvers: null,
    minApprovals: 1,
    requestedAt: at(0),
    expiresAt: at(TEN_MINUTES),
    ...overrides,
  };
}

const grant = (approver: string, ms = 1000, reason: string | null = null) => ({ approver, decision: 'grant' as const, reason, at: at(ms) });
const deny = (approver: string, ms = 1000, reason: string | null = 'no') => ({ approver, decision: 'deny' as const, reason, at: at(ms) });

/** Resolves once `listener` heard `id` (or rejects after `ms`). */
function heard(ids: string[], id: string, ms = 2000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (ids.includes(id)) {
        clearInterval(poll);
        resolve(performance.now() - started);
      } else if (performance.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`no notification for ${id} within ${ms} ms (heard ${JSON.stringify(ids)})`));
      }
    }, 1);
  });
}

/**
 * The approval store (DESIGN §5): opening and joining, votes, using a grant exactly once,
 * expiry, retiring, and notifications — each guarantee attacked the way a racing replica or a
 * careless caller would.
 */
export function approvalSuite(ctx: ApprovalContext): void {
  let store: ApprovalStore;
  let writer: LedgerWriter;
  const others: ApprovalStore[] = [];
  const connections: LedgerConnection[] = [];

  beforeEach(() => {
    epoch -= 86_400_000;
    store = openApprovalStore(ctx.ledger.connection);
    writer = new LedgerWriter(ctx.ledger.connection, { maxBatchDelayMs: 0 });
  });
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await store.close();
    await writer.close();
    for (const connection of connections.splice(0)) await connection.close();
  });

  /** A store on a second connection to the same database (PGlite: its one session). */
  const otherStore = async (): Promise<ApprovalStore> => {
    const connection: LedgerConnection = await ctx.ledger.reconnect();
    // PGlite answers with its one connection, which stays open.
    if (connection !== ctx.ledger.connection) connections.push(connection);
    const other = openApprovalStore(connection);
    others.push(other);
    return other;
  };

  /** Writes each transition's ledger event, as the gateway does, and counts the calls. */
  const recorder = (calls: ApprovalRecord[] = []): ApprovalRecorder => async (r) => {
    calls.push(r);
    const last = r.votes[r.votes.length - 1];
    await writer.append({
      type: r.status === 'expired' ? 'approval.expired' : last?.decision === 'deny' ? 'approval.denied' : 'approval.granted',
      approvalId: r.id,
      callId: r.callId,
      agentId: r.agentId,
      sessionId: r.sessionId,
      server: r.server,
      tool: r.tool,
      argsSha256: r.argsSha256,
      approver: r.status === 'expired' ? null : (last?.approver ?? null),
      reason: r.status === 'expired' ? 'expired' : (last?.reason ?? null),
    });
  };

  const opened = async (overrides: Partial<ApprovalRequestInput> = {}): Promise<ApprovalRecord> => {
    const { record } = await store.open(request(overrides));
    await store.markRecorded(record.id);
    return (await store.get(record.id))!;
  };

  const ledgerEvents = async (approvalId: string): Promise<Array<{ event_type: string; approver: string | null }>> =>
    (await ctx.ledger.connection.execute<{ event_type: string; approver: string | null }>(
      'SELECT event_type, approver FROM ledger_events WHERE approval_id = $1 ORDER BY seq',
      [approvalId],
    )).rows;

  it('opens a pending, unrecorded request bound to the call, and round-trips every field', async () => {
    const input = request({ approvers: ['desk-leads', 'alice'], minApprovals: 2, policyRevision: null, sessionId: null });
    const { record, created } = await store.open(input);
    expect(created).toBe(true);
    expect(record.id).toMatch(/^[0-9a-f-]{36}$/);
    const stored = await store.get(record.id);
    expect(stored).toEqual({
      ...input,
      id: record.id,
      status: 'pending',
      votes: [],
      decidedAt: null,
      consumedAt: null,
      consumedByCall: null,
      recorded: false,
      closedAt: null,
    });
    expect(record).toEqual(stored);
    expect(await store.current(input)).toEqual(stored);
    expect(await store.get('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await store.get('not-a-uuid')).toBeUndefined();
  });

  it('an identical call joins the current request; any difference in the binding opens another', async () => {
    const base = request();
    const first = await store.open(base);
    const again = await store.open({ ...base, callId: 'another-call', sessionId: 'another-session', reason: 'other', requestedAt: at(5) });
    expect(again).toEqual({ record: first.record, created: false });
    const variants: Array<Partial<ApprovalRequestInput>> = [
      { server: 'other' },
      { tool: 'other_tool' },
      { argsSha256: 'e'.repeat(64) },
      { agentId: 'trader-2' },
      { policyRevision: '8' },
      { policyRevision: null },
      { policyDigest: 'c'.repeat(64) },
      { rule: 'tools.cancel_order.approve_if[0]' },
    ];
    const ids = new Set([first.record.id]);
    for (const variant of variants) {
      const other = await store.open({ ...base, ...variant });
      expect(other.created, JSON.stringify(variant)).toBe(true);
      ids.add(other.record.id);
    }
    expect(ids.size).toBe(variants.length + 1);
    // A null revision is a binding of its own too, and joins itself.
    expect((await store.open({ ...base, policyRevision: null })).created).toBe(false);
  });

  it('two replicas opening the same binding at once get one request', async () => {
    const other = await otherStore();
    const input = request();
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? store : other).open({ ...input, callId: `racer-${i}` })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.record.id)).size).toBe(1);
    const rows = await ctx.ledger.superuser<{ n: number }>('SELECT count(*)::int AS n FROM approval_requests WHERE args_sha256 = $1', [input.argsSha256]);
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('refuses a vote before the request is recorded, and accepts it after', async () => {
    const { record } = await store.open(request());
    const calls: ApprovalRecord[] = [];
    expect(await store.decide(record.id, grant('alice'), at(1000), recorder(calls))).toMatchObject({ ok: false, reason: 'not_recorded' });
    expect(calls).toEqual([]);
    await store.markRecorded(record.id);
    await store.markRecorded(record.id); // idempotent
    expect(await store.decide(record.id, grant('alice'), at(1000), recorder(calls))).toMatchObject({ ok: true, record: { status: 'granted' } });
    await expect(store.markRecorded('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'ledger.approval_not_found' });
  });

  it('a grant decides once minApprovals distinct approvers granted; the ledger event is written first', async () => {
    const request2 = await opened({ minApprovals: 2 });
    const other = await otherStore();
    const seen: Array<{ status: string; eventsBefore: number }> = [];
    const recordAndLook: ApprovalRecorder = async (r) => {
      // The row has not changed yet when the event is written, even seen from elsewhere.
      const before = await other.get(r.id);
      await recorder()(r);
      seen.push({ status: before!.status, eventsBefore: before!.votes.length });
    };
    const first = await store.decide(request2.id, grant('alice', 1000, 'looks fine'), at(1000), recordAndLook);
    expect(first).toMatchObject({ ok: true, record: { status: 'pending', decidedAt: null, votes: [{ approver: 'alice', decision: 'grant', reason: 'looks fine', at: at(1000) }] } });
    expect(await store.decide(request2.id, grant('alice', 1500), at(1500), recordAndLook)).toMatchObject({ ok: false, reason: 'duplicate_vote' });
    const second = await store.decide(request2.id, grant('bob', 2000), at(2000), recordAndLook);
    expect(second).toMatchObject({ ok: true, record: { status: 'granted', decidedAt: at(2000) } });
    expect(seen).toEqual([
      { status: 'pending', eventsBefore: 0 },
      { status: 'pending', eventsBefore: 1 },
    ]);
    const stored = await store.get(request2.id);
    expect(stored).toEqual(second.ok ? second.record : undefined);
    expect(stored!.votes.map((v) => [v.approver, v.decision, v.at.toISOString()])).toEqual([
      ['alice', 'grant', at(1000).toISOString()],
      ['bob', 'grant', at(2000).toISOString()],
    ]);
    expect(await ledgerEvents(request2.id)).toEqual([
      { event_type: 'approval.granted', approver: 'alice' },
      { event_type: 'approval.granted', approver: 'bob' },
    ]);
    expect(await store.decide(request2.id, grant('carol', 3000), at(3000), recorder())).toMatchObject({ ok: false, reason: 'already_decided', record: { status: 'granted' } });
  });

  it('a deny decides at once, even after grants; later votes are refused', async () => {
    const r = await opened({ minApprovals: 3 });
    await store.decide(r.id, grant('alice'), at(1000), recorder());
    const denied = await store.decide(r.id, deny('bob', 1100, 'wrong account'), at(1100), recorder());
    expect(denied).toMatchObject({ ok: true, record: { status: 'denied', decidedAt: at(1100) } });
    expect(await store.decide(r.id, grant('carol'), at(1200), recorder())).toMatchObject({ ok: false, reason: 'already_decided' });
    expect(await store.decide(r.id, deny('dave'), at(1200), recorder())).toMatchObject({ ok: false, reason: 'already_decided' });
    expect(await ledgerEvents(r.id)).toEqual([
      { event_type: 'approval.granted', approver: 'alice' },
      { event_type: 'approval.denied', approver: 'bob' },
    ]);
  });

  it('refuses the requesting agent as its own approver, and a vote at or after the expiry', async () => {
    const r = await opened({ agentId: 'trader-1' });
    const calls: ApprovalRecord[] = [];
    expect(await store.decide(r.id, grant('trader-1'), at(1000), recorder(calls))).toMatchObject({ ok: false, reason: 'self_approval' });
    expect(await store.decide(r.id, deny('trader-1'), at(1000), recorder(calls))).toMatchObject({ ok: false, reason: 'self_approval' });
    expect(await store.decide(r.id, grant('alice', TEN_MINUTES), at(TEN_MINUTES), recorder(calls))).toMatchObject({ ok: false, reason: 'expired' });
    expect(await store.decide('00000000-0000-4000-8000-000000000000', grant('alice'), at(1000), recorder(calls))).toEqual({ ok: false, reason: 'not_found' });
    expect(await store.decide('../etc', grant('alice'), at(1000), recorder(calls))).toEqual({ ok: false, reason: 'not_found' });
    expect(calls).toEqual([]);
    expect((await store.get(r.id))!).toMatchObject({ status: 'pending', votes: [] });
    expect(await ledgerEvents(r.id)).toEqual([]);
  });

  it('changes nothing when the ledger event cannot be written, and says why', async () => {
    const r = await opened();
    const failure = new Error('ledger is down');
    await expect(store.decide(r.id, grant('alice'), at(1000), async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(await store.get(r.id)).toEqual(r);
    // Nothing was half-done: the same vote goes through once the ledger is back.
    expect(await store.decide(r.id, grant('alice'), at(1000), recorder())).toMatchObject({ ok: true, record: { status: 'granted' } });
  });

  it('counts concurrent votes of distinct approvers on two replicas exactly', async () => {
    const other = await otherStore();
    const r = await opened({ minApprovals: 3 });
    const calls: ApprovalRecord[] = [];
    const approvers = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    const results = await Promise.all(approvers.map((a, i) => (i % 2 ? store : other).decide(r.id, grant(a), at(1000), recorder(calls))));
    expect(results.filter((x) => x.ok)).toHaveLength(3);
    expect(results.filter((x) => !x.ok).map((x) => !x.ok && x.reason)).toEqual(['already_decided', 'already_decided', 'already_decided']);
    expect(calls).toHaveLength(3);
    const stored = (await store.get(r.id))!;
    expect(stored.status).toBe('granted');
    expect(stored.votes).toHaveLength(3);
    expect(await ledgerEvents(r.id)).toHaveLength(3);
    // The same approver voting on two replicas at once is counted once.
    const r2 = await opened({ minApprovals: 2 });
    const same = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? store : other).decide(r2.id, grant('alice'), at(1000), recorder())));
    expect(same.filter((x) => x.ok)).toHaveLength(1);
    expect(same.filter((x) => !x.ok && x.reason === 'duplicate_vote')).toHaveLength(5);
    expect((await store.get(r2.id))!.votes).toHaveLength(1);
  });

  it('uses a grant exactly once across replicas, only while unexpired, and closes the request', async () => {
    const other = await otherStore();
    const pending = await opened();
    expect(await store.consume(pending.id, 'call-x', at(1000))).toBe(false);
    const r = await opened();
    await store.decide(r.id, grant('alice'), at(1000), recorder());
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).consume(r.id, `consumer-${i}`, at(2000))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = `consumer-${results.indexOf(true)}`;
    const stored = (await store.get(r.id))!;
    expect(stored).toMatchObject({ status: 'consumed', consumedAt: at(2000), consumedByCall: winner, closedAt: at(2000) });
    expect(await store.consume(r.id, 'late', at(2001))).toBe(false);
    expect(await store.current(r)).toBeUndefined();
    // The next identical call needs an approval of its own.
    const next = await store.open({ ...request(), ...bindingOf(r) });
    expect(next.created).toBe(true);
    expect(next.record.id).not.toBe(r.id);
    // A grant is not usable at or after its expiry.
    const late = await opened();
    await store.decide(late.id, grant('alice'), at(1000), recorder());
    expect(await store.consume(late.id, 'call-late', at(TEN_MINUTES))).toBe(false);
    expect(await store.consume('not-a-uuid', 'call', at(1000))).toBe(false);
  });

  it('gives a used grant back only for the call that used it', async () => {
    const r = await opened();
    await store.decide(r.id, grant('alice'), at(1000), recorder());
    expect(await store.consume(r.id, 'call-a', at(2000))).toBe(true);
    await store.release(r.id, 'call-b');
    expect((await store.get(r.id))!).toMatchObject({ status: 'consumed', consumedByCall: 'call-a' });
    await store.release(r.id, 'call-a');
    expect((await store.get(r.id))!).toMatchObject({ status: 'granted', consumedAt: null, consumedByCall: null, closedAt: null });
    expect((await store.current(r))!.id).toBe(r.id);
    expect(await store.consume(r.id, 'call-c', at(3000))).toBe(true);
    // Released once: a second release by the first call gives nothing back.
    await store.release(r.id, 'call-a');
    expect((await store.get(r.id))!).toMatchObject({ status: 'consumed', consumedByCall: 'call-c' });
  });

  it('does not give a grant back once an identical call opened a new request', async () => {
    const r = await opened();
    await store.decide(r.id, grant('alice'), at(1000), recorder());
    expect(await store.consume(r.id, 'call-a', at(2000))).toBe(true);
    const next = await store.open({ ...request(), ...bindingOf(r) });
    expect(next.created).toBe(true);
    await store.release(r.id, 'call-a');
    expect((await store.get(r.id))!.status).toBe('consumed');
    expect((await store.current(r))!.id).toBe(next.record.id);
  });

  it('expires pending and unused granted requests once, recording each, and leaves the rest', async () => {
    const pending = await opened({ expiresAt: at(60_000) });
    const granted = await opened({ expiresAt: at(60_000) });
    await store.decide(granted.id, grant('alice'), at(1000), recorder());
    const used = await opened({ expiresAt: at(60_000) });
    await store.decide(used.id, grant('alice'), at(1000), recorder());
    await store.consume(used.id, 'call-used', at(2000));
    const denied = await opened({ expiresAt: at(60_000) });
    await store.decide(denied.id, deny('alice'), at(1000), recorder());
    const later = await opened({ expiresAt: at(120_000) });

    expect(await store.expire(at(59_999), recorder())).toEqual([]);
    const calls: ApprovalRecord[] = [];
    const expired = await store.expire(at(60_000), recorder(calls));
    expect(expired.map((r) => r.id).sort()).toEqual([pending.id, granted.id].sort());
    expect(calls.map((r) => [r.id, r.status, r.decidedAt])).toEqual(expired.map((r) => [r.id, 'expired', at(60_000)]));
    for (const r of expired) expect(await store.get(r.id)).toEqual(r);
    expect((await store.get(used.id))!.status).toBe('consumed');
    expect((await store.get(denied.id))!.status).toBe('denied');
    expect((await store.get(later.id))!.status).toBe('pending');
    expect(await ledgerEvents(pending.id)).toEqual([{ event_type: 'approval.expired', approver: null }]);
    // Expired is final: no vote, no use.
    expect(await store.decide(pending.id, grant('bob'), at(30_000), recorder())).toMatchObject({ ok: false, reason: 'expired' });
    expect(await store.consume(granted.id, 'call-g', at(30_000))).toBe(false);
    expect(await store.expire(at(60_001), recorder())).toEqual([]);
  });

  it('expires a request whose approval.requested was never recorded without recording its expiry', async () => {
    const { record: unrecorded } = await store.open(request({ expiresAt: at(60_000) }));
    const { record: abandoned } = await store.open(request({ expiresAt: at(60_000) }));
    await store.retire(abandoned.id, at(500));
    const recordedOne = await opened({ expiresAt: at(60_000) });
    const calls: ApprovalRecord[] = [];
    const expired = await store.expire(at(60_000), recorder(calls));
    expect(expired.map((r) => r.id).sort()).toEqual([unrecorded.id, abandoned.id, recordedOne.id].sort());
    // Only the recorded one's expiry is on the record.
    expect(calls.map((r) => r.id)).toEqual([recordedOne.id]);
    expect(await ledgerEvents(unrecorded.id)).toEqual([]);
    expect(await ledgerEvents(abandoned.id)).toEqual([]);
    expect(await ledgerEvents(recordedOne.id)).toEqual([{ event_type: 'approval.expired', approver: null }]);
    expect((await store.get(unrecorded.id))!).toMatchObject({ status: 'expired', recorded: false });
    expect(await store.decide(unrecorded.id, grant('alice'), at(30_000), recorder())).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('expires each request once when two replicas expire at the same moment', async () => {
    const other = await otherStore();
    const ids = new Set<string>();
    for (let i = 0; i < 12; i++) ids.add((await opened({ expiresAt: at(60_000 + i) })).id);
    const calls: ApprovalRecord[] = [];
    const [a, b, c] = await Promise.all([store.expire(at(90_000), recorder(calls)), other.expire(at(90_000), recorder(calls)), store.expire(at(90_000), recorder(calls))]);
    const all = [...a, ...b, ...c].map((r) => r.id);
    expect(all.sort()).toEqual([...ids].sort());
    expect(calls.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await ledgerEvents(id)).toEqual([{ event_type: 'approval.expired', approver: null }]);
  });

  it('stops expiring at a recorder that fails, keeping what it already expired', async () => {
    const first = await opened({ expiresAt: at(60_000) });
    const second = await opened({ expiresAt: at(60_001) });
    const failure = new Error('ledger is down');
    let n = 0;
    await expect(
      store.expire(at(90_000), async (r) => {
        if (n++ === 1) throw failure;
        await recorder()(r);
      }),
    ).rejects.toBe(failure);
    expect((await store.get(first.id))!.status).toBe('expired');
    expect((await store.get(second.id))!.status).toBe('pending');
    expect((await store.expire(at(90_000), recorder())).map((r) => r.id)).toEqual([second.id]);
  });

  it('retires a denied or expired request, so that the next identical call opens a new one', async () => {
    const denied = await opened();
    await store.decide(denied.id, deny('alice'), at(1000), recorder());
    expect((await store.open({ ...request(), ...bindingOf(denied) })).record.id).toBe(denied.id);
    await store.retire(denied.id, at(2000));
    await store.retire(denied.id, at(3000)); // a second replica telling its call too
    expect((await store.get(denied.id))!).toMatchObject({ status: 'denied', closedAt: at(2000) });
    expect(await store.current(denied)).toBeUndefined();
    const reopened = await store.open({ ...request(), ...bindingOf(denied) });
    expect(reopened.created).toBe(true);

    const expired = await opened({ expiresAt: at(60_000) });
    await store.expire(at(60_000), recorder());
    await store.retire(expired.id, at(61_000));
    expect((await store.get(expired.id))!.closedAt).toEqual(at(61_000));

    const pending = await opened();
    await expect(store.retire(pending.id, at(1000))).rejects.toMatchObject({ code: 'ledger.approval_conflict', message: expect.stringContaining('is pending') });
    const granted = await opened();
    await store.decide(granted.id, grant('alice'), at(1000), recorder());
    await expect(store.retire(granted.id, at(1000))).rejects.toMatchObject({ code: 'ledger.approval_conflict', message: expect.stringContaining('is granted') });
    await expect(store.retire('00000000-0000-4000-8000-000000000000', at(1000))).rejects.toMatchObject({ code: 'ledger.approval_not_found' });
  });

  it('retires a request whose approval.requested event was never recorded, and it can never be recorded after', async () => {
    const input = request();
    const { record } = await store.open(input);
    await store.retire(record.id, at(500));
    expect((await store.get(record.id))!).toMatchObject({ status: 'pending', recorded: false, closedAt: at(500) });
    await expect(store.markRecorded(record.id)).rejects.toMatchObject({ code: 'ledger.approval_conflict' });
    expect(await store.decide(record.id, grant('alice'), at(1000), recorder())).toMatchObject({ ok: false, reason: 'not_recorded' });
    expect((await store.open(input)).created).toBe(true);
  });

  it('lists newest first, by status, up to a limit', async () => {
    const own = await ctx.fresh();
    const listed = openApprovalStore(own.connection);
    try {
      const make = async (ms: number) => {
        const { record } = await listed.open(request({ requestedAt: at(ms) }));
        await listed.markRecorded(record.id);
        return record;
      };
      const a = await make(1);
      const b = await make(2);
      const c = await make(3);
      await listed.decide(b.id, deny('alice'), at(1000), async () => {});
      expect((await listed.list()).map((r) => r.id)).toEqual([c.id, b.id, a.id]);
      expect((await listed.list({ status: 'pending' })).map((r) => r.id)).toEqual([c.id, a.id]);
      expect((await listed.list({ status: 'denied' })).map((r) => [r.id, r.votes.length])).toEqual([[b.id, 1]]);
      expect((await listed.list({ limit: 2 })).map((r) => r.id)).toEqual([c.id, b.id]);
      expect(await listed.list({ status: 'granted' })).toEqual([]);
      await expect(listed.list({ limit: 0 })).rejects.toMatchObject({ code: 'ledger.invalid_approval', message: expect.stringContaining('"limit"') });
      await expect(listed.list({ status: 'open' as never })).rejects.toMatchObject({ code: 'ledger.invalid_approval', message: expect.stringContaining('"status"') });
    } finally {
      await listed.close();
    }
  });

  it('refuses malformed requests and votes, naming the field, and stores nothing', async () => {
    const cases: Array<[Partial<ApprovalRequestInput>, string]> = [
      [{ argsSha256: 'ABC' }, '"argsSha256" must be 64 lowercase hex digits'],
      [{ policyDigest: 'x'.repeat(64) }, '"policyDigest"'],
      [{ server: '' }, '"server" must be a non-empty string'],
      [{ agentId: undefined as never }, '"agentId"'],
      [{ callId: '' }, '"callId"'],
      [{ minApprovals: 0 }, '"minApprovals" must be an integer >= 1'],
      [{ minApprovals: 1.5 }, '"minApprovals"'],
      [{ approvers: [] }, '"approvers" must be null or a non-empty list'],
      [{ expiresAt: at(0) }, '"expiresAt" must be later than requestedAt'],
      [{ requestedAt: new Date('nope') }, '"requestedAt" must be a valid Date'],
      [{ policyRevision: '' }, '"policyRevision"'],
    ];
    const refused: string[] = [];
    for (const [overrides, message] of cases) {
      const input = request(overrides);
      refused.push(input.callId || 'none');
      await expect(store.open(input), message).rejects.toMatchObject({ code: 'ledger.invalid_approval', message: expect.stringContaining(message) });
    }
    expect(await ctx.ledger.superuser('SELECT id FROM approval_requests WHERE call_id = ANY($1::text[])', [refused])).toEqual([]);
    const r = await opened();
    await expect(store.decide(r.id, { ...grant('alice'), decision: 'maybe' as never }, at(1000), recorder())).rejects.toMatchObject({
      code: 'ledger.invalid_approval',
      message: expect.stringContaining('"decision"'),
    });
    await expect(store.decide(r.id, grant(''), at(1000), recorder())).rejects.toMatchObject({ message: expect.stringContaining('"approver"') });
    await expect(store.consume(r.id, '', at(1000))).rejects.toMatchObject({ code: 'ledger.invalid_approval' });
  });

  it('notifies every change, made through any connection, only once it is committed', async () => {
    const other = await otherStore();
    const ids: string[] = [];
    const stop = await store.subscribe((id) => ids.push(id));
    const eventsWhenHeard: Array<Promise<number>> = [];
    const stopEvents = await store.subscribe((id) => {
      eventsWhenHeard.push(ledgerEvents(id).then((rows) => rows.length));
    });

    const { record } = await other.open(request());
    const openedIn = await heard(ids, record.id);
    expect(openedIn).toBeLessThan(1000);
    ids.length = 0;
    await other.markRecorded(record.id);
    await heard(ids, record.id);

    // A vote whose ledger event fails changes nothing and wakes no one; the next change's
    // notification arrives, and the failed one's never did.
    const marker = await other.open(request());
    ids.length = 0;
    await expect(other.decide(record.id, grant('alice'), at(1000), () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await other.markRecorded(marker.record.id);
    await heard(ids, marker.record.id);
    expect(ids).not.toContain(record.id);

    // A vote: heard once its ledger event is committed.
    eventsWhenHeard.length = 0;
    await other.decide(record.id, grant('alice'), at(1000), recorder());
    await heard(ids, record.id);
    expect(await Promise.all(eventsWhenHeard)).toEqual([1]);
    await stopEvents();

    for (const change of [
      () => other.consume(record.id, 'call-1', at(2000)),
      () => other.release(record.id, 'call-1'),
      () => other.expire(at(TEN_MINUTES), recorder()),
      () => other.retire(record.id, at(TEN_MINUTES)),
    ]) {
      ids.length = 0;
      await change();
      const ms = await heard(ids, record.id);
      expect(ms).toBeLessThan(1000);
    }

    await stop();
    ids.length = 0;
    const unheard = await other.open(request());
    const last = await other.open(request());
    const stillListening: string[] = [];
    const stop2 = await other.subscribe((id) => stillListening.push(id));
    await other.markRecorded(last.record.id);
    await heard(stillListening, last.record.id);
    expect(ids).toEqual([]);
    expect(stillListening).not.toContain(unheard.record.id);
    await stop2();
  });

  it('keeps the rows consistent: the database refuses a state the store would never write', async () => {
    const r = await opened();
    await expect(ctx.ledger.superuser("UPDATE approval_requests SET status = 'granted' WHERE id = $1", [r.id])).rejects.toThrow(/approval_requests_decided/);
    await expect(ctx.ledger.superuser('UPDATE approval_requests SET closed_at = now() WHERE id = $1', [r.id])).rejects.toThrow(/approval_requests_closed/);
    await expect(
      ctx.ledger.superuser("UPDATE approval_requests SET status = 'consumed', decided_at = now() WHERE id = $1", [r.id]),
    ).rejects.toThrow(/approval_requests_consumed/);
    // Two current requests for one binding are impossible, whoever writes them.
    await expect(
      ctx.ledger.superuser(
        `INSERT INTO approval_requests (id, server, tool, args_sha256, agent_id, policy_revision, policy_digest, rule, call_id, args, reason, min_approvals, requested_at, expires_at)
         SELECT '00000000-0000-4000-8000-000000000001', server, tool, args_sha256, agent_id, policy_revision, policy_digest, rule, 'x', args, reason, 1, requested_at, expires_at
         FROM approval_requests WHERE id = $1`,
        [r.id],
      ),
    ).rejects.toThrow(/approval_requests_current_binding/);
  });

  it('lets tollgate_writer keep approvals, and ledger_apply_roles grants them again', async () => {
    const r = await opened();
    const asWriter = (statement: string) => ctx.ledger.superuser(`SET LOCAL ROLE tollgate_writer; ${statement}`);
    await expect(asWriter(`UPDATE approval_requests SET recorded = true WHERE id = '${r.id}'`)).resolves.toBeDefined();
    await expect(asWriter('SELECT count(*) FROM approval_votes')).resolves.toBeDefined();
    await expect(asWriter("SELECT 1 FROM limit_counters LIMIT 1")).resolves.toBeDefined();
    await ctx.ledger.superuser('REVOKE ALL ON approval_requests, approval_votes, limit_counters FROM tollgate_writer');
    await expect(asWriter('SELECT count(*) FROM approval_requests')).rejects.toThrow(/permission denied/);
    await ctx.ledger.superuser('SELECT ledger_apply_roles()');
    await expect(asWriter('SELECT count(*) FROM approval_requests')).resolves.toBeDefined();
    await expect(asWriter('SELECT 1 FROM limit_counters LIMIT 1')).resolves.toBeDefined();
    // Auditors read the ledger, not the operational state.
    await expect(ctx.ledger.superuser('SET LOCAL ROLE tollgate_auditor; SELECT count(*) FROM approval_requests')).rejects.toThrow(/permission denied/);
  });

  it('names the fix when the database has no approval tables', async () => {
    const own = await ctx.fresh();
    // CASCADE: the delivery tables (0014) refer to the requests.
    await own.superuser('DROP TABLE approval_votes; DROP TABLE approval_requests CASCADE');
    const unmigrated = openApprovalStore(own.connection);
    try {
      await expect(unmigrated.open(request())).rejects.toMatchObject({ code: 'ledger.not_migrated', message: expect.stringContaining('tollgate ledger migrate') });
    } finally {
      await unmigrated.close();
    }
  });

  it('is closed after close()', async () => {
    const other = await otherStore();
    await other.close();
    await expect(other.open(request())).rejects.toMatchObject({ code: 'ledger.closed' });
    await expect(other.subscribe(() => {})).rejects.toMatchObject({ code: 'ledger.closed' });
  });
}

function bindingOf(r: ApprovalRecord): Pick<ApprovalRecord, 'server' | 'tool' | 'argsSha256' | 'agentId' | 'policyRevision' | 'policyDigest' | 'rule'> {
  return { server: r.server, tool: r.tool, argsSha256: r.argsSha256, agentId: r.agentId, policyRevision: r.policyRevision, policyDigest: r.policyDigest, rule: r.rule };
}
