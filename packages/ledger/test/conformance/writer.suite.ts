import { canonicalDigest, canonicalJson } from '@tollgate/policy';
import { expect, it } from 'vitest';
import {
  GENESIS_HASH,
  LedgerError,
  LedgerWriter,
  REDACTED,
  eventHash,
  queryLedger,
  verifyLedger,
  type AppendedEvent,
  type JsonObject,
  type LedgerBatchInfo,
  type LedgerEventInput,
} from '../../src/index.js';
import { approvalRequested, approvalResolved, decision, outcome, policyActivated, POLICY_DIGEST } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

const AT = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(AT.getTime() + seconds * 1000);

/** The batched, hash-chained writer. */
export function writerSuite(ctx: LedgerContext): void {
  it('records every event type with every field, chained from the genesis hash', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, { label: 'gateway-a' });
    const args = { exchange_id: 'binance', code: 'BTC', amount: 2, address: 'bc1qexample' };
    const argsSha = canonicalDigest(args);
    const events: LedgerEventInput[] = [
      policyActivated('7', { at: at(0), detail: { bundle: 'bundles/bundle.json' } }),
      { ...policyActivated('8', { at: at(1) }), type: 'policy.rejected', reason: 'signature by an untrusted key' },
      decision(1, { at: at(2), detail: { counters: { orders: 3 } } }),
      outcome(1, { at: at(3) }),
      decision(2, { at: at(4), effect: 'deny', rule: 'tools.create_spot_market_order.deny_if[0]', reason: 'amount too large', sessionId: null }),
      approvalRequested('appr-1', { at: at(5), args }),
      approvalResolved('appr-1', 'approval.granted', argsSha, { at: at(6), reason: 'looks right' }),
      decision(3, { at: at(7), tool: 'withdraw_cryptocurrency', args, approvalId: 'appr-1', callId: 'call-appr-1' }),
      outcome(3, { at: at(8), tool: 'withdraw_cryptocurrency', callId: 'call-appr-1', status: 'error', reason: 'upstream timed out', resultSha256: null }),
      approvalRequested('appr-2', { at: at(9) }),
      approvalResolved('appr-2', 'approval.denied', argsSha, { at: at(10), approver: 'bob' }),
      approvalRequested('appr-3', { at: at(11) }),
      approvalResolved('appr-3', 'approval.expired', argsSha, { at: at(12), reason: 'no answer within 10m' }),
    ];
    const appended: AppendedEvent[] = [];
    for (const event of events) appended.push(await writer.append(event));
    await writer.close();

    expect(appended.map((a) => a.seq)).toEqual(events.map((_, i) => i + 1));
    expect(appended[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < appended.length; i++) expect(appended[i]!.prevHash).toBe(appended[i - 1]!.hash);
    expect(new Set(appended.map((a) => a.strandId))).toEqual(new Set([writer.strandId]));
    expect(writer.head).toEqual({ seq: events.length, hash: appended.at(-1)!.hash });

    const { events: rows } = await queryLedger(ctx.ledger.connection);
    expect(rows.map((r) => r.event_type)).toEqual(events.map((e) => e.type));
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      expect(row.event_id).toBe(appended[i]!.eventId);
      expect(row.occurred_at).toBe(appended[i]!.occurredAt);
      expect(eventHash(row.prev_hash, row)).toBe(row.hash);
    }
    expect(rows[0]).toMatchObject({ server: 'ccxt', policy_revision: '7', policy_digest: POLICY_DIGEST, detail: { bundle: 'bundles/bundle.json' } });
    expect(rows[1]).toMatchObject({ event_type: 'policy.rejected', policy_revision: '8', reason: 'signature by an untrusted key' });
    expect(rows[2]).toMatchObject({
      call_id: 'call-1',
      agent_id: 'trader-1',
      session_id: 'session-1',
      server: 'ccxt',
      tool: 'create_spot_market_order',
      args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 0.01 },
      args_sha256: canonicalDigest({ exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 0.01 }),
      effect: 'allow',
      rule: null,
      policy_revision: '7',
      detail: { counters: { orders: 3 } },
      occurred_at: '2030-01-01T00:00:02.000Z',
    });
    expect(rows[3]).toMatchObject({ event_type: 'outcome', outcome_status: 'ok', duration_ms: 12.5, result_sha256: 'ab'.repeat(32) });
    expect(rows[4]).toMatchObject({ effect: 'deny', rule: 'tools.create_spot_market_order.deny_if[0]', session_id: null });
    expect(rows[5]).toMatchObject({ approval_id: 'appr-1', args, args_sha256: argsSha, detail: { expires_at: '2030-01-01T00:10:00.000Z' } });
    expect(rows[6]).toMatchObject({ approval_id: 'appr-1', approver: 'alice', args_sha256: argsSha, reason: 'looks right', args: null });
    expect(rows[7]).toMatchObject({ approval_id: 'appr-1', effect: 'allow', args_sha256: argsSha });
    expect(rows[8]).toMatchObject({ outcome_status: 'error', reason: 'upstream timed out', result_sha256: null });
    expect(rows[10]).toMatchObject({ event_type: 'approval.denied', approver: 'bob' });
    expect(rows[12]).toMatchObject({ event_type: 'approval.expired', approver: null });

    const strands = await ctx.ledger.superuser<{ strand_id: string; label: string; pid: number }>('SELECT strand_id::text, label, pid FROM ledger_strands');
    expect(strands).toEqual([{ strand_id: writer.strandId, label: 'gateway-a', pid: process.pid }]);
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
  });

  it('group-commits concurrent appends into batches of at most maxBatchSize', async () => {
    const batches: LedgerBatchInfo[] = [];
    const writer = new LedgerWriter(ctx.ledger.connection, { observer: { batchCommitted: (b) => batches.push(b) } });
    const appended = await Promise.all(Array.from({ length: 600 }, (_, i) => writer.append(decision(i))));
    await writer.close();
    expect(appended.map((a) => a.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(batches.reduce((n, b) => n + b.size, 0)).toBe(600);
    expect(Math.max(...batches.map((b) => b.size))).toBeLessThanOrEqual(256);
    // 600 events appended at once fill three batches (256 + 256 + 88), not hundreds of commits.
    expect(batches.length).toBeLessThanOrEqual(4);
    const runs = batches.map((b) => [b.firstSeq, b.lastSeq]);
    for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBe(runs[i - 1]![1]! + 1);
    const rows = await ctx.ledger.superuser<{ n: number }>('SELECT count(*)::int AS n FROM ledger_events');
    expect(rows).toEqual([{ n: 600 }]);
  });

  it('resolves append() only after its batch committed and is visible to other connections', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, { maxBatchDelayMs: 1000 });
    let resolved = false;
    const pending = writer.append(decision(1)).then((a) => {
      resolved = true;
      return a;
    });
    await new Promise((r) => setTimeout(r, 50));
    // Still inside the group-commit window: neither resolved nor in the table.
    expect(resolved).toBe(false);
    expect(writer.pending).toBe(1);
    expect(await ctx.ledger.superuser<{ n: number }>('SELECT count(*)::int AS n FROM ledger_events')).toEqual([{ n: 0 }]);
    const appended = await pending;
    const other = await ctx.ledger.reconnect();
    const { events } = await queryLedger(other, { callIds: ['call-1'] });
    expect(events.map((e) => e.event_id)).toEqual([appended.eventId]);
    await writer.close();
  });

  it('rejects every waiting append when a batch fails, shows nothing of it, and continues the strand', async () => {
    // A database-side failure in the middle of a batch: a trigger that refuses one event.
    await ctx.ledger.superuser(`CREATE FUNCTION ledger_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.reason = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF; RETURN NEW; END $$`);
    await ctx.ledger.superuser('CREATE TRIGGER ledger_test_poison BEFORE INSERT ON ledger_events FOR EACH ROW EXECUTE FUNCTION ledger_test_poison()');
    const failures: LedgerError[] = [];
    const writer = new LedgerWriter(ctx.ledger.connection, { maxBatchDelayMs: 20, observer: { batchFailed: (_b, e) => failures.push(e) } });
    const first = await Promise.all([1, 2, 3].map((n) => writer.append(decision(n))));
    expect(first.map((a) => a.seq)).toEqual([1, 2, 3]);

    const batch = [4, 5, 6, 7, 8].map((n) => writer.append(decision(n, n === 6 ? { reason: 'poison' } : {})));
    const settled = await Promise.allSettled(batch);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    for (const s of settled) {
      const reason = (s as PromiseRejectedResult).reason as LedgerError;
      expect(reason).toBeInstanceOf(LedgerError);
      expect(reason.code).toBe('ledger.write_failed');
      expect(reason.message).toMatch(/poisoned event/);
    }
    expect(failures).toHaveLength(1);
    expect(writer.head.seq).toBe(3);
    expect(await ctx.ledger.superuser<{ n: number }>('SELECT count(*)::int AS n FROM ledger_events')).toEqual([{ n: 3 }]);

    const after = await Promise.all([9, 10].map((n) => writer.append(decision(n))));
    expect(after.map((a) => a.seq)).toEqual([4, 5]);
    expect(after[0]!.prevHash).toBe(first[2]!.hash);
    await writer.close();
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(true);
    expect(report.events).toBe(5);
  });

  it('says the schema is missing when the events table is not there, and recovers when it is back', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    expect((await writer.append(decision(1))).seq).toBe(1);
    await ctx.ledger.superuser('ALTER TABLE ledger_events RENAME TO ledger_events_elsewhere');
    const failed = await Promise.allSettled([2, 3].map((n) => writer.append(decision(n))));
    await ctx.ledger.superuser('ALTER TABLE ledger_events_elsewhere RENAME TO ledger_events');
    for (const s of failed) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toMatchObject({
        code: 'ledger.not_migrated',
        message: expect.stringContaining('run `tollgate ledger migrate`'),
      });
    }
    expect((await writer.append(decision(4))).seq).toBe(2);
    await writer.close();
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
  });

  it('redacts argument values by JSON pointer and digests the full arguments', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, {
      redact: [
        { tool: 'withdraw_cryptocurrency', pointers: ['/address', '/auth/token'] },
        { server: 'ccxt', pointers: ['/orders/*/note', '/a~1b'] },
        { server: 'other', pointers: ['/exchange_id'] },
      ],
    });
    const args: JsonObject = {
      exchange_id: 'binance',
      address: 'bc1qsecret',
      auth: { token: 's3cr3t', user: 'desk' },
      orders: [{ id: 1, note: 'private' }, { id: 2 }],
      'a/b': 'slashed',
    };
    await writer.append(decision(1, { tool: 'withdraw_cryptocurrency', args }));
    await writer.append(decision(2, { tool: 'cancel_order', args }));
    await writer.close();
    const { events } = await queryLedger(ctx.ledger.connection);
    expect(events[0]!.args).toEqual({
      exchange_id: 'binance',
      address: REDACTED,
      auth: { token: REDACTED, user: 'desk' },
      orders: [{ id: 1, note: REDACTED }, { id: 2 }],
      'a/b': REDACTED,
    });
    expect(events[1]!.args).toMatchObject({ address: 'bc1qsecret', auth: { token: 's3cr3t' }, 'a/b': REDACTED });
    for (const event of events) expect(event.args_sha256).toBe(canonicalDigest(args));
    expect(args['address']).toBe('bc1qsecret'); // the caller's object is untouched
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
  });

  it('refuses malformed redaction rules, naming the rule and pointer', () => {
    expect(() => new LedgerWriter(ctx.ledger.connection, { redact: [{ pointers: ['address'] }] })).toThrow(
      /redaction rule \[0\] pointer \[0\] "address": a JSON pointer starts with "\/"/,
    );
    expect(() => new LedgerWriter(ctx.ledger.connection, { redact: [{ pointers: [] }] })).toThrow(/redaction rule \[0\]: "pointers" must be a non-empty list/);
  });

  it('rejects malformed events at once, naming the field, and writes nothing for them', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    const bad: Array<[unknown, RegExp]> = [
      [{ ...decision(1), type: 'decided' }, /"type" must be one of decision, outcome/],
      [{ ...decision(1), callId: '' }, /decision event: "callId" must be a non-empty string/],
      [{ ...decision(1), effect: 'maybe' }, /decision event: "effect" must be one of allow, deny, approval_required, hidden \(got "maybe"\)/],
      [{ ...decision(1), args: { amount: Number.NaN } }, /decision event: args\.amount is NaN, which JSON cannot represent/],
      [{ ...decision(1), args: { when: new Date() } }, /args\.when is a Date, not a plain JSON object/],
      [{ ...decision(1), args: undefined }, /"args" must be the call's arguments/],
      [{ ...outcome(1), durationMs: -1 }, /outcome event: "durationMs" must be a finite number of milliseconds >= 0/],
      [{ ...outcome(1), resultSha256: 'xyz' }, /"resultSha256" must be a hex SHA-256 digest/],
      [{ ...approvalRequested('a'), expiresAt: 'tomorrow' }, /approval.requested event: "expiresAt" must be a valid Date/],
      [approvalResolved('a', 'approval.granted', 'ab'.repeat(32), { approver: null }), /approval.granted event: "approver" must be a non-empty string/],
      [approvalResolved('a', 'approval.expired', 'ab'.repeat(32), { approver: 'alice' }), /"approver" must be null for an expired approval/],
      [{ ...decision(1), at: new Date('nope') }, /"at" must be a valid Date/],
      [{ ...decision(1), agentId: 'a\u0000b' }, /"agentId" must be a non-empty string without NUL/],
    ];
    for (const [event, message] of bad) {
      await expect(writer.append(event as LedgerEventInput)).rejects.toMatchObject({ code: 'ledger.invalid_event', message: expect.stringMatching(message) });
    }
    const good = await writer.append(decision(1));
    expect(good.seq).toBe(1);
    await writer.close();
  });

  it('stores text PostgreSQL cannot hold without failing the batch, hashing what it stored', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    const args = { note: 'nul\u0000byte', lone: 'half \ud800 surrogate', 'key\u0000': 1 };
    const [odd, neighbour] = await Promise.all([
      writer.append(decision(1, { args, reason: 'reason with \u0000' })),
      writer.append(decision(2)),
    ]);
    await writer.close();
    expect(odd.seq).toBe(1);
    expect(neighbour.seq).toBe(2);
    const { events } = await queryLedger(ctx.ledger.connection, { callIds: ['call-1'] });
    expect(events[0]!.args).toEqual({ note: 'nul\uFFFDbyte', lone: 'half \uFFFD surrogate', 'key\uFFFD': 1 });
    expect(events[0]!.reason).toBe('reason with \uFFFD');
    expect(events[0]!.args_sha256).toBe(canonicalDigest(args));
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
  });

  it('settles pending appends on close() and refuses appends after it', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, { maxBatchDelayMs: 1000 });
    const pending = [1, 2, 3].map((n) => writer.append(decision(n)));
    const started = Date.now();
    await writer.close();
    expect(Date.now() - started).toBeLessThan(900); // close() sends at once rather than waiting out the window
    expect((await Promise.all(pending)).map((a) => a.seq)).toEqual([1, 2, 3]);
    await expect(writer.append(decision(4))).rejects.toMatchObject({ code: 'ledger.closed' });
  });

  it('keeps one strand per writer and chains each independently', async () => {
    const a = new LedgerWriter(ctx.ledger.connection);
    const b = new LedgerWriter(ctx.ledger.connection);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).append(decision(i))));
    await Promise.all([a.close(), b.close()]);
    expect(a.strandId).not.toBe(b.strandId);
    expect(a.head.seq).toBe(25);
    expect(b.head.seq).toBe(25);
    expect(results.filter((r) => r.strandId === a.strandId).map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(true);
    expect(report.strands.map((s) => s.events)).toEqual([25, 25]);
  });

  it('hashes exactly the RFC 8785 canonical JSON of the stored row', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    const appended = await writer.append(decision(1, { args: { z: 1, a: [true, null, 'x'], m: { y: 2, b: 1.5 } } }));
    await writer.close();
    const { events } = await queryLedger(ctx.ledger.connection);
    const { prev_hash, hash, ...fields } = events[0]!;
    // Recompute with nothing but the policy package's canonical JSON and SHA-256.
    const { sha256Hex } = await import('@tollgate/policy');
    expect(sha256Hex(prev_hash + canonicalJson(fields))).toBe(hash);
    expect(hash).toBe(appended.hash);
  });
}
