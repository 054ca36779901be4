import { expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedgerWriter, createCheckpoint, verifyLedger } from '../../src/index.js';
import { decision } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';
import { writeKeyPair } from './tamper.suite.js';

/** The append-only triggers and the writer and auditor roles. */
export function appendOnlySuite(ctx: LedgerContext): void {
  const seed = async (): Promise<void> => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    await Promise.all([writer.append(decision(1)), writer.append(decision(2))]);
    await writer.close();
  };

  it('refuses UPDATE, DELETE and TRUNCATE of ledger_events, even by its owner', async () => {
    await seed();
    await expect(ctx.ledger.superuser("UPDATE ledger_events SET reason = 'rewritten'")).rejects.toThrow(
      /tollgate ledger: UPDATE on ledger_events is refused: the ledger is append-only/,
    );
    await expect(ctx.ledger.superuser('DELETE FROM ledger_events')).rejects.toThrow(/DELETE on ledger_events is refused/);
    await expect(ctx.ledger.superuser('TRUNCATE ledger_events')).rejects.toThrow(/TRUNCATE on ledger_events is refused/);
    const rows = await ctx.ledger.superuser<{ n: number; reasons: string[] }>(
      'SELECT count(*)::int AS n, array_agg(DISTINCT reason) AS reasons FROM ledger_events',
    );
    expect(rows).toEqual([{ n: 2, reasons: ['allowed by policy'] }]);
  });

  it('refuses changes to strands, checkpoints and verifications too', async () => {
    await seed();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-append-only-'));
    try {
      await createCheckpoint(ctx.ledger.connection, { keyFile: writeKeyPair(dir, 'ledger').key });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await verifyLedger(ctx.ledger.connection, { record: true });
    for (const table of ['ledger_strands', 'ledger_checkpoints', 'ledger_verifications']) {
      await expect(ctx.ledger.superuser(`DELETE FROM ${table}`)).rejects.toThrow(new RegExp(`DELETE on ${table} is refused`));
      await expect(ctx.ledger.superuser(`TRUNCATE ${table}`)).rejects.toThrow(new RegExp(`TRUNCATE on ${table} is refused`));
    }
    await expect(ctx.ledger.superuser("UPDATE ledger_strands SET host = 'elsewhere'")).rejects.toThrow(/UPDATE on ledger_strands is refused/);
    await expect(ctx.ledger.superuser('UPDATE ledger_verifications SET ok = NOT ok')).rejects.toThrow(/UPDATE on ledger_verifications is refused/);
    const counts = await ctx.ledger.superuser(
      'SELECT (SELECT count(*)::int FROM ledger_strands) AS s, (SELECT count(*)::int FROM ledger_checkpoints) AS c, (SELECT count(*)::int FROM ledger_verifications) AS v',
    );
    expect(counts).toEqual([{ s: 1, c: 1, v: 1 }]);
  });

  it('lets tollgate_writer insert and read but never change or remove', async () => {
    await seed();
    const asWriter = (statement: string) => ctx.ledger.superuser(`SET LOCAL ROLE tollgate_writer; ${statement}`);
    await expect(asWriter('SELECT count(*)::int AS n FROM ledger_events')).resolves.toBeDefined();
    await expect(asWriter("UPDATE ledger_events SET reason = 'x'")).rejects.toThrow(/permission denied/);
    await expect(asWriter('DELETE FROM ledger_events')).rejects.toThrow(/permission denied/);
    await expect(asWriter('TRUNCATE ledger_events')).rejects.toThrow(/permission denied/);
    await expect(asWriter('DROP TABLE ledger_events')).rejects.toThrow(/must be owner/);
    await expect(
      asWriter(
        "INSERT INTO ledger_strands (strand_id, started_at, host, pid) VALUES ('00000000-0000-4000-8000-000000000001', now(), 'h', 1)",
      ),
    ).resolves.toBeDefined();
  });

  it('lets tollgate_auditor read the ledger and the audit views, nothing else', async () => {
    await seed();
    const asAuditor = (statement: string) => ctx.ledger.superuser(`SET LOCAL ROLE tollgate_auditor; ${statement}`);
    await expect(asAuditor('SELECT count(*)::int AS n FROM ledger_events')).resolves.toBeDefined();
    await expect(asAuditor('SELECT count(*)::int AS n FROM audit_calls')).resolves.toBeDefined();
    await expect(
      asAuditor("INSERT INTO ledger_strands (strand_id, started_at, host, pid) VALUES ('00000000-0000-4000-8000-000000000002', now(), 'h', 1)"),
    ).rejects.toThrow(/permission denied/);
    await expect(asAuditor("INSERT INTO audit_sensitive_tools (tool) VALUES ('x')")).rejects.toThrow(/permission denied/);
  });
}
