import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HASH, LedgerWriter, connectLedger, eventHash, migrateLedger, queryLedger, type LedgerConnection, type VerifyReport } from '@tollgate/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type CliOutcome, type TempTree } from './cli-process.js';

const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const FORGED_STRAND = '00000000-0000-4000-8000-00000000f0f0';
const FORGED_EVENT = '00000000-0000-7000-8000-00000000f0f1';

const json = <T>(out: CliOutcome): T => JSON.parse(out.stdout) as T;

/**
 * The security review's reproduction, end to end: a new ledger_strands row and a correctly
 * hashed seq-1 event dated before a signed checkpoint no longer pass
 * `tollgate ledger verify --checkpoint … --trust …`.
 */
describe('tollgate ledger verify: a checkpoint bounds its period', () => {
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  let admin: LedgerConnection;
  let connection: LedgerConnection;
  let tree: TempTree;
  const cli = (...args: string[]) => runCli(['ledger', ...args], tree.root, { TOLLGATE_DATABASE_URL: url });

  beforeAll(async () => {
    admin = await connectLedger({ databaseUrl: ADMIN_URL });
    await admin.execute(`CREATE DATABASE ${name}`);
    connection = await connectLedger({ databaseUrl: url });
    await migrateLedger(connection);
    tree = await tempTree();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    mkdirSync(join(tree.root, 'keys'));
    writeFileSync(join(tree.root, 'keys', 'ledger.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(tree.root, 'keys', 'ledger.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const writer = new LedgerWriter(connection);
    for (let i = 1; i <= 3; i++) {
      await writer.append({ type: 'policy.activated', server: 'ccxt', policyRevision: String(i), policyDigest: 'c0ffee'.padEnd(64, '0') });
    }
    await writer.close();
  });

  afterAll(async () => {
    await connection?.close();
    await admin?.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin?.close();
    await tree?.remove();
  });

  it('reports a forged strand dated before the checkpoint, naming strand, seq, event and checkpoint; --grace widens the window', async () => {
    const signed = await cli('checkpoint', '--key', 'keys/ledger.key', '--out', 'evidence/checkpoint.json', '--json');
    expect(signed.code).toBe(0);
    const checkpointId = json<{ checkpoint: { checkpoint_id: string; created_at: string } }>(signed).checkpoint.checkpoint_id;
    const createdAt = Date.parse(json<{ checkpoint: { created_at: string } }>(signed).checkpoint.created_at);
    const args = ['verify', '--checkpoint', 'evidence/checkpoint.json', '--trust', 'keys/ledger.pub'];
    expect((await cli(...args)).code).toBe(0);

    // As a superuser: a strand registered as started an hour ago, and its first event, correctly
    // hashed, dated ten minutes before the checkpoint.
    const [template] = (await queryLedger(connection)).events;
    const forged = { ...template!, event_id: FORGED_EVENT, strand_id: FORGED_STRAND, seq: 1, prev_hash: GENESIS_HASH, occurred_at: new Date(createdAt - 600_000).toISOString() };
    forged.hash = eventHash(forged.prev_hash, forged);
    await connection.execute(
      `INSERT INTO ledger_strands (strand_id, started_at, host, pid, label) VALUES ($1, $2, 'gw-2', 4242, 'gateway pid 4242')`,
      [FORGED_STRAND, new Date(createdAt - 3_600_000).toISOString()],
    );
    await connection.execute(
      `INSERT INTO ledger_events (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type, server, policy_revision, policy_digest)
       VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9)`,
      [forged.event_id, forged.occurred_at, FORGED_STRAND, forged.prev_hash, forged.hash, forged.event_type, forged.server, forged.policy_revision, forged.policy_digest],
    );

    const failed = await cli(...args);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('FAILED: 1 problem');
    expect(failed.stdout).toContain(`First bad event:\n  strand   ${FORGED_STRAND}\n  seq      1\n  event    ${FORGED_EVENT}\n  checkpoint ${checkpointId}\n  problem  checkpoint_backdated (backdated)`);
    expect(failed.stdout).toContain('10 min before checkpoint');
    expect(failed.stdout).toContain(`it does not list strand ${FORGED_STRAND} at all`);

    const report = json<VerifyReport>(await cli(...args, '--json'));
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'checkpoint_backdated', strand_id: FORGED_STRAND, seq: 1, event_id: FORGED_EVENT, checkpoint_id: checkpointId }),
    ]);

    // A grace longer than the backdating lets it through: the grace is the only window.
    expect((await cli(...args, '--grace', '11m')).code).toBe(0);
    expect((await cli(...args, '--grace', '9m')).code).toBe(1);
    const bad = await cli(...args, '--grace', 'soon', '--json');
    expect(bad.code).toBe(2);
    expect(json<{ error: { code: string; message: string } }>(bad).error).toMatchObject({
      code: 'usage',
      message: '--grace: expected a duration such as 60s, 2m or 500ms, or 0, got "soon"',
    });
  });
});
