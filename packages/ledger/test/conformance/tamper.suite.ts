import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  LedgerWriter,
  createCheckpoint,
  eventHash,
  queryLedger,
  verifyLedger,
  type AppendedEvent,
  type LedgerEventRow,
} from '../../src/index.js';
import { decision, outcome } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

/** Writes an Ed25519 key pair as `<dir>/<name>.key` and `.pub`, as `tollgate keys generate` does. */
export function writeKeyPair(dir: string, name: string): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

/** verify: clean ledgers pass; every kind of tampering (as a superuser, triggers off) is caught and named. */
export function tamperSuite(ctx: LedgerContext): void {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Two strands of 10 events each; returns the first strand's events. */
  const seed = async (): Promise<{ strandId: string; appended: AppendedEvent[] }> => {
    const a = new LedgerWriter(ctx.ledger.connection);
    const b = new LedgerWriter(ctx.ledger.connection);
    const appended: AppendedEvent[] = [];
    for (let i = 1; i <= 10; i++) {
      appended.push(await a.append(i % 2 ? decision(i) : outcome(i - 1)));
      await b.append(decision(100 + i, { agentId: 'trader-2' }));
    }
    await Promise.all([a.close(), b.close()]);
    return { strandId: a.strandId, appended };
  };

  const strandRows = async (strandId: string): Promise<LedgerEventRow[]> =>
    (await queryLedger(ctx.ledger.connection)).events.filter((e) => e.strand_id === strandId).sort((x, y) => x.seq - y.seq);

  it('passes a clean ledger and summarises every strand', async () => {
    const { strandId } = await seed();
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.first_problem).toBeNull();
    expect(report.events).toBe(20);
    expect(report.strands).toHaveLength(2);
    expect(report.strands.find((s) => s.strand_id === strandId)).toMatchObject({ events: 10, head_seq: 10, registered: true, ok: true, pid: process.pid });
    expect(report.backend).toBe(ctx.ledger.backend);
  });

  it('reads the ledger page by page without losing its place', async () => {
    await seed();
    const report = await verifyLedger(ctx.ledger.connection, { pageSize: 3 });
    expect(report.ok).toBe(true);
    expect(report.events).toBe(20);
  });

  it('catches one changed field and names the event', async () => {
    const { strandId, appended } = await seed();
    await ctx.ledger.tamper(`UPDATE ledger_events SET effect = 'allow', reason = 'nothing to see' WHERE event_id = '${appended[4]!.eventId}'`);
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.problem_count).toBe(1);
    expect(report.first_problem).toMatchObject({ kind: 'hash_mismatch', cause: 'altered', strand_id: strandId, seq: 5, event_id: appended[4]!.eventId });
    expect(report.first_problem!.message).toContain(`strand ${strandId} seq 5 (event ${appended[4]!.eventId})`);
    expect(report.strands.find((s) => s.strand_id === strandId)!.ok).toBe(false);
  });

  it('catches a changed event whose hash was recomputed, at the next link', async () => {
    const { strandId, appended } = await seed();
    const [row] = (await strandRows(strandId)).filter((r) => r.seq === 5);
    const forged = { ...row!, reason: 'rewritten' };
    const rehash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(`UPDATE ledger_events SET reason = 'rewritten', hash = '${rehash}' WHERE event_id = '${appended[4]!.eventId}'`);
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.first_problem).toMatchObject({ kind: 'broken_link', cause: 'altered', strand_id: strandId, seq: 5, event_id: appended[4]!.eventId });
  });

  it('catches a deleted event as a gap and names the event after it', async () => {
    const { strandId, appended } = await seed();
    await ctx.ledger.tamper(`DELETE FROM ledger_events WHERE event_id = '${appended[3]!.eventId}'`);
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.problem_count).toBe(1);
    expect(report.first_problem).toMatchObject({ kind: 'sequence_gap', cause: 'deleted', strand_id: strandId, seq: 5, event_id: appended[4]!.eventId });
    expect(report.first_problem!.message).toContain('event 4 is missing before it');
  });

  it('catches a deleted first event', async () => {
    const { strandId, appended } = await seed();
    await ctx.ledger.tamper(`DELETE FROM ledger_events WHERE event_id = '${appended[0]!.eventId}'`);
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.first_problem).toMatchObject({ kind: 'sequence_gap', strand_id: strandId, seq: 2, event_id: appended[1]!.eventId });
  });

  it('catches a forged event inserted into the chain and names it', async () => {
    const { strandId, appended } = await seed();
    const rows = await strandRows(strandId);
    // The forger knows the hashing scheme: shift seq 5.. up by one and insert a well-formed event at seq 5.
    const forged = { ...rows[3]!, event_id: '00000000-0000-7000-8000-00000000f04d', seq: 5, call_id: 'call-forged', prev_hash: rows[3]!.hash };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(
      ...rows
        .filter((r) => r.seq >= 5)
        .reverse()
        .map((r) => `UPDATE ledger_events SET seq = ${r.seq + 1} WHERE event_id = '${r.event_id}'`),
      insertRow(forged),
    );
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.first_problem).toMatchObject({ kind: 'broken_link', cause: 'inserted', strand_id: strandId, seq: 5, event_id: forged.event_id });
    expect(report.first_problem!.message).toContain(`event ${appended[4]!.eventId}`);
  });

  it('catches a forged event appended with a made-up hash', async () => {
    const { strandId } = await seed();
    const rows = await strandRows(strandId);
    const forged = { ...rows[9]!, event_id: '00000000-0000-7000-8000-00000000f04e', seq: 11, prev_hash: rows[9]!.hash, hash: 'f'.repeat(64) };
    await ctx.ledger.tamper(insertRow(forged));
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.first_problem).toMatchObject({ kind: 'hash_mismatch', strand_id: strandId, seq: 11, event_id: forged.event_id });
  });

  it('catches events of a strand no writer registered', async () => {
    await seed();
    const rows = await strandRows((await queryLedger(ctx.ledger.connection)).events[0]!.strand_id);
    const strand = '00000000-0000-4000-8000-0000000000aa';
    const forged = { ...rows[0]!, event_id: '00000000-0000-7000-8000-00000000f04f', strand_id: strand, seq: 1 };
    forged.hash = eventHash(forged.prev_hash, forged);
    await ctx.ledger.tamper(insertRow(forged));
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'unregistered_strand', strand_id: strand, seq: 1, event_id: forged.event_id })]);
  });

  it('catches two events whose sequence numbers were swapped', async () => {
    const { strandId, appended } = await seed();
    const [three, four] = [appended[2]!, appended[3]!];
    await ctx.ledger.tamper(
      `UPDATE ledger_events SET seq = 1000 WHERE event_id = '${three.eventId}'`,
      `UPDATE ledger_events SET seq = 3 WHERE event_id = '${four.eventId}'`,
      `UPDATE ledger_events SET seq = 4 WHERE event_id = '${three.eventId}'`,
    );
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(false);
    expect(report.first_problem).toMatchObject({ kind: 'broken_link', cause: 'reordered', strand_id: strandId, seq: 3, event_id: four.eventId });
    expect(report.first_problem!.message).toContain(`the event now at seq 4 (event ${three.eventId})`);
  });

  it("catches a strand's tail cut after a checkpoint", async () => {
    const { strandId, appended } = await seed();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-tamper-'));
    dirs.push(dir);
    const keys = writeKeyPair(dir, 'ledger');
    const { checkpoint, file } = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key, outFile: join(dir, 'checkpoint.json') });
    expect((await verifyLedger(ctx.ledger.connection, { checkpointFiles: [file!] })).ok).toBe(true);

    // Remove the last three events of the strand, and the database's copy of the checkpoint.
    await ctx.ledger.tamper(
      `DELETE FROM ledger_events WHERE strand_id = '${strandId}' AND seq > 7`,
      `DELETE FROM ledger_checkpoints WHERE checkpoint_id = '${checkpoint.checkpoint_id}'`,
    );
    // Without the checkpoint the cut is invisible: the strand is a valid, shorter chain.
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
    // The checkpoint kept outside the database catches it.
    const report = await verifyLedger(ctx.ledger.connection, { checkpointFiles: [file!] });
    expect(report.ok).toBe(false);
    expect(report.first_problem).toMatchObject({
      kind: 'checkpoint_truncated',
      cause: 'truncated',
      strand_id: strandId,
      seq: 7,
      event_id: appended[6]!.eventId,
      checkpoint_id: checkpoint.checkpoint_id,
    });
    expect(report.first_problem!.message).toContain('events 8..10 were cut from its tail');
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint_missing', checkpoint_id: checkpoint.checkpoint_id }));
  });

  it('catches a strand rewritten after a checkpoint even when every link is rebuilt', async () => {
    const { strandId } = await seed();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-tamper-'));
    dirs.push(dir);
    const keys = writeKeyPair(dir, 'ledger');
    const { checkpoint } = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key });
    // Rewrite event 9 and re-hash it and event 10 so the chain itself is consistent again.
    const rows = await strandRows(strandId);
    const nine = { ...rows[8]!, reason: 'rewritten' };
    nine.hash = eventHash(nine.prev_hash, nine);
    const ten = { ...rows[9]!, prev_hash: nine.hash };
    ten.hash = eventHash(ten.prev_hash, ten);
    await ctx.ledger.tamper(
      `UPDATE ledger_events SET reason = 'rewritten', hash = '${nine.hash}' WHERE event_id = '${nine.event_id}'`,
      `UPDATE ledger_events SET prev_hash = '${ten.prev_hash}', hash = '${ten.hash}' WHERE event_id = '${ten.event_id}'`,
    );
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'checkpoint_mismatch', strand_id: strandId, seq: 10, event_id: ten.event_id, checkpoint_id: checkpoint.checkpoint_id }),
    ]);
  });

  it('reports allowed calls without an outcome but still passes', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    await writer.append(decision(1));
    await writer.append(outcome(1));
    const open = await writer.append(decision(2));
    await writer.append(decision(3, { effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)' }));
    await writer.close();
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(true);
    expect(report.missing_outcomes.count).toBe(1);
    expect(report.missing_outcomes.sample).toEqual([
      expect.objectContaining({ call_id: 'call-2', event_id: open.eventId, seq: 3, tool: 'create_spot_market_order', agent_id: 'trader-1' }),
    ]);
  });

  it('records the result in ledger_verifications when asked', async () => {
    const { appended } = await seed();
    const good = await verifyLedger(ctx.ledger.connection, { record: true });
    await ctx.ledger.tamper(`UPDATE ledger_events SET reason = 'x' WHERE event_id = '${appended[1]!.eventId}'`);
    const bad = await verifyLedger(ctx.ledger.connection, { record: true });
    const rows = await ctx.ledger.superuser<{ verification_id: string; ok: boolean; events: number; problems: number; first_event: string | null }>(
      "SELECT verification_id::text, ok, events::int, problems, first_problem->>'event_id' AS first_event FROM audit_verifications ORDER BY verified_at, ok DESC",
    );
    expect(rows).toEqual([
      { verification_id: good.verification_id, ok: true, events: 20, problems: 0, first_event: null },
      { verification_id: bad.verification_id, ok: false, events: 20, problems: 1, first_event: appended[1]!.eventId },
    ]);
  });
}

/** An INSERT of a complete row, for forging events. */
export function insertRow(row: LedgerEventRow): string {
  const lit = (v: unknown): string =>
    v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${(typeof v === 'string' ? v : JSON.stringify(v)).replace(/'/g, "''")}'`;
  const columns = Object.keys(row) as Array<keyof LedgerEventRow>;
  return `INSERT INTO ledger_events (${columns.join(', ')}) VALUES (${columns.map((c) => lit(row[c])).join(', ')})`;
}
