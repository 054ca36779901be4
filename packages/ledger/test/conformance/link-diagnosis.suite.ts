import { expect, it } from 'vitest';
import { LedgerWriter, eventHash, queryLedger, verifyLedger, type LedgerEventRow, type VerifyReport } from '../../src/index.js';
import { decision, outcome } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';
import { insertRow } from './tamper.suite.js';

/**
 * verify names the event whose stored link or content is wrong, not its neighbour: each
 * tampering of seq 50 of a 60-event strand is reported at seq 50 (a deletion at seq 51, the
 * event whose link now skips it), with what is wrong, and nothing else is reported.
 */
export function linkDiagnosisSuite(ctx: LedgerContext): void {
  const seed = async (): Promise<{ strandId: string; rows: LedgerEventRow[]; other: string }> => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    const other = new LedgerWriter(ctx.ledger.connection);
    await Promise.all(Array.from({ length: 60 }, (_, i) => writer.append(i % 2 === 0 ? decision(i + 1) : outcome(i))));
    await Promise.all(Array.from({ length: 5 }, (_, i) => other.append(decision(200 + i, { agentId: 'trader-2' }))));
    await Promise.all([writer.close(), other.close()]);
    const rows = (await queryLedger(ctx.ledger.connection, { limit: 1000 })).events
      .filter((e) => e.strand_id === writer.strandId)
      .sort((a, b) => a.seq - b.seq);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    return { strandId: writer.strandId, rows, other: other.strandId };
  };

  const row = (rows: LedgerEventRow[], seq: number): LedgerEventRow => rows[seq - 1]!;
  const fakeHash = (c: string): string => c.repeat(64);

  /** The report, after checking that only the tampered strand is at fault. */
  const verify = async (strandId: string, other: string): Promise<VerifyReport> => {
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.strands.find((s) => s.strand_id === other)!.ok).toBe(true);
    expect(report.problems.every((p) => p.strand_id === strandId)).toBe(true);
    return report;
  };

  it("names seq 50 when only seq 50's prev_hash was altered, saying it does not match seq 49's hash", async () => {
    const { strandId, rows, other } = await seed();
    const [s49, s50] = [row(rows, 49), row(rows, 50)];
    await ctx.ledger.tamper(`UPDATE ledger_events SET prev_hash = '${fakeHash('a')}' WHERE event_id = '${s50.event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 50, event_id: s50.event_id }),
    ]);
    expect(report.first_problem!.message).toContain(
      `strand ${strandId} seq 50 (event ${s50.event_id}): its prev_hash ${fakeHash('a')} does not match the hash of seq 49 (event ${s49.event_id}), ${s49.hash}`,
    );
    expect(report.first_problem!.message).toContain('so its prev_hash was changed after it was written');
  });

  it("names seq 50 when only its stored hash was replaced, and not seq 51 that links to the hash of 50's content", async () => {
    const { strandId, rows, other } = await seed();
    const s50 = row(rows, 50);
    await ctx.ledger.tamper(`UPDATE ledger_events SET hash = '${fakeHash('b')}' WHERE event_id = '${s50.event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'hash_mismatch', cause: 'altered', strand_id: strandId, seq: 50, event_id: s50.event_id }),
    ]);
    expect(report.first_problem!.message).toContain('its stored hash was replaced');
  });

  it('names seq 50 when its content was changed, and says seq 51 still links to its stored hash', async () => {
    const { strandId, rows, other } = await seed();
    const s50 = row(rows, 50);
    await ctx.ledger.tamper(`UPDATE ledger_events SET reason = 'nothing to see' WHERE event_id = '${s50.event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'hash_mismatch', cause: 'altered', strand_id: strandId, seq: 50, event_id: s50.event_id }),
    ]);
    expect(report.first_problem!.message).toContain(`seq 51 (event ${row(rows, 51).event_id}) still links to its stored hash, so its content was changed`);
  });

  it('names seq 50 when its content was changed and re-hashed: seq 51 still links to the old hash and seq 52 pins seq 51', async () => {
    const { strandId, rows, other } = await seed();
    const forged = { ...row(rows, 50), reason: 'rewritten' };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(`UPDATE ledger_events SET reason = 'rewritten', hash = '${forged.hash}' WHERE event_id = '${forged.event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 50, event_id: forged.event_id }),
    ]);
    expect(report.first_problem!.message).toContain('changed and re-hashed after it was written');
  });

  it("names seq 50 first when its prev_hash was rewritten and it was re-hashed to match", async () => {
    const { strandId, rows, other } = await seed();
    const forged = { ...row(rows, 50), prev_hash: fakeHash('c') };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(`UPDATE ledger_events SET prev_hash = '${forged.prev_hash}', hash = '${forged.hash}' WHERE event_id = '${forged.event_id}'`);
    const report = await verify(strandId, other);
    // Seen from seq 50 its link is wrong; seen from seq 51 (pinned by 52) seq 50 was re-hashed. Both name seq 50.
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'broken_link', strand_id: strandId, seq: 50, event_id: forged.event_id }),
      expect.objectContaining({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 50, event_id: forged.event_id }),
    ]);
    expect(report.first_problem!.message).toContain(`its prev_hash ${fakeHash('c')} does not match the hash of seq 49`);
  });

  it('names the head when its link was rewritten and nothing after it can tell more', async () => {
    const { strandId, rows, other } = await seed();
    const forged = { ...row(rows, 60), prev_hash: fakeHash('d') };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(`UPDATE ledger_events SET prev_hash = '${forged.prev_hash}', hash = '${forged.hash}' WHERE event_id = '${forged.event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 60, event_id: forged.event_id })]);
    expect(report.first_problem!.message).toContain('it is the head of its strand');
  });

  it("names seq 1 when the first event's prev_hash was altered", async () => {
    const { strandId, rows, other } = await seed();
    await ctx.ledger.tamper(`UPDATE ledger_events SET prev_hash = '${fakeHash('e')}' WHERE event_id = '${row(rows, 1).event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 1, event_id: row(rows, 1).event_id })]);
    expect(report.first_problem!.message).toContain('its own hash was computed over 64 zeros, so its prev_hash was changed');
  });

  it('reports a deleted seq 50 as a gap at seq 51, naming the missing number', async () => {
    const { strandId, rows, other } = await seed();
    await ctx.ledger.tamper(`DELETE FROM ledger_events WHERE event_id = '${row(rows, 50).event_id}'`);
    const report = await verify(strandId, other);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'sequence_gap', cause: 'deleted', strand_id: strandId, seq: 51, event_id: row(rows, 51).event_id }),
    ]);
    expect(report.first_problem!.message).toContain('event 50 is missing before it');
  });

  it('names an event inserted at seq 50, not the event it pushed to seq 51', async () => {
    const { strandId, rows, other } = await seed();
    const forged = { ...row(rows, 49), event_id: '00000000-0000-7000-8000-0000000050f0', seq: 50, call_id: 'call-forged', prev_hash: row(rows, 49).hash };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(
      ...rows
        .filter((r) => r.seq >= 50)
        .reverse()
        .map((r) => `UPDATE ledger_events SET seq = ${r.seq + 1} WHERE event_id = '${r.event_id}'`),
      insertRow(forged),
    );
    const report = await verify(strandId, other);
    expect(report.first_problem).toMatchObject({ kind: 'broken_link', cause: 'inserted', strand_id: strandId, seq: 50, event_id: forged.event_id });
    expect(report.first_problem!.message).toContain(`(now seq 51, event ${row(rows, 50).event_id}) links straight to seq 49`);
    expect(report.problems.some((p) => p.seq === 49)).toBe(false);
  });
}
