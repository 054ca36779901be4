import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerWriter, connectLedger, migrateLedger, type DecisionEventInput } from '@tollgate/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';

const PG_ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const CATALOG = {
  server: 'pay',
  tools: [
    {
      name: 'send_payment',
      inputSchema: {
        type: 'object',
        properties: { amount: { type: 'number', minimum: 0 }, currency: { type: 'string', enum: ['EUR', 'USD', 'GBP'] }, to: { type: 'string' } },
        required: ['amount', 'currency', 'to'],
      },
    },
    { name: 'get_balance', inputSchema: { type: 'object', properties: { account: { type: 'string' } } }, annotations: { readOnlyHint: true } },
  ],
};

function payPolicy(cap: number, extra: Record<string, unknown> = {}): object {
  return {
    version: '1',
    default: 'deny',
    tools: {
      get_balance: {},
      send_payment: {
        require: [{ path: 'args.currency', op: 'in', value: ['EUR', 'USD'] }],
        limits: [{ counter: 'spend', max: cap, window: 'day', increment_from: 'args.amount' }],
      },
      ...extra,
    },
  };
}

const VAULT_DENIED = { get_balance: { deny_if: [{ id: 'no-vault', conditions: [{ path: 'args.account', op: 'eq', value: 'vault' }] }] } };

interface Repo {
  readonly root: string;
  git(...args: string[]): string;
  write(path: string, content: object | string): Promise<void>;
  commit(message: string): void;
}

async function makeRepo(tree: TempTree, name: string): Promise<Repo> {
  const root = join(tree.root, name);
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8' });
  await tree.write(`${name}/.keep`, '');
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Policy Author');
  git('config', 'user.email', 'author@example.com');
  git('config', 'commit.gpgsign', 'false');
  return {
    root,
    git,
    write: async (path, content) => {
      await tree.write(`${name}/${path}`, content);
    },
    commit: (message) => {
      git('add', '-A');
      git('commit', '-q', '-m', message);
    },
  };
}

interface JsonTool {
  tool: string;
  risk: string;
  change: string;
  examples: Array<{ direction: string; call: { tool: string; args: Record<string, unknown> }; base: { effect: string; rule: string | null }; head: { effect: string; rule: string | null } }>;
}

interface JsonReport {
  base: { ref: string; commit: string | null };
  head: { ref: string; commit: string | null };
  servers: Array<{ server: string; status: string; changes: Array<{ kind: string; text: string }>; tools: JsonTool[] }>;
  totals: { wider: number; narrower: number; both: number; changes: number };
  widened: Array<{ server: string; tool: string }>;
  failed: boolean;
  replay: null | { calls: number; replayed: number; not_replayable: number; recorded_mismatch: number; flips: Record<string, number>; examples: Array<{ kind: string; event_id: string }> };
}

const toolOf = (report: JsonReport, name: string): JsonTool => report.servers[0]!.tools.find((t) => t.tool === name)!;

