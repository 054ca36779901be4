import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  LedgerWriter,
  connectLedger,
  migrateLedger,
  type DecisionEventInput,
  type LedgerConnection,
  type LedgerEventInput,
  type LedgerEventRow,
  type VerifyReport,
} from '@tollgate/ledger';
import { canonicalDigest } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type CliOutcome, type TempTree } from './cli-process.js';

const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A uniquely named database on the test server (trust auth, superuser), dropped by `drop()`. */
interface TestDatabase {
  url: string;
  /** Runs SQL on it as the superuser. */
  superuser(text: string): Promise<void>;
  drop(): Promise<void>;
}

async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  const admin = await connectLedger({ databaseUrl: ADMIN_URL });
  try {
    await admin.execute(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async superuser(text) {
      const c = await connectLedger({ databaseUrl: url.toString() });
      try {
        await c.execute(text);
      } finally {
        await c.close();
      }
    },
    async drop() {
      const c = await connectLedger({ databaseUrl: ADMIN_URL });
      try {
        await c.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.close();
      }
    },
  };
}

const START = Date.parse('2030-05-01T09:00:00.000Z');
const at = (minutes: number) => new Date(START + minutes * 60_000);
const WITHDRAWAL = { exchange_id: 'binance', code: 'BTC', amount: 2, address: 'bc1qexample' };

function decision(n: number, minutes: number, overrides: Partial<DecisionEventInput> = {}): DecisionEventInput {
  return {
    type: 'decision',
    at: at(minutes),
    callId: `call-${n}`,
    agentId: 'trader-1',
    sessionId: 'session-1',
    server: 'ccxt',
    tool: 'create_spot_market_order',
    args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: n / 100 },
    effect: 'allow',
    rule: null,
    reason: 'allowed by policy',
    policyRevision: '7',
    policyDigest: 'c0ffee'.padEnd(64, '0'),
    ...overrides,
  };
}

/**
 * The day docs/audit.md's examples are about (the ledger package's audit views suite uses the
 * same one): an order, a denied withdrawal retried, an approval granted by alice, trader-2's
 * session with an approval granted by bob, and a cancel allowed without an outcome. 19 events on
 * one strand; every approval is sound, so verify passes.
 */
