import { Writable } from 'node:stream';
import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { expect, it } from 'vitest';
import { LedgerWriter, exportLedger, queryLedger, verifyLedger } from '../../src/index.js';
import { decision, outcome } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

const T0 = Date.parse('2030-04-01T00:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

function collector(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

/** Shadow-mode decisions: the `shadow_effect` and `shadow_rule` columns (migration 0011). */
export function shadowSuite(ctx: LedgerContext): void {
  const seed = async (): Promise<void> => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    // A tool rule in shadow under default deny: denied by default, would have been allowed.
    await writer.append(decision(1, { at: at(1), effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)', shadowEffect: 'allow', shadowRule: null }));
    // A policy in shadow: allowed, would have been denied by a rule.
    await writer.append(decision(2, { at: at(2), effect: 'allow', rule: null, shadowEffect: 'deny', shadowRule: 'order-cap' }));
    await writer.append(outcome(2, { at: at(3) }));
    // Nothing in shadow.
    await writer.append(decision(3, { at: at(4) }));
    // In shadow, and the same as enforced.
    await writer.append(decision(4, { at: at(5), shadowEffect: 'allow', shadowRule: null }));
    await writer.close();
  };

  it('writes the would-be effect and rule of decisions, and null for every other event', async () => {
    await seed();
    const { events } = await queryLedger(ctx.ledger.connection, {});
    expect(events.map((e) => [e.call_id, e.event_type, e.effect, e.shadow_effect ?? null, e.shadow_rule ?? null])).toEqual([
      ['call-1', 'decision', 'deny', 'allow', null],
      ['call-2', 'decision', 'allow', 'deny', 'order-cap'],
      ['call-2', 'outcome', null, null, null],
      ['call-3', 'decision', 'allow', null, null],
      ['call-4', 'decision', 'allow', 'allow', null],
    ]);
    const stored = await ctx.ledger.superuser<{ call_id: string; shadow_effect: string | null; shadow_rule: string | null }>(
      "SELECT call_id, shadow_effect, shadow_rule FROM ledger_events WHERE event_type = 'decision' ORDER BY seq",
    );
    expect(stored.map((r) => [r.call_id, r.shadow_effect, r.shadow_rule])).toEqual([
      ['call-1', 'allow', null],
      ['call-2', 'deny', 'order-cap'],
      ['call-3', null, null],
      ['call-4', 'allow', null],
    ]);
  });

  it('chains the shadow columns: the ledger verifies, and an altered shadow_rule is found', async () => {
    await seed();
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
    await ctx.ledger.tamper("UPDATE ledger_events SET shadow_rule = 'something-else' WHERE call_id = 'call-2' AND event_type = 'decision'");
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.first_problem).toMatchObject({ kind: 'hash_mismatch', seq: 2 });
  });

  it('an added shadow_effect on an event written without one is found too', async () => {
    await seed();
    await ctx.ledger.tamper("UPDATE ledger_events SET shadow_effect = 'deny' WHERE call_id = 'call-3'");
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.first_problem).toMatchObject({ kind: 'hash_mismatch', seq: 4 });
  });

  it('filters by shadow effect, shadow rule, presence and difference from the enforced decision', async () => {
    await seed();
    const c = ctx.ledger.connection;
    const calls = async (filter: Parameters<typeof queryLedger>[1]) => (await queryLedger(c, filter)).events.map((e) => `${e.event_type}:${e.call_id}`);
    expect(await calls({ shadowEffects: ['deny'] })).toEqual(['decision:call-2']);
    expect(await calls({ shadowRules: ['order-cap'] })).toEqual(['decision:call-2']);
    expect(await calls({ shadow: true })).toEqual(['decision:call-1', 'decision:call-2', 'decision:call-4']);
    expect(await calls({ shadow: false, types: ['decision'] })).toEqual(['decision:call-3']);
    expect(await calls({ shadowDiffers: true })).toEqual(['decision:call-1', 'decision:call-2']);
    await expect(queryLedger(c, { shadowEffects: ['maybe' as never] })).rejects.toMatchObject({ code: 'ledger.invalid_query', message: expect.stringContaining('unknown shadow effect "maybe"') });
  });

  it('exports the columns in CSV and NDJSON', async () => {
    await seed();
    const csv = collector();
    await exportLedger(ctx.ledger.connection, { format: 'csv', output: csv.stream, shadowRules: ['order-cap'] });
    const [header, line] = csv.text().trimEnd().split('\n');
    expect(header!.endsWith(',detail,shadow_effect,shadow_rule')).toBe(true);
    expect(line!.endsWith(',deny,order-cap')).toBe(true);
    const ndjson = collector();
    await exportLedger(ctx.ledger.connection, { format: 'ndjson', output: ndjson.stream, shadow: true });
    const rows = ndjson.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.call_id, r.shadow_effect ?? null, r.shadow_rule ?? null])).toEqual([
      ['call-1', 'allow', null],
      ['call-2', 'deny', 'order-cap'],
      ['call-4', 'allow', null],
    ]);
    // The chain recipe of docs/ledger.md holds for rows with and without shadow decisions.
    const all = collector();
    await exportLedger(ctx.ledger.connection, { format: 'ndjson', output: all.stream });
    const exported = all.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { prev_hash: string; hash: string });
    expect(exported).toHaveLength(5);
    for (const { prev_hash, hash, ...event } of exported) expect(sha256Hex(prev_hash + canonicalJson(event))).toBe(hash);
  });

  it('shows them in audit_calls and in the shadow views', async () => {
    await seed();
    const calls = await ctx.ledger.superuser<{ call_id: string; effect: string; shadow_effect: string | null; shadow_rule: string | null; outcome_status: string | null }>(
      'SELECT call_id, effect, shadow_effect, shadow_rule, outcome_status FROM audit_calls ORDER BY decided_at',
    );
    expect(calls.map((r) => [r.call_id, r.effect, r.shadow_effect, r.shadow_rule, r.outcome_status])).toEqual([
      ['call-1', 'deny', 'allow', null, null],
      ['call-2', 'allow', 'deny', 'order-cap', 'ok'],
      ['call-3', 'allow', null, null, null],
      ['call-4', 'allow', 'allow', null, null],
    ]);
    const shadow = await ctx.ledger.superuser<{ call_id: string; differs: boolean }>('SELECT call_id, differs FROM audit_shadow_decisions ORDER BY decided_at');
    expect(shadow.map((r) => [r.call_id, r.differs])).toEqual([
      ['call-1', true],
      ['call-2', true],
      ['call-4', false],
    ]);
    const summary = await ctx.ledger.superuser<{ shadow_rule: string | null; enforced_effect: string; shadow_effect: string; decisions: number | string }>(
      'SELECT shadow_rule, enforced_effect, shadow_effect, decisions FROM audit_shadow_summary ORDER BY enforced_effect, shadow_effect',
    );
    expect(summary.map((r) => [r.shadow_rule, r.enforced_effect, r.shadow_effect, Number(r.decisions)])).toEqual([
      [null, 'allow', 'allow', 1],
      ['order-cap', 'allow', 'deny', 1],
      [null, 'deny', 'allow', 1],
    ]);
  });

  it('refuses a shadow rule without a shadow effect, and an unknown shadow effect, naming the field', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    try {
      await expect(writer.append(decision(1, { shadowRule: 'order-cap' }))).rejects.toMatchObject({ code: 'ledger.invalid_event', message: expect.stringContaining('shadowRule') });
      await expect(writer.append(decision(2, { shadowEffect: 'maybe' as never }))).rejects.toMatchObject({ code: 'ledger.invalid_event', message: expect.stringContaining('shadowEffect') });
    } finally {
      await writer.close();
    }
    expect(await ctx.ledger.superuser('SELECT 1 FROM ledger_events')).toEqual([]);
  });

  it('the table refuses shadow columns on an event that is not a decision', async () => {
    await seed();
    await expect(
      ctx.ledger.superuser(
        `INSERT INTO ledger_events (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type, shadow_effect)
         VALUES (gen_random_uuid(), now(), gen_random_uuid(), 1, repeat('0', 64), repeat('0', 64), 'outcome', 'deny')`,
      ),
    ).rejects.toThrow(/ledger_events_shadow_on_decisions/);
  });
}
