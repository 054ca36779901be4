import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, LedgerWriter, connectLedger, defaultMigrationsDir, migrateLedger, queryLedger, verifyLedger, type LedgerConnection } from '../src/index.js';
import { decision, POLICY_DIGEST } from './support/ledger-event-factory.js';
import { asSuperuser, createTestDatabase } from './support/postgres-test-database.js';

const SHADOW_MIGRATION = '0011_shadow_decisions.sql';

/** A database and a way to run SQL on it as the superuser. */
interface Fresh {
  connection: LedgerConnection;
  sql(text: string, values?: unknown[]): Promise<void>;
  dispose(): Promise<void>;
}

const backends: Array<[string, () => Promise<Fresh>]> = [
  [
    'pglite',
    async () => {
      const pglite = await PGlite.create();
      const connection = await connectLedger({ pglite });
      return {
        connection,
        sql: async (text, values = []) => {
          if (values.length === 0) await pglite.exec(text);
          else await pglite.query(text, values);
        },
        dispose: async () => {
          await connection.close();
          await pglite.close();
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const database = await createTestDatabase();
      const connection = await connectLedger({ databaseUrl: database.url });
      return {
        connection,
        sql: async (text, values = []) => {
          await asSuperuser(database.url, text, values);
        },
        dispose: async () => {
          await connection.close();
          await database.drop();
        },
      };
    },
  ],
];

/**
 * The events table as it was before migration 0011, and how its events were chained: the
 * hash covers the RFC 8785 JSON of every column but prev_hash and hash — these 23.
 */
const OLD_HASHED_COLUMNS = [
  'event_id', 'occurred_at', 'strand_id', 'seq', 'event_type', 'call_id', 'agent_id', 'session_id', 'server', 'tool', 'args', 'args_sha256',
  'effect', 'rule', 'reason', 'policy_revision', 'policy_digest', 'approval_id', 'approver', 'outcome_status', 'duration_ms', 'result_sha256', 'detail',
] as const;

/** Writes `count` decision events the way a gateway did before shadow mode existed. */
async function writeOldEvents(db: Fresh, count: number): Promise<string> {
  const strandId = randomUUID();
  await db.sql('INSERT INTO ledger_strands (strand_id, started_at, host, pid, label) VALUES ($1, $2, $3, $4, $5)', [strandId, '2030-01-01T00:00:00.000Z', 'old-host', 1, null]);
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq++) {
    const args = { exchange_id: 'binance', amount: seq };
    const row: Record<(typeof OLD_HASHED_COLUMNS)[number], unknown> = {
      event_id: randomUUID(),
      occurred_at: new Date(Date.parse('2030-01-01T00:00:00.000Z') + seq * 1000).toISOString(),
      strand_id: strandId,
      seq,
      event_type: 'decision',
      call_id: `old-${seq}`,
      agent_id: 'trader-1',
      session_id: null,
      server: 'ccxt',
      tool: 'create_order',
      args,
      args_sha256: sha256Hex(canonicalJson(args)),
      effect: 'deny',
      rule: 'tools.create_order.deny_if[0]',
      reason: 'too large',
      policy_revision: '3',
      policy_digest: POLICY_DIGEST,
      approval_id: null,
      approver: null,
      outcome_status: null,
      duration_ms: null,
      result_sha256: null,
      detail: { code: 'policy.denied' },
    };
    const hash = sha256Hex(prev + canonicalJson(row));
    const columns = [...OLD_HASHED_COLUMNS, 'prev_hash', 'hash'];
    const values = [...OLD_HASHED_COLUMNS.map((c) => (c === 'args' || c === 'detail' ? JSON.stringify(row[c]) : row[c])), prev, hash];
    await db.sql(`INSERT INTO ledger_events (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    prev = hash;
  }
  return strandId;
}

describe.each(backends)('a ledger across the shadow-mode migration on %s', (_name, open) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('verifies events chained before migration 0011 together with events written after it, with and without shadow decisions', async () => {
    const db = await open();
    cleanups.push(() => db.dispose());
    const before = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
    cleanups.push(() => rmSync(before, { recursive: true, force: true }));
    cpSync(defaultMigrationsDir(), before, { recursive: true });
    // Migrations apply in order: the ledger before 0011 had none of the later ones either.
    const later = readdirSync(before).filter((name) => name >= SHADOW_MIGRATION);
    for (const name of later) unlinkSync(join(before, name));

    // The ledger as it was: migrated without 0011, with events chained by the old recipe.
    const first = await migrateLedger(db.connection, { migrationsDir: before });
    expect(first.applied).not.toContain(SHADOW_MIGRATION);
    const oldStrand = await writeOldEvents(db, 3);
    expect((await verifyLedger(db.connection)).ok).toBe(true);

    // Upgrade, then write new events on a new strand.
    const upgrade = await migrateLedger(db.connection);
    expect(upgrade.applied).toEqual(later);
    expect(upgrade.applied[0]).toBe(SHADOW_MIGRATION);
    const writer = new LedgerWriter(db.connection);
    await writer.append(decision(10, { effect: 'deny', rule: 'default', shadowEffect: 'allow', shadowRule: null }));
    await writer.append(decision(11));
    await writer.append(decision(12, { shadowEffect: 'deny', shadowRule: 'order-cap' }));
    await writer.close();

    const report = await verifyLedger(db.connection);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.events).toBe(6);

    const { events } = await queryLedger(db.connection, {});
    expect(events.filter((e) => e.strand_id === oldStrand).map((e) => [e.call_id, e.shadow_effect ?? null, e.shadow_rule ?? null])).toEqual([
      ['old-1', null, null],
      ['old-2', null, null],
      ['old-3', null, null],
    ]);
    expect(events.filter((e) => e.strand_id !== oldStrand).map((e) => [e.call_id, e.shadow_effect ?? null, e.shadow_rule ?? null])).toEqual([
      ['call-10', 'allow', null],
      ['call-11', null, null],
      ['call-12', 'deny', 'order-cap'],
    ]);

    // An old event given a shadow decision after the fact no longer verifies.
    await db.sql(
      `BEGIN; ALTER TABLE ledger_events DISABLE TRIGGER USER;
       UPDATE ledger_events SET shadow_effect = 'allow' WHERE call_id = 'old-2';
       ALTER TABLE ledger_events ENABLE TRIGGER USER; COMMIT;`,
    );
    const tampered = await verifyLedger(db.connection);
    expect(tampered.ok).toBe(false);
    expect(tampered.first_problem).toMatchObject({ kind: 'hash_mismatch', strand_id: oldStrand, seq: 2 });
  });
});