async function writeScenario(connection: LedgerConnection): Promise<LedgerWriter> {
  const writer = new LedgerWriter(connection);
  const digest = canonicalDigest(WITHDRAWAL);
  const call = (n: number, minutes: number, callId = `call-${n}`) => ({ at: at(minutes), callId, agentId: 'trader-1', sessionId: 'session-1', server: 'ccxt' });
  const events: LedgerEventInput[] = [
    { type: 'policy.activated', at: at(0), server: 'ccxt', policyRevision: '7', policyDigest: 'c0ffee'.padEnd(64, '0') },
    decision(1, 1),
    { type: 'outcome', ...call(1, 2), tool: 'create_spot_market_order', status: 'ok', durationMs: 12.5 },
    decision(2, 3, { tool: 'withdraw_cryptocurrency', args: { ...WITHDRAWAL, amount: 50 }, effect: 'deny', rule: 'tools.withdraw_cryptocurrency.deny_if[0]', reason: 'withdrawals over 10 BTC are not allowed' }),
    decision(3, 4, { tool: 'withdraw_cryptocurrency', args: WITHDRAWAL, effect: 'approval_required', rule: 'tools.withdraw_cryptocurrency.approve_if[0]', reason: 'withdrawals over 1 BTC need a human', callId: 'call-appr-1' }),
    { type: 'approval.requested', ...call(0, 5, 'call-appr-1'), tool: 'withdraw_cryptocurrency', approvalId: 'appr-1', args: WITHDRAWAL, rule: 'tools.withdraw_cryptocurrency.approve_if[0]', reason: 'withdrawals over 1 BTC need a human', policyRevision: '7', policyDigest: 'c0ffee'.padEnd(64, '0'), expiresAt: at(15) },
    { type: 'approval.granted', ...call(0, 6, 'call-appr-1'), tool: 'withdraw_cryptocurrency', approvalId: 'appr-1', argsSha256: digest, approver: 'alice' },
    decision(4, 7, { tool: 'withdraw_cryptocurrency', args: WITHDRAWAL, callId: 'call-appr-1', approvalId: 'appr-1' }),
    { type: 'outcome', ...call(4, 8, 'call-appr-1'), tool: 'withdraw_cryptocurrency', status: 'ok', durationMs: 80 },
    { type: 'approval.requested', ...call(0, 10, 'call-appr-2'), agentId: 'trader-2', sessionId: 'session-2', tool: 'withdraw_cryptocurrency', approvalId: 'appr-2', args: WITHDRAWAL, rule: null, reason: 'needs a human', policyRevision: '7', policyDigest: 'c0ffee'.padEnd(64, '0'), expiresAt: at(20) },
    { type: 'approval.granted', ...call(0, 11, 'call-appr-2'), agentId: 'trader-2', sessionId: 'session-2', tool: 'withdraw_cryptocurrency', approvalId: 'appr-2', argsSha256: digest, approver: 'bob' },
    decision(5, 12, { agentId: 'trader-2', sessionId: 'session-2', tool: 'withdraw_cryptocurrency', args: WITHDRAWAL, callId: 'call-appr-2', approvalId: 'appr-2' }),
    { type: 'outcome', ...call(5, 13, 'call-appr-2'), agentId: 'trader-2', sessionId: 'session-2', tool: 'withdraw_cryptocurrency', status: 'ok', durationMs: 75 },
    { type: 'approval.requested', ...call(0, 14, 'call-appr-3'), tool: 'withdraw_cryptocurrency', approvalId: 'appr-3', args: WITHDRAWAL, rule: null, reason: 'needs a human', policyRevision: '7', policyDigest: 'c0ffee'.padEnd(64, '0'), expiresAt: at(24) },
    { type: 'approval.expired', ...call(0, 24, 'call-appr-3'), tool: 'withdraw_cryptocurrency', approvalId: 'appr-3', argsSha256: digest, approver: null },
    decision(6, 30, { agentId: 'trader-2', sessionId: 'session-2', tool: 'cancel_order', args: { exchange_id: 'binance', id: '42' } }),
    decision(7, 40, { policyRevision: '9' }),
    { type: 'outcome', ...call(7, 41), tool: 'create_spot_market_order', status: 'ok', durationMs: 9 },
    decision(8, 42, { tool: 'fetch_deposit_address', effect: 'hidden', rule: 'hide', reason: 'hidden by policy' }),
  ];
  for (const event of events) await writer.append(event);
  await writer.close();
  return writer;
}

const AUDIT_DOC = new URL('../../../docs/audit.md', import.meta.url);

/** The `tollgate ledger …` command lines of docs/audit.md's shell blocks. */
function auditDocCommands(): string[][] {
  const text = readFileSync(AUDIT_DOC, 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('tollgate ledger '))
    .map((l) => l.split(/\s+/).slice(1));
}

function writeKeys(dir: string, name: string): void {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
}

const json = <T>(out: CliOutcome): T => JSON.parse(out.stdout) as T;

