import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  DEFAULT_CHECKPOINT_GRACE_MS,
  GENESIS_HASH,
  LedgerWriter,
  createCheckpoint,
  eventHash,
  queryLedger,
  verifyLedger,
  type LedgerEventRow,
} from '../../src/index.js';
import { decision, outcome } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';
import { insertRow, writeKeyPair } from './tamper.suite.js';

const T0 = Date.parse('2031-03-01T09:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

/**
 * A checkpoint bounds its whole period: an event dated before it (less the grace for events
 * in flight) that it does not cover — a strand it does not list, or a seq beyond the head it
 * signed — was written after it and dated back, and verify reports it.
 */
export function checkpointPeriodSuite(ctx: LedgerContext): void {
  let dir = '';
  let keys: { key: string; pub: string };
  const writers: LedgerWriter[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-period-'));
    keys = writeKeyPair(dir, 'ledger');
  });
  afterEach(async () => {
    for (const writer of writers.splice(0)) await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A writer whose clock reads `at(seconds)` for each event in turn. */
  const writerAt = (...seconds: number[]): LedgerWriter => {
    const times = [...seconds];
    let last = at(seconds[0] ?? 0);
    const writer = new LedgerWriter(ctx.ledger.connection, {
      clock: () => {
        const next = times.shift();
        if (next !== undefined) last = at(next);
        return last;
      },
    });
    writers.push(writer);
    return writer;
  };

  /**
   * Strand A: five events at T0 + 1..5 s; the writer stays open and stamps the events
   * appended later at `later` seconds.
   */
  const seed = async (...later: number[]): Promise<{ writer: LedgerWriter; strandId: string; rows: LedgerEventRow[] }> => {
    // The first reading is the strand's started_at.
    const writer = writerAt(0, 1, 2, 3, 4, 5, ...later);
    for (let i = 1; i <= 5; i++) await writer.append(i % 2 ? decision(i) : outcome(i - 1));
    return { writer, strandId: writer.strandId, rows: await strandRows(writer.strandId) };
  };

  const strandRows = async (strandId: string): Promise<LedgerEventRow[]> =>
    (await queryLedger(ctx.ledger.connection)).events.filter((e) => e.strand_id === strandId).sort((a, b) => a.seq - b.seq);

  const checkpointAt = async (seconds: number) =>
    createCheckpoint(ctx.ledger.connection, { keyFile: keys.key, outFile: join(dir, `checkpoint-${seconds}.json`), clock: () => at(seconds) });

  /** A well-formed event of `strandId` at `seq`, chained onto `prevHash`, dated `seconds` after T0. */
  const forge = (template: LedgerEventRow, strandId: string, seq: number, prevHash: string, seconds: number, n: number): LedgerEventRow => {
    const row: LedgerEventRow = {
      ...template,
      event_id: `00000000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`,
      strand_id: strandId,
      seq,
      prev_hash: prevHash,
      occurred_at: at(seconds).toISOString(),
      call_id: `call-forged-${n}`,
    };
    row.hash = eventHash(row.prev_hash, row);
    return row;
  };

  const FORGED_STRAND = '00000000-0000-4000-8000-00000000f0f0';
  const registerStrand = (strandId: string, startedAtSeconds: number): string =>
    `INSERT INTO ledger_strands (strand_id, started_at, host, pid, label) VALUES ('${strandId}', '${at(startedAtSeconds).toISOString()}', 'gw-2', 4242, 'gateway pid 4242')`;

  it('reports a forged strand whose seq-1 event is dated before a signed checkpoint, though its link and registration look right', async () => {
    const { rows } = await seed();
    const { checkpoint, file } = await checkpointAt(600);
    const trusted = { checkpointFiles: [file!], trustedKeyFiles: [keys.pub] };
    expect((await verifyLedger(ctx.ledger.connection, trusted)).ok).toBe(true);

    // A new strand, registered as if a second gateway had run since an hour before, with one
    // correctly hashed first event dated five minutes before the checkpoint.
    const forged = forge(rows[0]!, FORGED_STRAND, 1, GENESIS_HASH, 300, 1);
    await ctx.ledger.tamper(registerStrand(FORGED_STRAND, -3600), insertRow(forged));

    const report = await verifyLedger(ctx.ledger.connection, trusted);
    expect(report.ok).toBe(false);
    // The database's copy and the file are one checkpoint: reported once.
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: 'checkpoint_backdated',
        cause: 'backdated',
        strand_id: FORGED_STRAND,
        seq: 1,
        event_id: forged.event_id,
        checkpoint_id: checkpoint.checkpoint_id,
      }),
    ]);
    const message = report.first_problem!.message;
    expect(message).toContain(`strand ${FORGED_STRAND} seq 1 (event ${forged.event_id}) is dated ${forged.occurred_at}, 5 min before checkpoint ${checkpoint.checkpoint_id}`);
    expect(message).toContain(`does not list strand ${FORGED_STRAND} at all, registered in ledger_strands as started at ${at(-3600).toISOString()}`);
    expect(message).toContain('dated back into the period the checkpoint bounds');
    expect(report.strands.find((s) => s.strand_id === FORGED_STRAND)).toMatchObject({ registered: true, ok: false });
  });

  it("reports events added to a checkpointed strand beyond the head it signed, dated before the checkpoint; the file catches it when the database's copy is gone", async () => {
    const { strandId, rows } = await seed();
    const { checkpoint, file } = await checkpointAt(600);
    const six = forge(rows[4]!, strandId, 6, rows[4]!.hash, 360, 6);
    const seven = forge(rows[4]!, strandId, 7, six.hash, 420, 7);
    await ctx.ledger.tamper(insertRow(six), insertRow(seven), `DELETE FROM ledger_checkpoints WHERE checkpoint_id = '${checkpoint.checkpoint_id}'`);

    // The chain is sound and no checkpoint is left in the database: nothing to see.
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
    const report = await verifyLedger(ctx.ledger.connection, { checkpointFiles: [file!], trustedKeyFiles: [keys.pub] });
    expect(report.ok).toBe(false);
    const backdated = report.problems.filter((p) => p.kind === 'checkpoint_backdated');
    expect(backdated).toEqual([
      expect.objectContaining({ cause: 'backdated', strand_id: strandId, seq: 6, event_id: six.event_id, checkpoint_id: checkpoint.checkpoint_id }),
    ]);
    expect(report.first_problem).toBe(backdated[0]);
    expect(backdated[0]!.message).toContain(`but it covers strand ${strandId} only up to seq 5`);
    expect(backdated[0]!.message).toContain('so is 1 later event of the strand, up to seq 7');
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint_missing', checkpoint_id: checkpoint.checkpoint_id }));
  });

  it('passes an event stamped just before a checkpoint and committed just after it, within the grace; with no grace it is reported', async () => {
    const { writer, strandId } = await seed(598);
    const { checkpoint } = await checkpointAt(600);
    // The writer stamped it 2 s before the checkpoint; it committed after (the checkpoint does not cover it).
    const appended = await writer.append(decision(6));
    expect(appended.seq).toBe(6);
    expect(checkpoint.heads).toEqual([expect.objectContaining({ strand_id: strandId, seq: 5 })]);

    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
    expect((await verifyLedger(ctx.ledger.connection, { checkpointGraceMs: 2000 })).ok).toBe(true);
    const strict = await verifyLedger(ctx.ledger.connection, { checkpointGraceMs: 1999 });
    expect(strict.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_backdated', strand_id: strandId, seq: 6, event_id: appended.eventId })]);
    expect(strict.first_problem!.message).toContain('may be dated up to 1999 ms before it');
    const none = await verifyLedger(ctx.ledger.connection, { checkpointGraceMs: 0 });
    expect(none.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_backdated', seq: 6 })]);
  });

  it('passes a real append in flight while the checkpoint was taken (real clocks)', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, { maxBatchDelayMs: 400 });
    writers.push(writer);
    await writer.append(decision(1));
    // Stamped now, sent in 400 ms; the checkpoint reads the heads at once.
    const inFlight = writer.append(decision(2));
    const { checkpoint } = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key });
    const appended = await inFlight;
    expect(checkpoint.heads).toEqual([{ strand_id: writer.strandId, seq: 1, hash: expect.any(String) }]);
    expect(Date.parse(appended.occurredAt)).toBeLessThanOrEqual(Date.parse(checkpoint.created_at));
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
    expect(await verifyLedger(ctx.ledger.connection, { checkpointGraceMs: 0 })).toMatchObject({
      ok: false,
      problems: [expect.objectContaining({ kind: 'checkpoint_backdated', strand_id: writer.strandId, seq: 2, event_id: appended.eventId })],
    });
  });

  it('passes a strand whose writer was created before a checkpoint but wrote only after it', async () => {
    await seed();
    // started_at is when the writer was made; its strand is registered with its first event.
    const idle = writerAt(100, 900, 901);
    await checkpointAt(600);
    await idle.append(decision(10));
    await idle.append(outcome(10));
    const report = await verifyLedger(ctx.ledger.connection);
    expect(report.ok).toBe(true);
    expect(report.strands).toHaveLength(2);
  });

  it('names the earliest checkpoint taken after the forged date that does not cover it, across several checkpoints', async () => {
    const { writer, strandId, rows } = await seed(700);
    const first = await checkpointAt(600);
    await writer.append(decision(6));
    const second = await checkpointAt(1200);
    const head = (await strandRows(strandId)).at(-1)!;
    expect(head.seq).toBe(6);

    // Dated between the checkpoints, beyond both heads: the second one should have covered it.
    const seven = forge(rows[0]!, strandId, 7, head.hash, 900, 7);
    // Dated before both, on a strand neither lists: the first one should have.
    const stranger = forge(rows[0]!, FORGED_STRAND, 1, GENESIS_HASH, 60, 8);
    await ctx.ledger.tamper(insertRow(seven), registerStrand(FORGED_STRAND, 0), insertRow(stranger));

    const report = await verifyLedger(ctx.ledger.connection, { trustedKeyFiles: [keys.pub] });
    const byStrand = Object.fromEntries(report.problems.map((p) => [p.strand_id, p]));
    expect(report.problems).toHaveLength(2);
    expect(byStrand[strandId]).toMatchObject({ kind: 'checkpoint_backdated', seq: 7, event_id: seven.event_id, checkpoint_id: second.checkpoint.checkpoint_id });
    expect(byStrand[strandId]!.message).toContain('covers strand');
    expect(byStrand[strandId]!.message).toContain('only up to seq 6');
    expect(byStrand[FORGED_STRAND]).toMatchObject({ kind: 'checkpoint_backdated', seq: 1, event_id: stranger.event_id, checkpoint_id: first.checkpoint.checkpoint_id });
    expect(byStrand[FORGED_STRAND]!.message).toContain('9 min before');
  });

  it('enforces only the periods of trusted checkpoints when keys are given', async () => {
    await seed();
    const other = writeKeyPair(dir, 'other');
    // Someone else's checkpoint, dated a day ahead.
    const { checkpoint: foreign } = await createCheckpoint(ctx.ledger.connection, { keyFile: other.key, clock: () => at(86_400) });
    const later = writerAt(700, 700);
    await later.append(decision(20));
    const untrusted = await verifyLedger(ctx.ledger.connection, { trustedKeyFiles: [keys.pub] });
    expect(untrusted.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_untrusted', checkpoint_id: foreign.checkpoint_id })]);
    // Without trusted keys every validly signed checkpoint counts, that one too.
    const any = await verifyLedger(ctx.ledger.connection);
    expect(any.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_backdated', strand_id: later.strandId, seq: 1, checkpoint_id: foreign.checkpoint_id })]);
  });

  it('refuses a negative or fractional grace, naming the option; the default is a minute', async () => {
    expect(DEFAULT_CHECKPOINT_GRACE_MS).toBe(60_000);
    for (const checkpointGraceMs of [-1, 1.5, Number.NaN]) {
      await expect(verifyLedger(ctx.ledger.connection, { checkpointGraceMs })).rejects.toMatchObject({
        code: 'ledger.invalid_options',
        message: expect.stringContaining('"checkpointGraceMs" must be an integer number of milliseconds >= 0'),
      });
    }
  });
}
