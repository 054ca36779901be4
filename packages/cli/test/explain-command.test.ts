import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseGatewayConfig, startGateway, type RunningGateway } from '@tollgate/gateway';
import { LedgerWriter, connectLedger, type DecisionEventInput } from '@tollgate/ledger';
import { canonicalDigest, sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayServices } from '../src/gateway/gateway-runner.js';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE } from './mcp-servers.js';

const TOKEN = 'explain-desk';
const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A uniquely named database on the test server (trust auth), dropped by `drop()`. */
interface TestDatabase {
  readonly url: string;
  query<R>(text: string): Promise<R[]>;
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
    async query<R>(text: string) {
      const c = await connectLedger({ databaseUrl: url.toString() });
      try {
        return (await c.execute(text)).rows as R[];
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
const catalog = readFileSync(new URL('../../../policies/ccxt/catalog.json', import.meta.url), 'utf8');

/** The policy the gateway enforces while the calls are made (committed as the first version). */
const POLICY_V1 = {
  version: '1',
  default: 'deny',
  hide: ['withdraw_cryptocurrency'],
  all_tools: { limits: [{ counter: 'calls', max: 100, window: 'minute' }] },
  tools: {
    create_spot_market_order: {
      require: [{ path: 'args.exchange_id', op: 'in', value: ['binance', 'kraken'] }],
      deny_if: [{ id: 'max-amount', conditions: [{ path: 'args.amount', op: 'gt', value: 2 }] }],
      limits: [{ counter: 'notional', max: 3, window: 'day', scope: 'global', increment_from: 'args.amount' }],
    },
    create_futures_market_order: {
      require: [
        { path: 'agent.labels.team', op: 'eq', value: 'desk' },
        { path: 'args.symbol', op: 'regex', value: '^[A-Z]+/[A-Z]+' },
      ],
    },
    fetch_deposit_address: { shadow: true, require: [{ path: 'args.exchange_id', op: 'eq', value: 'binance' }] },
    fetch_account_balance: {},
  },
};

/** The next version: a larger spend cap. Committed after the calls, so v1 is only in history. */
const POLICY_V2 = {
  ...POLICY_V1,
  tools: {
    ...POLICY_V1.tools,
    create_spot_market_order: { ...POLICY_V1.tools.create_spot_market_order, limits: [{ counter: 'notional', max: 10, window: 'day', scope: 'global', increment_from: 'args.amount' }] },
    cancel_order: { action: 'approve' },
  },
};

interface Row {
  call_id: string;
  tool: string;
  effect: string;
  rule: string | null;
}

interface ExplainJson {
  call_id: string;
  recorded: { effect: string; rule: string | null; code: string | null; policy_digest: string; args: Record<string, unknown> };
  decisions: number;
  policy: { file: string; catalog: string | null; digest: string; revision: number | null; source: { kind: string; commit: string | null; bundle: { revision: number } | null } };
  call: { tool: string; args: Record<string, unknown>; agent?: { id: string; labels?: Record<string, string> } };
  replay: { exact: boolean; arguments: { exact: boolean; redacted: string[] }; labels: { given: Record<string, string> | null; read: string[] }; counters: Array<{ counter: string; used_before: number; source: { source: string; decisions?: number; why?: string } }> };
  notes: string[];
  decision: { effect: string; rule: string | null; code: string | null; shadow?: { effect: string; rule: string | null } };
  agreement: { agrees: boolean; differences: string[] };
  trace: { shadow_mode: string; enforced: { verdict: { step: string }; steps: Array<{ step: string; limits?: Array<{ counter: string; used_before: number; used_after: number | null; outcome: string; counter_source: { source: string } }> }> }; shadow: null | { verdict: { effect: string; rule: string | null } } };
}

describe('tollgate explain', () => {
  let db: TestDatabase;
  let repo: TempTree;
  let gateway: RunningGateway;
  let client: Client;
  let rows: Row[];
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: repo.root, encoding: 'utf8' });
  const explain = (callId: string, ...extra: string[]) => runCli(['explain', callId, '--database-url', db.url, ...extra], repo.root);
  const explainJson = async (callId: string, ...extra: string[]): Promise<ExplainJson> => {
    const out = await explain(callId, ...extra, '--json');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    return JSON.parse(out.stdout) as ExplainJson;
  };
  const callOf = (tool: string, nth = 0): Row => rows.filter((r) => r.tool === tool)[nth]!;

  beforeAll(async () => {
    db = await createTestDatabase();
    repo = await tempTree({ 'policies/ccxt/policy.json': POLICY_V1, 'policies/ccxt/catalog.json': catalog });
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'Policy Author');
    git('config', 'user.email', 'author@example.com');
    git('config', 'commit.gpgsign', 'false');
    git('add', '-A');
    git('commit', '-q', '-m', 'ccxt: first policy');

    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'desk-bot', token_sha256: sha256Hex(TOKEN), labels: { team: 'desk' } }],
        upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE] } },
        policy: { dir: join(repo.root, 'policies') },
        ledger: { database_url: db.url, migrate: true, await_outcome: true, redact: [{ server: 'ccxt', tool: 'create_futures_market_order', pointers: ['/symbol'] }] },
        limits: { store: 'memory' },
        log: { level: 'silent' },
      }),
      join(repo.root, 'gateway.json'),
    );
    gateway = await startGateway(config, { services: gatewayServices(config) });
    client = new Client({ name: 'explain-test', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    const call = (name: string, args: Record<string, unknown>) => client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema).catch((e: unknown) => e);
    const spot = (amount: unknown) => ({ exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount });
    await call('create_spot_market_order', spot(1)); // allowed: notional 1
    await call('create_spot_market_order', spot(1.5)); // allowed: notional 2.5
    await call('create_spot_market_order', spot(1)); // rate limited: 2.5 + 1 > 3
    await call('create_spot_market_order', spot(2.5)); // deny_if max-amount
    await call('create_spot_market_order', spot('lots')); // invalid arguments
    await call('create_futures_market_order', { exchange_id: 'binance', symbol: 'BTC/USDT:USDT', side: 'buy', amount: 0.1 }); // allowed (label team=desk), symbol redacted
    await call('fetch_deposit_address', { exchange_id: 'kraken', code: 'BTC' }); // default deny; shadow deny
    await call('withdraw_cryptocurrency', { exchange_id: 'binance', code: 'BTC', amount: 1, address: 'x' }); // hidden
    for (let i = 0; i < 100; i++) {
      rows = await db.query<Row>("SELECT call_id, tool, effect, rule FROM ledger_events WHERE event_type = 'decision' ORDER BY occurred_at, event_id");
      if (rows.length >= 8) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows.map((r) => [r.tool, r.effect, r.rule])).toEqual([
      ['create_spot_market_order', 'allow', null],
      ['create_spot_market_order', 'allow', null],
      ['create_spot_market_order', 'deny', 'tools.create_spot_market_order.limits[0]'],
      ['create_spot_market_order', 'deny', 'max-amount'],
      ['create_spot_market_order', 'deny', 'input_schema'],
      ['create_futures_market_order', 'allow', null],
      ['fetch_deposit_address', 'deny', 'default'],
      ['withdraw_cryptocurrency', 'hidden', 'hide'],
    ]);
    await client.close();
    await gateway.shutdown('test over');
    // The policy moves on: v1 is now only in the repository's history.
    await repo.write('policies/ccxt/policy.json', POLICY_V2);
    git('commit', '-q', '-am', 'ccxt: a larger spend cap');
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await gateway?.shutdown('test over').catch(() => undefined);
    await db?.drop();
    await repo?.remove();
    for (const ext of ['key', 'pub']) await rm(join(repo.root, '..', `${basename(repo.root)}-key.${ext}`), { force: true });
  }, 30_000);

  it('a rate-limited call: the policy found in Git history, its counters re-derived from the earlier decisions, and the decisions agree', async () => {
    const row = callOf('create_spot_market_order', 2);
    const report = await explainJson(row.call_id);
    expect(report.recorded).toMatchObject({ effect: 'deny', rule: 'tools.create_spot_market_order.limits[0]', code: 'rate_limited', policy_digest: canonicalDigest(POLICY_V1) });
    expect(report.policy.source.kind).toBe('commit');
    expect(report.policy.file).toMatch(/^[0-9a-f]{12}:policies\/ccxt\/policy\.json$/);
    expect(report.policy.source.commit).toBe(git('rev-parse', 'HEAD~1').trim());
    expect(report.policy.catalog).toMatch(/:policies\/ccxt\/catalog\.json$/);
    expect(report.decision).toMatchObject({ effect: 'deny', rule: 'tools.create_spot_market_order.limits[0]', code: 'rate_limited' });
    expect(report.agreement).toEqual({ agrees: true, differences: [] });
    expect(report.replay.counters.map((c) => [c.counter, c.used_before, c.source.source, c.source.decisions])).toEqual([
      ['calls', 2, 'ledger', 2],
      ['notional', 2.5, 'ledger', 2],
    ]);
    const limits = report.trace.enforced.steps.find((s) => s.step === 'limits')!.limits!;
    expect(limits.map((l) => [l.counter, l.used_before, l.outcome, l.counter_source.source])).toEqual([
      ['calls', 2, 'admitted', 'ledger'],
      ['notional', 2.5, 'exceeded', 'ledger'],
    ]);
    expect(report.replay.exact).toBe(true);
    expect(report.notes).toContain('The ledger does not record agent labels; this decision read none, so it does not depend on them.');
  });

  it('git runs in a minimal environment: GIT_DIR and GIT_WORK_TREE of the caller do not redirect it', async () => {
    const elsewhere = await tempTree();
    try {
      execFileSync('git', ['init', '-q'], { cwd: elsewhere.root });
      const out = await runCli(['explain', callOf('create_spot_market_order', 0).call_id, '--database-url', db.url, '--json'], repo.root, { GIT_DIR: join(elsewhere.root, '.git'), GIT_WORK_TREE: elsewhere.root });
      expect(out.code, out.stderr).toBe(0);
      expect(JSON.parse(out.stdout).policy.source).toMatchObject({ kind: 'commit', commit: git('rev-parse', 'HEAD~1').trim() });
    } finally {
      await elsewhere.remove();
    }
  });

  it('pretty output: the recorded decision, the policy version, the notes, the trace and the agreement', async () => {
    const row = callOf('create_spot_market_order', 1);
    const out = await explain(row.call_id);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`Call      ${row.call_id}: create_spot_market_order on ccxt, agent desk-bot, session `);
    expect(out.stdout).toMatch(/^Recorded {2}allow: allowed by policy$/m);
    expect(out.stdout).toMatch(/^Policy {4}[0-9a-f]{12}:policies\/ccxt\/policy\.json \(the version committed in [0-9a-f]{12}\)$/m);
    expect(out.stdout).toContain('Replay: exact (everything that decided the call was recorded)');
    expect(out.stdout).toContain('  - Counter "notional" (tools.create_spot_market_order.limits[0], global) was re-derived from 1 earlier allowed decision in its window: 1 before the call.');
    expect(out.stdout).toMatch(/"notional" global, day window from .*: 1 \+ 1\.5 from args\.amount = 2\.5 of 3: admitted; from 1 earlier decision in the ledger/);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('The recorded decision and the re-derived one agree.');
  });

  it('deny_if, invalid arguments, hidden and shadow decisions are re-derived as recorded', async () => {
    const denied = await explainJson(callOf('create_spot_market_order', 3).call_id);
    expect(denied.agreement.agrees).toBe(true);
    expect(denied.trace.enforced.verdict.step).toBe('deny_if');
    const invalid = await explainJson(callOf('create_spot_market_order', 4).call_id);
    expect(invalid).toMatchObject({ decision: { rule: 'input_schema', code: 'invalid_arguments' }, agreement: { agrees: true } });
    const hidden = await explainJson(callOf('withdraw_cryptocurrency').call_id);
    expect(hidden).toMatchObject({ decision: { effect: 'hidden', rule: 'hide' }, agreement: { agrees: true } });
    const shadow = await explainJson(callOf('fetch_deposit_address').call_id);
    expect(shadow.decision).toMatchObject({ effect: 'deny', rule: 'default', shadow: { effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]' } });
    expect(shadow.trace.shadow_mode).toBe('tool');
    expect(shadow.trace.shadow!.verdict).toMatchObject({ effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]' });
    expect(shadow.agreement.agrees).toBe(true);
  });

  it('what cannot be replayed: labels (not recorded) and redacted arguments; the decisions then differ, and say how', async () => {
    const row = callOf('create_futures_market_order');
    const bare = await explainJson(row.call_id);
    expect(bare.recorded.args.symbol).toBe('[REDACTED]');
    expect(bare.replay).toMatchObject({ exact: false, arguments: { exact: false, redacted: ['args.symbol'] }, labels: { given: null, read: ['agent.labels.team'] } });
    expect(bare.decision).toMatchObject({ effect: 'deny', rule: 'tools.create_futures_market_order.require[0]' });
    expect(bare.agreement.agrees).toBe(false);
    expect(bare.agreement.differences).toEqual([
      'effect: recorded allow, re-derived deny',
      'rule: recorded none, re-derived tools.create_futures_market_order.require[0]',
      'limit all_tools.limits[0]: recorded at 3 of 100, not consulted when re-derived',
    ]);
    expect(bare.notes).toContain('The ledger does not record agent labels, and the decision read agent.labels.team: the replay ran without labels (pass --label key=value to give the agent\'s).');
    expect(bare.notes.some((n) => n.startsWith('Arguments were redacted in the ledger (args.symbol)'))).toBe(true);
    // With the label given, the redacted symbol is what still fails.
    const labelled = await explainJson(row.call_id, '--label', 'team=desk');
    expect(labelled.call.agent).toEqual({ id: 'desk-bot', labels: { team: 'desk' } });
    expect(labelled.decision.rule).toBe('tools.create_futures_market_order.require[1]');
    expect(labelled.agreement.agrees).toBe(false);
    const text = await explain(row.call_id);
    expect(text.stdout).toContain('Replay: not exact');
    expect(text.stdout).toContain('The recorded decision and the re-derived one differ:\n  - effect: recorded allow, re-derived deny');
  });

  it('the working tree first: a policy whose digest matches on disk is used from there', async () => {
    await repo.write('policies/ccxt/policy.json', POLICY_V1);
    try {
      const report = await explainJson(callOf('create_spot_market_order', 0).call_id);
      expect(report.policy).toMatchObject({ file: 'policies/ccxt/policy.json', catalog: 'policies/ccxt/catalog.json', source: { kind: 'working-tree', commit: null } });
      expect(report.agreement.agrees).toBe(true);
    } finally {
      git('checkout', '-q', '--', 'policies/ccxt/policy.json');
    }
  });

  it('a committed signed bundle whose manifest has the recorded revision', async () => {
    const build = await runCli(['bundle', 'build', '.', '--out', 'bundles/bundle.json', '--revision', '7'], repo.root);
    expect(build.code, build.stderr).toBe(0);
    expect((await runCli(['keys', 'generate', '--out', join(repo.root, '..', `${basename(repo.root)}-key`)], repo.root)).code).toBe(0);
    const sign = await runCli(['bundle', 'sign', 'bundles/bundle.json', '--key', join(repo.root, '..', `${basename(repo.root)}-key.key`)], repo.root);
    expect(sign.code, sign.stderr).toBe(0);
    git('add', '-A');
    git('commit', '-q', '-m', 'bundle revision 7');
    // A decision recorded by a gateway enforcing that bundle (revision 7, the v2 policy's digest).
    const connection = await connectLedger({ databaseUrl: db.url });
    const writer = new LedgerWriter(connection, { label: 'bundle-gateway' });
    const event: DecisionEventInput = {
      type: 'decision',
      callId: 'call-from-bundle',
      agentId: 'desk-bot',
      sessionId: 's-bundle',
      server: 'ccxt',
      tool: 'create_spot_market_order',
      args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 0.5 },
      effect: 'allow',
      rule: null,
      reason: 'allowed by policy',
      policyRevision: '7',
      policyDigest: canonicalDigest(POLICY_V2),
      detail: { limits: [] },
    };
    await writer.append(event);
    await writer.close();
    await connection.close();
    // The working tree has moved on (uncommitted), so the history is searched: bundles first, for a recorded revision.
    await repo.write('policies/ccxt/policy.json', { ...POLICY_V2, description: 'being edited' });
    try {
      const report = await explainJson('call-from-bundle');
      expect(report.policy).toMatchObject({ revision: 7, source: { kind: 'bundle', bundle: { revision: 7 } } });
      expect(report.policy.file).toMatch(/^[0-9a-f]{12}:bundles\/bundle\.json#policies\/ccxt\/policy\.json$/);
      expect(report.policy.catalog).toMatch(/^[0-9a-f]{12}:bundles\/bundle\.json#policies\/ccxt\/catalog\.json$/);
      expect(report.decision).toMatchObject({ effect: 'allow', rule: null, revision: 7 });
      const out = await explain('call-from-bundle');
      expect(out.stdout).toMatch(/\(bundle revision 7, built from [0-9a-f]{12}, 1 signature\)/);
    } finally {
      git('checkout', '-q', '--', 'policies/ccxt/policy.json');
    }
    // In the working tree again, the same digest is found there first.
    expect((await explainJson('call-from-bundle')).policy.source.kind).toBe('working-tree');
  });

  it('approvals: the one a decision went by is read from the ledger\'s approval events', async () => {
    const connection = await connectLedger({ databaseUrl: db.url });
    const writer = new LedgerWriter(connection, { label: 'approvals' });
    const args = { exchange_id: 'binance', id: '42' };
    const common = { agentId: 'desk-bot', sessionId: 's-ap', server: 'ccxt', tool: 'cancel_order' } as const;
    const digest = canonicalDigest(POLICY_V2);
    for (const [id, resolution] of [['ap-1', 'approval.granted'], ['ap-2', 'approval.denied']] as const) {
      await writer.append({ type: 'approval.requested', ...common, callId: `call-${id}`, approvalId: id, args, rule: 'tools.cancel_order.action', reason: 'needs a human', policyRevision: null, policyDigest: digest, expiresAt: new Date(Date.now() + 600_000) });
      await writer.append({ type: resolution, approvalId: id, callId: `call-${id}`, agentId: 'desk-bot', server: 'ccxt', tool: 'cancel_order', argsSha256: sha256Hex(JSON.stringify(args)), approver: 'lead', reason: 'checked' });
    }
    await writer.append({ type: 'decision', ...common, callId: 'call-ap-1', args, effect: 'allow', rule: 'tools.cancel_order.action', reason: 'allowed by approval ap-1', policyRevision: null, policyDigest: digest, approvalId: 'ap-1', detail: { limits: [] } });
    await writer.append({ type: 'decision', ...common, callId: 'call-ap-2', args, effect: 'deny', rule: 'tools.cancel_order.action', reason: 'approval ap-2 was denied by lead', policyRevision: null, policyDigest: digest, approvalId: 'ap-2', detail: { code: 'approval.denied' } });
    await writer.close();
    await connection.close();
    const granted = await explainJson('call-ap-1');
    expect(granted.decision).toMatchObject({ effect: 'allow', rule: 'tools.cancel_order.action' });
    expect(granted.agreement.agrees).toBe(true);
    expect(granted.notes.some((n) => /^Approval ap-1 was granted \(event [0-9a-f-]+\)\.$/.test(n))).toBe(true);
    const denied = await explainJson('call-ap-2');
    expect(denied.decision).toMatchObject({ effect: 'deny', rule: 'tools.cancel_order.action', code: 'approval.denied' });
    expect(denied.agreement).toEqual({ agrees: true, differences: [] });
  });

  it('exit 2: an unknown call id, and a digest no policy has', async () => {
    const unknown = await explain('no-such-call');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Error: no decision with call id "no-such-call" in the ledger');
    expect(unknown.stderr).toContain('Hint: Find call ids with `tollgate ledger query`');
    const connection = await connectLedger({ databaseUrl: db.url });
    const writer = new LedgerWriter(connection, { label: 'elsewhere' });
    await writer.append({
      type: 'decision',
      callId: 'call-unknown-policy',
      agentId: 'a',
      server: 'ccxt',
      tool: 'fetch_account_balance',
      args: {},
      effect: 'allow',
      rule: null,
      reason: 'allowed by policy',
      policyRevision: null,
      policyDigest: 'ab'.repeat(32),
    });
    await writer.close();
    await connection.close();
    const missing = await explain('call-unknown-policy', '--json');
    expect(missing.code).toBe(2);
    const error = JSON.parse(missing.stdout).error;
    expect(error.code).toBe('explain.policy-not-found');
    expect(error.message).toMatch(/^cannot find the policy of server "ccxt" with digest abab.* searched the working tree \(policies\/ccxt\/policy\.json, digest [0-9a-f]{12}\) and 2 versions of its policy file and 1 of bundles\/bundle\.json in the history of /);
  });
});