describe('tollgate ledger on PostgreSQL', () => {
  let database: TestDatabase;
  let connection: LedgerConnection;
  let tree: TempTree;
  let strandId: string;
  const cli = (...args: string[]) => runCli(['ledger', ...args], tree.root, { TOLLGATE_DATABASE_URL: database.url });

  beforeAll(async () => {
    database = await createTestDatabase();
    tree = await tempTree();
    writeKeys(join(tree.root, 'keys'), 'ledger');
    writeKeys(join(tree.root, 'keys'), 'other');
  });

  afterAll(async () => {
    await connection?.close();
    await database?.drop();
    await tree?.remove();
  });

  it('migrate applies the migrations once, then reports the ledger up to date', async () => {
    const first = await cli('migrate');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Applied \d+ migrations to postgres:\/\/postgres@127\.0\.0\.1:\d+\/tollgate_test_\w+:\n {2}0001_ledger_events\.sql\n {2}0002_ledger_roles\.sql\n {2}0003_audit_views\.sql/);
    expect(first.stdout).toContain('Roles granted: tollgate_writer, tollgate_auditor.');
    const again = await cli('migrate', '--json');
    expect(again.code).toBe(0);
    expect(json<{ applied: string[]; alreadyApplied: string[] }>(again)).toMatchObject({ applied: [], alreadyApplied: expect.arrayContaining(['0001_ledger_events.sql']) });

    connection = await connectLedger({ databaseUrl: database.url });
    strandId = (await writeScenario(connection)).strandId;
  });

  it('migrate refuses a changed migration with exit 2, naming the file', async () => {
    const dir = join(tree.root, 'changed-migrations');
    cpSync(new URL('../../../migrations', import.meta.url), dir, { recursive: true });
    writeFileSync(join(dir, '0001_ledger_events.sql'), `${readFileSync(join(dir, '0001_ledger_events.sql'), 'utf8')}-- edited\n`);
    const out = await cli('migrate', '--migrations-dir', dir);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`Error: migration ${join(dir, '0001_ledger_events.sql')} changed after it was applied`);
    expect(out.stderr).toContain('Hint: Applied migrations are history');
    const asJson = await cli('migrate', '--migrations-dir', dir, '--json');
    expect(json<{ error: { code: string; exit: number } }>(asJson).error).toMatchObject({ code: 'ledger.migration_changed', exit: 2 });
  });

  it('query filters and prints a table, CSV or JSON', { timeout: 120_000 }, async () => {
    const table = await cli('query', '--effect', 'deny');
    expect(table.code).toBe(0);
    const [header, row, note] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^TIME\s+TYPE\s+AGENT\s+SESSION\s+TOOL\s+EFFECT\s+RULE\s+REV\s+CALL\s+REASON$/);
    expect(row).toContain('tools.withdraw_cryptocurrency.deny_if[0]');
    expect(row).toContain('ccxt/withdraw_cryptocurrency');
    expect(note).toBe('(1 event)');

    // An event about a whole server (a policy activation) names the server alone.
    const activation = (await cli('query', '--type', 'policy.activated')).stdout.trimEnd().split('\n')[1];
    expect(activation).toMatch(/policy\.activated\s+ccxt\s+7\b/);

    const csv = await cli('query', '--session', 'session-2', '--format', 'csv');
    const lines = csv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('event_id,occurred_at,strand_id,seq,prev_hash,hash,event_type,call_id,agent_id,session_id,server,tool,args,args_sha256,effect,rule,reason,policy_revision,policy_digest,approval_id,approver,outcome_status,duration_ms,result_sha256,detail,shadow_effect,shadow_rule');
    expect(lines).toHaveLength(6);

    const asJson = await cli('query', '--approver', 'alice', '--format', 'json');
    const events = json<LedgerEventRow[]>(asJson);
    expect(events.map((e) => [e.event_type, e.approval_id, e.approver])).toEqual([['approval.granted', 'appr-1', 'alice']]);

    const limited = await cli('query', '--limit', '2', '--json');
    expect(json<{ events: unknown[]; truncated: boolean }>(limited)).toMatchObject({ truncated: true, events: [expect.anything(), expect.anything()] });

    const window = await cli('query', '--type', 'decision', '--from', '2030-05-01T09:03:00Z', '--to', '2030-05-01T09:05', '--format', 'json');
    expect(json<LedgerEventRow[]>(window).map((e) => e.call_id)).toEqual(['call-2', 'call-appr-1']);
  });

  it('query refuses malformed filters with exit 2', async () => {
    const bad = await cli('query', '--from', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from: "yesterday" is not a time: use ISO 8601');
    const empty = await cli('query', '--from', '2030-05-02', '--to', '2030-05-01');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the time range is empty');
  });

  it('export streams NDJSON to a file and CSV to stdout', { timeout: 120_000 }, async () => {
    const out = await cli('export', '--from', '2030-05-01', '--to', '2030-05-02', '--out', 'archive/2030-05.ndjson');
    expect(out.code).toBe(0);
    const file = join(tree.root, 'archive', '2030-05.ndjson');
    expect(out.stdout).toBe(`Exported 19 events as ndjson to ${file}.\n`);
    const rows = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as LedgerEventRow);
    expect(rows).toHaveLength(19);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));

    const csv = await cli('export', '--format', 'csv', '--tool', 'cancel_order');
    expect(csv.code).toBe(0);
    expect(csv.stdout.trimEnd().split('\n')).toHaveLength(2);

    const needsOut = await cli('export', '--json');
    expect(needsOut.code).toBe(2);
    expect(json<{ error: { message: string } }>(needsOut).error.message).toContain('needs --out <file>');
  });

  it('checkpoint signs the heads; verify checks them and the trusted key', { timeout: 120_000 }, async () => {
    const signed = await cli('checkpoint', '--key', 'keys/ledger.key', '--out', 'evidence/checkpoint.json');
    expect(signed.code).toBe(0);
    expect(signed.stdout).toMatch(/^Signed checkpoint [0-9a-f-]{36} of 1 strand \(19 events\) with key [0-9a-f]{64}\.\nStored in the ledger and written to .*evidence\/checkpoint\.json\.\n$/);
    expect(existsSync(join(tree.root, 'evidence', 'checkpoint.json'))).toBe(true);

    const ok = await cli('verify', '--checkpoint', 'evidence/checkpoint.json', '--trust', 'keys/ledger.pub');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: verified 19 events in 1 strand and 2 checkpoints of postgres:/);
    expect(ok.stdout).toContain('1 allowed call without an outcome:\n  call-6');

    const untrusted = await cli('verify', '--trust', 'keys/other.pub', '--json');
    expect(untrusted.code).toBe(1);
    expect(json<VerifyReport>(untrusted).problems[0]).toMatchObject({ kind: 'checkpoint_untrusted' });

    const strict = await cli('verify', '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('(a failure with --strict)');
  });

  it('verify exits 1 naming the first bad event after tampering', async () => {
    const [victim] = (await connection.db.selectFrom('ledger_events').select(['event_id', 'seq']).where('seq', '=', 4 as never).execute()) as Array<{ event_id: string; seq: number }>;
    await database.superuser(
      `BEGIN; ALTER TABLE ledger_events DISABLE TRIGGER USER;
       UPDATE ledger_events SET effect = 'allow' WHERE event_id = '${victim!.event_id}';
       ALTER TABLE ledger_events ENABLE TRIGGER USER; COMMIT;`,
    );
    const out = await cli('verify', '--record');
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('FAILED: 1 problem in 19 events');
    expect(out.stdout).toContain(`First bad event:\n  strand   ${strandId}\n  seq      4\n  event    ${victim!.event_id}\n  problem  hash_mismatch (altered)`);
    expect(out.stdout).toMatch(/Recorded as verification [0-9a-f-]{36}\./);
    const asJson = json<VerifyReport>(await cli('verify', '--json'));
    expect(asJson).toMatchObject({ ok: false, first_problem: { strand_id: strandId, seq: 4, event_id: victim!.event_id } });
  });

  it('runs every command of docs/audit.md', { timeout: 180_000 }, async () => {
    // A fresh copy of the scenario, untampered.
    const fresh = await createTestDatabase();
    try {
      const c = await connectLedger({ databaseUrl: fresh.url });
      await migrateLedger(c);
      await writeScenario(c);
      await c.close();
      const commands = auditDocCommands();
      expect(commands.length).toBeGreaterThanOrEqual(10);
      for (const args of commands) {
        const out = await runCli(args, tree.root, { TOLLGATE_DATABASE_URL: fresh.url });
        expect({ command: args.join(' '), code: out.code, stderr: out.stderr }).toEqual({ command: args.join(' '), code: 0, stderr: '' });
        expect(out.stdout).not.toBe('');
      }
    } finally {
      await fresh.drop();
    }
  });
});

