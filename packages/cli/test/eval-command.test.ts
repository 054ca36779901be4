import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';

/** The repository root: its policies/ are the ones decided here. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const AT = '2026-03-02T10:15:30Z';
const spot = (amount: unknown) => JSON.stringify({ exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount });
const futures = (amount: number) => JSON.stringify({ exchange_id: 'binance', symbol: 'BTC/USDT:USDT', side: 'buy', amount, price: 50_000 });

interface EvalJson {
  server: string;
  policy: { file: string; catalog: string | null; digest: string; revision: number | null };
  call: { tool: string; args: Record<string, unknown>; agent: { id: string; labels?: Record<string, string> }; session: { id: string } };
  at: string;
  counters: string;
  approval: string | null;
  decision: { effect: string; rule: string | null; reason: string; code: string | null; shadow?: { effect: string; rule: string | null }; approval_id?: string; limits?: Array<{ rule: string; used: number }> };
  trace: null | {
    shadow_mode: string;
    enforced: { verdict: { effect: string; rule: string | null; code: string | null; step: string }; steps: Array<{ step: string; status: string; detail: string; rules?: Array<{ id: string; status: string; conditions: Array<{ text: string; found: boolean; actual?: unknown; result: string; evaluated: boolean }> }>; approval?: { rule: string; lookup: string; id?: string }; limits?: Array<{ rule: string; used_before: number; amount: number; used_after: number | null; outcome: string; window_start: number; counter_source: { source: string } }> }> };
    shadow: null | { verdict: { effect: string; rule: string | null; step: string } };
  };
}

async function evalJson(args: readonly string[], cwd = ROOT): Promise<EvalJson> {
  const out = await runCli(['eval', ...args, '--json'], cwd);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return JSON.parse(out.stdout) as EvalJson;
}

describe('tollgate eval', () => {
  let work: TempTree;
  beforeAll(async () => {
    work = await tempTree({
      'policies/yaml/policy.yaml': 'version: "1"\ndefault: allow\ntools:\n  put:\n    require:\n      - { path: args.key, op: regex, value: "^[a-z]+$" }\n',
      'policies/broken/policy.json': '{\n  "version": "1",\n  "default": "deny",\n  "tools": { "t": { "require": [ { "path": "args.a", "op": "regex", "value": "(" } ] } }\n}\n',
      'policies/badcatalog/policy.json': { version: '1', default: 'deny' },
      'policies/badcatalog/catalog.json': '{ "tools": [ { "name": 5 } ] }',
    });
  });
  afterAll(async () => {
    await work?.remove();
  });

  it('prints the decision: effect, rule, reason and code (exit 0 whatever the effect)', async () => {
    const out = await runCli(['eval', 'ccxt', '--tool', 'create_spot_market_order', '--args', spot(5), '--at', AT], ROOT);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      [
        'create_spot_market_order on ccxt: deny by spot-market-max-amount (policy.denied)',
        '  rule     spot-market-max-amount',
        '  reason   A spot order may not exceed 2 units of the base currency.',
        '  code     policy.denied',
        '',
      ].join('\n'),
    );
  });

  it('--explain: every step, each rule and condition with the value at its path, and which step decided', async () => {
    const out = await runCli(['eval', 'ccxt', '--tool', 'create_spot_market_order', '--args', spot(5), '--agent', 'trader-1', '--label', 'team=desk', '--at', AT, '--explain'], ROOT);
    expect(out.code).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines[0]).toBe('Call      create_spot_market_order on ccxt, agent trader-1 (team=desk), session test-session, at 2026-03-02T10:15:30.000Z');
    expect(lines).toContain('Counters  fresh, in memory: an ad-hoc call is the first of its limit windows');
    expect(out.stdout).toMatch(/^ {2}5\. require {5}passed {7}all 3 conditions held$/m);
    expect(out.stdout).toMatch(/^ {9}args\.api_key exists false {3}missing {3}held$/m);
    expect(out.stdout).toMatch(/^ {2}6\. deny_if {5}decided {6}spot-market-max-amount matched: its condition held$/m);
    expect(out.stdout).toMatch(/^ {9}args\.amount gt 2 {3}= 5 {3}held$/m);
    expect(out.stdout).toMatch(/^ {2}8\. limits {6}not reached {2}the call was decided at step deny_if$/m);
    expect(lines.at(-5)).toBe('create_spot_market_order on ccxt: deny by spot-market-max-amount (policy.denied)');
  });

  it('--explain --json: the trace agrees with the decision; limits show each counter, fresh', async () => {
    const report = await evalJson(['ccxt', '--tool', 'create_spot_market_order', '--args', spot(1.5), '--agent', 'trader-1', '--at', AT, '--explain']);
    expect(report).toMatchObject({ server: 'ccxt', policy: { file: 'policies/ccxt/policy.json', catalog: 'policies/ccxt/catalog.json', revision: null }, at: '2026-03-02T10:15:30.000Z', counters: 'fresh', approval: null });
    expect(report.policy.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(report.decision).toMatchObject({ effect: 'allow', rule: null, code: null });
    expect(report.trace!.enforced.verdict).toEqual({ effect: 'allow', rule: null, code: null, step: 'allow' });
    const limits = report.trace!.enforced.steps.find((s) => s.step === 'limits')!.limits!;
    expect(limits.map((l) => [l.rule, l.used_before, l.amount, l.used_after, l.outcome, l.counter_source.source])).toEqual([
      ['all_tools.limits[0]', 0, 1, 1, 'admitted', 'fresh'],
      ['tools.create_spot_market_order.limits[0]', 0, 1, 1, 'admitted', 'fresh'],
      ['tools.create_spot_market_order.limits[1]', 0, 1.5, 1.5, 'admitted', 'fresh'],
    ]);
    expect(limits[2]!.window_start).toBe(Date.parse('2026-03-02T00:00:00Z'));
    expect(report.decision.limits!.map((l) => l.used)).toEqual([1, 1, 1.5]);
    // Without --explain there is no trace.
    expect((await evalJson(['ccxt', '--tool', 'fetch_ohlcv', '--args', '{"exchange_id":"binance","symbol":"BTC/USDT"}'])).trace).toBeNull();
  });

  it('a spend limit adds the amount at its increment_from path', async () => {
    const out = await runCli(['eval', 'ccxt', '--tool', 'create_spot_market_order', '--args', spot(2), '--at', AT, '--explain'], ROOT);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('tools.create_spot_market_order.limits[1]  "daily-notional" global, day window from 2026-03-02T00:00:00.000Z: 0 + 2 from args.amount = 2 of 5: admitted; fresh counter');
  });

  it('labels and approvals: a large futures order needs approval; granted it runs under the approval rule; denied it is refused', async () => {
    const base = ['ccxt', '--tool', 'create_futures_limit_order', '--args', futures(0.8), '--agent', 'trader-1', '--label', 'team=desk', '--at', AT, '--explain'];
    const asked = await evalJson(base);
    expect(asked.decision).toMatchObject({ effect: 'approval_required', rule: 'futures-limit-large-order', code: 'approval.required' });
    expect(asked.trace!.enforced.steps.find((s) => s.step === 'approve_if')!.approval).toEqual({ rule: 'futures-limit-large-order', lookup: 'none' });
    const granted = await evalJson([...base, '--approval', 'granted']);
    expect(granted).toMatchObject({ approval: 'granted', decision: { effect: 'allow', rule: 'futures-limit-large-order', approval_id: 'eval-approval' } });
    const denied = await evalJson([...base, '--approval', 'denied']);
    expect(denied.decision).toMatchObject({ effect: 'deny', rule: 'futures-limit-large-order', code: 'approval.denied' });
    const expired = await evalJson([...base, '--approval', 'expired']);
    expect(expired.decision).toMatchObject({ effect: 'deny', code: 'approval.expired' });
    // Without the label the desk-only require condition fails, and the trace says the label is missing.
    const noLabel = await evalJson(['ccxt', '--tool', 'create_futures_limit_order', '--args', futures(0.8), '--explain']);
    expect(noLabel.decision.rule).toBe('tools.create_futures_limit_order.require[3]');
    const condition = noLabel.trace!.enforced.steps.find((s) => s.step === 'require')!.rules![3]!.conditions[0]!;
    expect(condition).toMatchObject({ text: 'agent.labels.team eq "desk"', found: false, result: 'failed', evaluated: true });
  });

  it('shadow mode: a tool rule in shadow is enforced by the default and its would-be decision traced', async () => {
    const report = await evalJson(['ccxt', '--tool', 'fetch_deposit_address', '--args', '{"exchange_id":"okx","code":"BTC"}', '--explain']);
    expect(report.decision).toMatchObject({ effect: 'deny', rule: 'default', shadow: { effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]' } });
    expect(report.trace!.shadow_mode).toBe('tool');
    expect(report.trace!.enforced.verdict.step).toBe('default');
    expect(report.trace!.shadow!.verdict).toEqual({ effect: 'deny', rule: 'tools.fetch_deposit_address.require[0]', code: 'policy.denied', step: 'require' });
    const text = await runCli(['eval', 'ccxt', '--tool', 'fetch_deposit_address', '--args', '{"exchange_id":"okx","code":"BTC"}', '--explain'], ROOT);
    expect(text.stdout).toContain('Shadow: the rule of "fetch_deposit_address" is in shadow mode; this is what it would have decided (recorded, not enforced)');
    expect(text.stdout).toContain('  shadow   deny by tools.fetch_deposit_address.require[0] (policy.denied)');
  });

  it('hidden tools and invalid arguments are decided as the gateway does', async () => {
    const hidden = await evalJson(['everything', '--tool', 'get-env', '--explain']);
    expect(hidden.decision).toMatchObject({ effect: 'hidden', rule: 'hide', code: 'tool.hidden' });
    expect(hidden.trace!.enforced.steps[0]).toMatchObject({ step: 'hidden', status: 'decided', detail: '"get-env" is named in "hide"' });
    const invalid = await evalJson(['ccxt', '--tool', 'create_spot_market_order', '--args', spot('a lot'), '--explain']);
    expect(invalid.decision).toMatchObject({ effect: 'deny', rule: 'input_schema', code: 'invalid_arguments' });
    expect(invalid.trace!.enforced.steps[1]).toMatchObject({ step: 'arguments', status: 'decided' });
  });

  it('--dir: a YAML policy without a catalog; the arguments step says they were not checked', async () => {
    const report = await evalJson(['yaml', '--dir', 'policies', '--tool', 'put', '--args', '{"key":"ABC"}', '--explain'], work.root);
    expect(report.policy).toMatchObject({ file: 'policies/yaml/policy.yaml', catalog: null });
    expect(report.decision).toMatchObject({ effect: 'deny', rule: 'tools.put.require[0]' });
    expect(report.trace!.enforced.steps[1]).toMatchObject({ step: 'arguments', status: 'skipped' });
  });

  it('exit 2: an unknown server names the servers there are', async () => {
    const out = await runCli(['eval', 'nope', '--tool', 'x'], ROOT);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('Error: no policy for server "nope" in policies: policies/nope/ does not exist');
    expect(out.stderr).toContain('Servers with a directory in policies: ccxt, everything.');
    const json = await runCli(['eval', 'nope', '--tool', 'x', '--json'], ROOT);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'eval.unknown-server', exit: 2 });
    const traversal = await runCli(['eval', '../policies', '--tool', 'x'], ROOT);
    expect(traversal.code).toBe(2);
    expect(traversal.stderr).toContain('a server name is the name of its directory');
  });

  it('exit 2: --args that is not JSON says where; --args that is not an object says what it is', async () => {
    const bad = await runCli(['eval', 'ccxt', '--tool', 'cancel_order', '--args', '{"id": 42,}'], ROOT);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: --args is not valid JSON at line 1, column 11: /);
    const multiline = await runCli(['eval', 'ccxt', '--tool', 'cancel_order', '--args', '{\n  "id": \n}'], ROOT);
    expect(multiline.stderr).toMatch(/at line 3, column 1/);
    const array = await runCli(['eval', 'ccxt', '--tool', 'cancel_order', '--args', '[1]', '--json'], ROOT);
    expect(array.code).toBe(2);
    expect(JSON.parse(array.stdout).error).toMatchObject({ code: 'eval.invalid-args', message: "--args must be a JSON object of the tool's arguments (got an array)" });
    const label = await runCli(['eval', 'ccxt', '--tool', 'cancel_order', '--label', 'team'], ROOT);
    expect(label.code).toBe(2);
    expect(label.stderr).toContain('--label "team" is not key=value');
  });

  it('exit 2: an invalid policy or catalog is reported with file:line:col', async () => {
    const out = await runCli(['eval', 'broken', '--tool', 't'], work.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('policies/broken/policy.json: the policy is not valid:');
    expect(out.stderr).toMatch(/policies\/broken\/policy\.json:4:\d+: error TG100 invalid regex/);
    const catalog = await runCli(['eval', 'badcatalog', '--tool', 't'], work.root);
    expect(catalog.code).toBe(2);
    expect(catalog.stderr).toMatch(/policies\/badcatalog\/catalog\.json:1:\d+: error TG206/);
    const noDir = await runCli(['eval', 'x', '--tool', 't', '--dir', 'nowhere'], work.root);
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toContain('nowhere: no such directory');
  });
});