describe('tollgate diff', () => {
  let tree: TempTree;
  let repo: Repo;

  beforeAll(async () => {
    tree = await tempTree();
    repo = await makeRepo(tree, 'policies-repo');
    await repo.write('policies/pay/catalog.json', CATALOG);
    await repo.write('policies/pay/policy.json', payPolicy(1000));
    repo.commit('base policy');
  });

  afterAll(async () => {
    await tree?.remove();
  });

  it('finds nothing between a commit and an identical working tree', async () => {
    const out = await runCli(['diff', 'HEAD', '--format', 'json'], repo.root);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.head).toEqual({ ref: 'working tree', commit: null, files: ['policies/pay/policy.json'] });
    expect(report.base.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(report.totals).toMatchObject({ wider: 0, narrower: 0, both: 0, changes: 0 });
    expect(report.servers[0]!.tools.every((t) => t.change === 'unchanged' && t.examples.length === 0)).toBe(true);
  });

  it('takes the servers lint and test take: a policies/node_modules directory is no server', async () => {
    await repo.write('policies/node_modules/policy.json', '{ "not": "a policy"');
    try {
      const out = await runCli(['diff', 'HEAD', '--format', 'json'], repo.root);
      expect(out.code, out.stderr).toBe(0);
      const report = JSON.parse(out.stdout) as JsonReport;
      expect(report.head).toMatchObject({ files: ['policies/pay/policy.json'] });
      expect(report.servers.map((s) => s.server)).toEqual(['pay']);
    } finally {
      await rm(join(repo.root, 'policies/node_modules'), { recursive: true, force: true });
    }
  });

  it('reports a raised cap in the working tree as wider, just above the old cap, and fails on critical widening', async () => {
    await repo.write('policies/pay/policy.json', payPolicy(5000));
    const out = await runCli(['diff', 'HEAD', '--format', 'json', '--fail-on-widening', 'critical'], repo.root);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as JsonReport;
    const send = toolOf(report, 'send_payment');
    expect(send).toMatchObject({ risk: 'critical', change: 'wider' });
    expect(send.examples[0]).toMatchObject({ direction: 'wider', call: { tool: 'send_payment', args: { amount: 1000.01 } }, base: { effect: 'deny', rule: 'tools.send_payment.limits[0]' }, head: { effect: 'allow' } });
    expect(report.widened).toEqual([{ server: 'pay', tool: 'send_payment', risk: 'critical', change: 'wider' }]);
    expect(report.servers[0]!.changes.map((c) => c.text)).toEqual(['tools.send_payment.limits[0] (counter "spend"): max 1000 → 5000']);

    const pretty = await runCli(['diff', 'HEAD', '--fail-on-widening', 'critical'], repo.root);
    expect(pretty.code).toBe(1);
    expect(pretty.stdout).toContain('send_payment  critical  WIDER');
    expect(pretty.stdout).toContain('+ {"amount":1000.01,"currency":"EUR","to":"example"}: deny (tools.send_payment.limits[0]) → allow');
    expect(pretty.stdout).toMatch(/FAILED: 1 tool at or above critical risk became wider\n {2}pay\/send_payment \(critical\) became wider\n$/);

    // Without the flag, or with a level the tool is below... (critical is the top level), widening does not fail.
    expect((await runCli(['diff', 'HEAD'], repo.root)).code).toBe(0);
  });

  it('writes the markdown PR comment with its marker, the table and the example', async () => {
    await repo.write('policies/pay/policy.json', payPolicy(5000));
    const out = await runCli(['diff', 'HEAD', '--format', 'markdown', '--fail-on-widening', 'critical'], repo.root);
    expect(out.code).toBe(1);
    expect(out.stdout.split('\n')[0]).toBe('<!-- tollgate-diff -->');
    expect(out.stdout).toContain('| pay | <code>send_payment</code> | critical | ⬆️ wider |');
    expect(out.stdout).toContain('<details><summary><code>send_payment</code> — wider (critical)');
    expect(out.stdout).toContain('<code>send_payment {&quot;amount&quot;:1000.01'.replace(/&quot;/g, '"'));
    expect(out.stdout).toContain('> [!CAUTION]');
  });

  it('compares two refs: an added deny_if is narrower, a removed tool under default deny too', async () => {
    await repo.write('policies/pay/policy.json', payPolicy(1000, VAULT_DENIED));
    repo.commit('deny the vault account');
    const narrowed = JSON.parse((await runCli(['diff', 'HEAD~1', 'HEAD', '--json'], repo.root)).stdout) as JsonReport;
    expect(narrowed.head.ref).toBe('HEAD');
    const balance = toolOf(narrowed, 'get_balance');
    expect(balance).toMatchObject({ risk: 'low', change: 'narrower' });
    expect(balance.examples[0]).toMatchObject({ call: { args: { account: 'vault' } }, base: { effect: 'allow' }, head: { effect: 'deny', rule: 'no-vault' } });
    expect(toolOf(narrowed, 'send_payment').change).toBe('unchanged');

    const withoutBalance = payPolicy(1000) as { tools: Record<string, unknown> };
    delete withoutBalance.tools['get_balance'];
    await repo.write('policies/pay/policy.json', withoutBalance);
    const removed = await runCli(['diff', 'HEAD', '.', '--format', 'json', '--fail-on-widening', 'low'], repo.root);
    expect(removed.code).toBe(0);
    const report = JSON.parse(removed.stdout) as JsonReport;
    expect(toolOf(report, 'get_balance').change).toBe('narrower');
    expect(report.servers[0]!.changes).toEqual([expect.objectContaining({ kind: 'tool.removed' })]);
    await repo.write('policies/pay/policy.json', payPolicy(1000, VAULT_DENIED));
  });

  it('reports a change in both directions as both', async () => {
    const both = payPolicy(1000, VAULT_DENIED) as { tools: Record<string, { require?: unknown[] }> };
    both.tools['send_payment']!.require = [{ path: 'args.currency', op: 'in', value: ['EUR', 'GBP'] }];
    await repo.write('policies/pay/policy.json', both);
    const out = await runCli(['diff', 'HEAD', '--json', '--fail-on-widening', 'high'], repo.root);
    expect(out.code).toBe(1);
    const send = toolOf(JSON.parse(out.stdout) as JsonReport, 'send_payment');
    expect(send.change).toBe('both');
    expect(send.examples.map((e) => [e.direction, e.call.args['currency']])).toEqual(expect.arrayContaining([['wider', 'GBP'], ['narrower', 'USD']]));
    await repo.write('policies/pay/policy.json', payPolicy(1000, VAULT_DENIED));
  });

  it('reports an approval made easier to get as a structural change and the tool as wider', async () => {
    const approvals = await makeRepo(tree, 'approvals-repo');
    const gated = (min: number, approvers?: string[]): object =>
      payPolicy(1000, { send_payment: { action: 'approve', min_approvals: min, ...(approvers ? { approvers } : {}) } });
    await approvals.write('policies/pay/catalog.json', CATALOG);
    await approvals.write('policies/pay/policy.json', gated(2, ['risk']));
    approvals.commit('two-person rule for payments');
    await approvals.write('policies/pay/policy.json', gated(1));
    const out = await runCli(['diff', 'HEAD', '--json', '--fail-on-widening', 'critical'], approvals.root);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.servers[0]!.changes.map((c) => c.text)).toEqual([
      'tools.send_payment.approvers: ["risk"] → (any approver) (approval easier to get)',
      'tools.send_payment.min_approvals: 2 → 1 (approval easier to get)',
    ]);
    const send = toolOf(report, 'send_payment');
    expect(send).toMatchObject({ risk: 'critical', change: 'wider' });
    expect(send.examples[0]).toMatchObject({
      direction: 'wider',
      base: { effect: 'approval_required', rule: 'tools.send_payment.action' },
      head: { effect: 'approval_required', rule: 'tools.send_payment.action' },
      approval: { fields: ['approvers', 'min_approvals'], base: { approvers: ['risk'], min_approvals: 2 }, head: { approvers: null, min_approvals: 1 } },
    });
    expect(report.widened).toEqual([{ server: 'pay', tool: 'send_payment', risk: 'critical', change: 'wider' }]);

    const pretty = await runCli(['diff', 'HEAD'], approvals.root);
    expect(pretty.stdout).toContain('send_payment  critical  WIDER');
    expect(pretty.stdout).toMatch(/\+ \{[^\n]*\}: approval_required \(tools\.send_payment\.action\) → approval_required \(tools\.send_payment\.action\) \(approvers \["risk"\] → any approver, min_approvals 2 → 1\)\n/);

    // The reverse makes approval harder: narrower, and no widening to fail on.
    approvals.commit('any approver');
    await approvals.write('policies/pay/policy.json', gated(3, ['risk']));
    const back = await runCli(['diff', 'HEAD', '--json', '--fail-on-widening', 'low'], approvals.root);
    expect(back.code).toBe(0);
    expect(toolOf(JSON.parse(back.stdout) as JsonReport, 'send_payment').change).toBe('narrower');
  });

  it('explains a missing default base and suggests refs (exit 2)', async () => {
    const out = await runCli(['diff'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('Error: base ref "origin/main" does not exist in');
    expect(out.stderr).toMatch(/Hint: There is no origin\/main here \(run `git fetch origin`, or name the base: tollgate diff <base> \[head\]\); refs that exist: main, HEAD~1\./);
    const json = await runCli(['diff', 'no-such-branch', '--json'], repo.root);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'diff.ref-not-found', exit: 2 } });
  });

  it('names the file, line and column of an invalid policy on either side (exit 2)', async () => {
    await repo.write('policies/pay/policy.json', '{\n  "version": "1",\n  "default": "maybe"\n}\n');
    const out = await runCli(['diff', 'HEAD'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/policies\/pay\/policy\.json: the policy is not valid:\n {2}policies\/pay\/policy\.json:3:14: error/);
    const swapped = await runCli(['diff', '.', 'HEAD'], repo.root);
    expect(swapped.code).toBe(2);
    await repo.write('policies/pay/policy.json', payPolicy(1000, VAULT_DENIED));
  });

  it('refuses to run outside a Git repository (exit 2)', async () => {
    await tree.write('not-a-repo/policies/pay/policy.json', payPolicy(1000));
    const out = await runCli(['diff', 'HEAD'], join(tree.root, 'not-a-repo'));
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('is not inside a Git repository');
  });
});