describe('tollgate ledger query of shadow-mode decisions', () => {
  let database: TestDatabase;
  let tree: TempTree;
  const cli = (...args: string[]) => runCli(['ledger', ...args], tree.root, { TOLLGATE_DATABASE_URL: database.url });

  beforeAll(async () => {
    database = await createTestDatabase();
    tree = await tempTree();
    const connection = await connectLedger({ databaseUrl: database.url });
    try {
      await migrateLedger(connection);
      const writer = new LedgerWriter(connection);
      await writer.append(decision(1, 1, { effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)', shadowEffect: 'allow', shadowRule: null }));
      await writer.append(decision(2, 2, { shadowEffect: 'deny', shadowRule: 'order-cap' }));
      await writer.append(decision(3, 3));
      await writer.append(decision(4, 4, { shadowEffect: 'allow', shadowRule: null }));
      await writer.close();
    } finally {
      await connection.close();
    }
  });

  afterAll(async () => {
    await database?.drop();
    await tree?.remove();
  });

  it('filters by --shadow-effect, --shadow-rule, --shadow, --no-shadow and --shadow-differs, and shows the SHADOW column', { timeout: 120_000 }, async () => {
    const calls = async (...args: string[]) => json<LedgerEventRow[]>(await cli('query', ...args, '--format', 'json')).map((e) => e.call_id);
    expect(await calls()).toEqual(['call-1', 'call-2', 'call-3', 'call-4']);
    expect(await calls('--shadow-effect', 'deny')).toEqual(['call-2']);
    expect(await calls('--shadow-rule', 'order-cap')).toEqual(['call-2']);
    expect(await calls('--shadow')).toEqual(['call-1', 'call-2', 'call-4']);
    expect(await calls('--no-shadow')).toEqual(['call-3']);
    expect(await calls('--shadow-differs')).toEqual(['call-1', 'call-2']);
    const table = await cli('query', '--shadow-differs');
    expect(table.code).toBe(0);
    const [header, first, second] = table.stdout.split('\n');
    expect(header).toMatch(/\sEFFECT\s+RULE\s+SHADOW\s/);
    expect(first).toMatch(/\sdeny\s+default\s+allow\s/);
    expect(second).toMatch(/\sallow\s+deny order-cap\s/);
  });
});

describe('tollgate ledger on the embedded ledger', () => {
  let tree: TempTree;
  let template: string;

  beforeAll(async () => {
    tree = await tempTree();
    // Creating a PGlite database takes seconds: migrate one and copy it for each test.
    template = join(tree.root, 'template');
    mkdirSync(template);
    const out = await runCli(['ledger', 'migrate'], template);
    expect(out.code).toBe(0);
  });

  afterAll(async () => {
    await tree?.remove();
  });

  const project = (name: string): string => {
    const dir = join(tree.root, name);
    cpSync(template, dir, { recursive: true });
    return dir;
  };

  it('migrate creates .tollgate/ledger in the working directory and is idempotent', async () => {
    const dir = project('idempotent');
    expect(existsSync(join(dir, '.tollgate', 'ledger', 'PG_VERSION'))).toBe(true);
    const again = await runCli(['ledger', 'migrate'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^The ledger at .*idempotent\/\.tollgate\/ledger is up to date/);
  });

  it('writes, verifies and queries the embedded ledger without a database URL', { timeout: 120_000 }, async () => {
    const dir = project('written');
    const connection = await connectLedger({ dataDir: join(dir, '.tollgate', 'ledger') });
    try {
      await writeScenario(connection);
    } finally {
      await connection.close();
    }
    const verify = await runCli(['ledger', 'verify'], dir);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^OK: verified 19 events in 1 strand and 0 checkpoints of .*written\/\.tollgate\/ledger/);
    const query = await runCli(['ledger', 'query', '--agent', 'trader-2', '--type', 'decision', '--format', 'json'], dir);
    expect(json<LedgerEventRow[]>(query).map((e) => e.call_id)).toEqual(['call-appr-2', 'call-6']);
    const elsewhere = await runCli(['ledger', 'query', '--data-dir', join(dir, '.tollgate', 'ledger'), '--json'], tree.root);
    expect(json<{ events: unknown[] }>(elsewhere).events).toHaveLength(19);
  });

  it('reads an embedded ledger another process has open, through that process', async () => {
    const dir = project('shared');
    const connection = await connectLedger({ dataDir: join(dir, '.tollgate', 'ledger') });
    try {
      await writeScenario(connection);
      const out = await runCli(['ledger', 'verify'], dir);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toMatch(/^OK: verified 19 events in 1 strand/);
      // This process serves the directory: the command was its client, not a second PGlite.
      const server = JSON.parse(readFileSync(join(dir, '.tollgate', 'ledger', 'tollgate-server.json'), 'utf8')) as { pid: number };
      expect(server.pid).toBe(process.pid);
    } finally {
      await connection.close();
    }
  });
});