describe('tollgate diff --replay', () => {
  let tree: TempTree;
  let repo: Repo;

  const decision = (n: number, minute: number, fields: Partial<DecisionEventInput>): DecisionEventInput => ({
    type: 'decision',
    at: new Date(Date.UTC(2026, 10, 20, 10, minute)),
    callId: `call-${n}`,
    agentId: 'agent-1',
    sessionId: 'session-1',
    server: 'pay',
    tool: 'send_payment',
    args: {},
    effect: 'allow',
    rule: null,
    reason: 'allowed',
    policyRevision: null,
    policyDigest: 'ab'.repeat(32),
    ...fields,
  });

  /** Records the same eight decisions in a ledger (embedded or PostgreSQL). */
  async function fillLedger(where: { dataDir: string } | { databaseUrl: string }): Promise<void> {
    const connection = await connectLedger(where);
    try {
      await migrateLedger(connection);
      const writer = new LedgerWriter(connection, { redact: [{ server: 'pay', tool: 'send_payment', pointers: ['/memo'] }] });
      // Calls as the gateway records them: arguments valid for the catalog's input schema.
      const pay = (amount: number, currency = 'EUR') => ({ amount, currency, to: 'acct-1' });
      const spend = 'tools.send_payment.limits[0]';
      for (const event of [
        decision(1, 0, { args: pay(800) }),
        decision(2, 1, { args: pay(700), effect: 'deny', rule: spend, reason: 'spend limit exceeded' }),
        decision(3, 2, { agentId: 'agent-2', args: pay(3000), effect: 'deny', rule: spend, reason: 'spend limit exceeded' }),
        decision(4, 3, { args: pay(10, 'GBP'), effect: 'deny', rule: 'tools.send_payment.require[0]', reason: 'currency' }),
        decision(5, 4, { tool: 'get_balance', args: { account: 'main' } }),
        decision(6, 5, { args: { ...pay(5), memo: 'secret' } }),
        decision(7, 6, { tool: 'get_balance', args: { account: 'vault' } }),
        // Refused by the tool's input schema: re-decided the same under both policies (no flip, no mismatch).
        decision(8, 7, { args: { ...pay(1), amount: '1' }, effect: 'deny', rule: 'input_schema', reason: 'invalid arguments for send_payment: args.amount must be number' }),
      ]) {
        await writer.append(event);
      }
      await writer.close();
    } finally {
      await connection.close();
    }
  }

  const EXPECTED_REPLAY = {
    calls: 8,
    replayed: 7,
    not_replayable: 1,
    recorded_mismatch: 0,
    flips: { allow_to_deny: 1, deny_to_allow: 2, to_approval: 0, approval_to_allow: 0, approval_to_deny: 0, deny_hidden: 0 },
  };

  beforeAll(async () => {
    tree = await tempTree();
    repo = await makeRepo(tree, 'replayed');
    await repo.write('policies/pay/catalog.json', CATALOG);
    await repo.write('policies/pay/policy.json', payPolicy(1000));
    repo.commit('base policy');
    await repo.write('policies/pay/policy.json', payPolicy(5000, VAULT_DENIED));
    await fillLedger({ dataDir: join(repo.root, '.tollgate', 'ledger') });
  }, 120_000);

  afterAll(async () => {
    await tree?.remove();
  });

  it('re-decides the recorded calls under both policies and counts exact flips', async () => {
    const out = await runCli(['diff', 'HEAD', '--replay', '--since', '2026-11-01', '--json'], repo.root);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.replay).toMatchObject(EXPECTED_REPLAY);
    expect(report.replay!.examples.map((e) => e.kind).sort()).toEqual(['allow_to_deny', 'deny_to_allow', 'deny_to_allow']);

    const markdown = await runCli(['diff', 'HEAD', '--replay', '--since', '2026-11-01', '--format', 'markdown'], repo.root);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain('8 recorded decisions: 7 replayed, 1 not replayable (arguments redacted).');
    expect(markdown.stdout).toContain('| 1 | 2 | 0 | 0 | 0 | 0 |');
  });

  it('says there is no ledger where none exists (exit 2), and creates none', { timeout: 120_000 }, async () => {
    const out = await runCli(['diff', 'HEAD', '--replay', '--data-dir', 'empty-ledger'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/there is no embedded ledger at .*empty-ledger \(nothing was created there\)/);
    expect(existsSync(join(repo.root, 'empty-ledger'))).toBe(false);
  });

  it('replays a PostgreSQL ledger given by --database-url the same way', { timeout: 120_000 }, async () => {
    const name = `tollgate_diff_replay_${process.pid}_${Date.now()}`;
    const admin = await connectLedger({ databaseUrl: PG_ADMIN_URL });
    try {
      await admin.execute(`CREATE DATABASE ${name}`);
    } finally {
      await admin.close();
    }
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    try {
      await fillLedger({ databaseUrl: url.toString() });
      const out = await runCli(['diff', 'HEAD', '--replay', '--since', '2026-11-01', '--database-url', url.toString(), '--json'], repo.root);
      expect(out.code, out.stderr).toBe(0);
      expect((JSON.parse(out.stdout) as JsonReport).replay).toMatchObject(EXPECTED_REPLAY);
    } finally {
      const cleanup = await connectLedger({ databaseUrl: PG_ADMIN_URL });
      try {
        await cleanup.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await cleanup.close();
      }
    }
  });

  it('replays nothing before --since', async () => {
    const out = await runCli(['diff', 'HEAD', '--replay', '--since', '2026-11-20T10:05:00Z', '--json'], repo.root);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.replay).toMatchObject({ calls: 3, replayed: 2, not_replayable: 1, flips: { allow_to_deny: 1, deny_to_allow: 0 } });
  });
});
