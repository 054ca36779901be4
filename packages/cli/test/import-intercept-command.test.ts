import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/intercept/', import.meta.url));

const charge = (amount: number, currency = 'usd') => ({ tool: 'create_charge', args: { amount, currency } });

/** Cases read off Intercept's reference for the payments policy (fixtures/intercept/payments.yaml). */
const PAYMENTS_TESTS = {
  cases: [
    { name: 'a charge under the ceiling in an allowed currency passes', call: charge(2500), expect: 'allow' },
    { name: 'a charge over the ceiling is denied by that rule', call: charge(25001), expect: { effect: 'deny', rule: 'tools.create_charge.require[0]', reason_contains: 'at most 250.00' } },
    { name: 'the currency rule runs after the ceiling, and its message is its own', call: charge(100, 'eur'), expect: { effect: 'deny', rule: 'tools.create_charge.require[1]', reason_contains: 'USD or GBP' } },
    { name: 'when two rules fail the first one in the file wins', call: charge(30000, 'eur'), expect: { effect: 'deny', reason_contains: 'at most 250.00' } },
    {
      name: 'the daily spend counter reserves post-increment: lte 100000 admits exactly 100000, counted from the amount',
      sequence: [
        { call: charge(25000), repeat: 4, expect: 'allow' },
        { call: charge(1), expect: { effect: 'deny', rule: 'tools.create_charge.limits[0]', reason_contains: "day's charge budget" } },
        { at: '2026-01-01T23:59:59Z', call: charge(1), expect: { effect: 'deny', reason_contains: "day's charge budget" } },
        { at: '2026-01-02T00:00:00Z', call: charge(25000), expect: 'allow' },
      ],
    },
    {
      name: 'a charge denied by a condition does not count against the daily spend',
      sequence: [
        { call: charge(25000, 'eur'), repeat: 5, expect: 'deny' },
        { call: charge(25000), repeat: 4, expect: 'allow' },
      ],
    },
    {
      name: 'three refunds a day (lte 3), a fourth is denied until midnight UTC',
      sequence: [
        { call: { tool: 'create_refund', args: { amount: 100 } }, repeat: 3, expect: 'allow' },
        { call: { tool: 'create_refund', args: { amount: 100 } }, expect: { effect: 'deny', rule: 'tools.create_refund.limits[0]', reason_contains: 'Three refunds' } },
        { at: '2026-01-02T00:00:00Z', call: { tool: 'create_refund', args: { amount: 100 } }, expect: 'allow' },
      ],
    },
    { name: 'a large refund is denied by its ceiling', call: { tool: 'create_refund', args: { amount: 5001 } }, expect: { effect: 'deny', rule: 'tools.create_refund.require[0]' } },
    { name: 'customer deletion is always denied', call: { tool: 'delete_customer', args: { id: 'cus_1' } }, expect: { effect: 'deny', rule: 'tools.delete_customer.action', reason_contains: 'never deleted' } },
    { name: 'an unlisted tool is allowed (default allow)', call: { tool: 'list_customers' }, expect: { effect: 'allow', rule: 'default' } },
    {
      name: 'the wildcard counter is global: every tool, listed or not, shares 20 calls a minute',
      sequence: [
        { call: { tool: 'list_customers' }, repeat: 10, expect: 'allow' },
        { call: charge(10), repeat: 5, expect: 'allow' },
        { call: { tool: 'create_refund', args: { amount: 1 } }, repeat: 3, expect: 'allow' },
        { call: { tool: 'retrieve_balance', agent: { id: 'another-agent' } }, repeat: 2, expect: 'allow' },
        { call: { tool: 'list_customers', agent: { id: 'a-third-agent' } }, expect: { effect: 'deny', rule: 'all_tools.limits[0]', reason_contains: '20 calls a minute' } },
        { at: '2026-01-01T00:00:59.999Z', call: charge(10), expect: { effect: 'deny', rule: 'all_tools.limits[0]' } },
        { at: '2026-01-01T00:01:00Z', call: charge(10), expect: 'allow' },
      ],
    },
    {
      name: 'denied calls do not count against the wildcard counter',
      sequence: [
        { call: { tool: 'delete_customer' }, repeat: 30, expect: 'deny' },
        { call: { tool: 'list_customers' }, repeat: 20, expect: 'allow' },
      ],
    },
  ],
};

const issue = { tool: 'create_issue', args: { title: 't' } };

/** Cases for the code-hosting policy (fixtures/intercept/code-hosting.yaml). */
const CODE_HOSTING_TESTS = {
  cases: [
    { name: 'a hidden tool is unknown', call: { tool: 'transfer_repository', args: { to: 'x' } }, expect: { effect: 'hidden', rule: 'hide' } },
    { name: 'the other hidden tool too', call: { tool: 'list_webhooks' }, expect: 'hidden' },
    { name: 'repository deletion is denied', call: { tool: 'delete_repository' }, expect: { effect: 'deny', reason_contains: 'not deleted by agents' } },
    {
      name: 'four issues an hour, the window is the UTC hour',
      sequence: [
        { at: '2026-01-01T10:59:00Z', call: issue, repeat: 4, expect: 'allow' },
        { at: '2026-01-01T10:59:59Z', call: issue, expect: { effect: 'deny', rule: 'tools.create_issue.limits[0]', reason_contains: 'Four new issues' } },
        { at: '2026-01-01T11:00:00Z', call: issue, repeat: 4, expect: 'allow' },
        { at: '2026-01-01T11:30:00Z', call: issue, expect: 'deny' },
      ],
    },
    {
      name: 'a rate_limit without on_deny gives the generated message',
      sequence: [
        { call: { tool: 'create_pull_request' }, repeat: 2, expect: 'allow' },
        { call: { tool: 'create_pull_request' }, expect: { effect: 'deny', reason_contains: 'Rate limit of 2 per hour reached' } },
      ],
    },
    {
      name: 'the wildcard rate_limit is one global counter of 10 a minute',
      sequence: [
        { call: { tool: 'get_file_contents' }, repeat: 6, expect: 'allow' },
        { call: issue, repeat: 4, expect: 'allow' },
        { call: { tool: 'search_code', agent: { id: 'other' } }, expect: { effect: 'deny', rule: 'all_tools.limits[0]', reason_contains: 'Rate limit of 10 per minute' } },
        { at: '2026-01-01T00:01:00Z', call: { tool: 'search_code' }, expect: 'allow' },
      ],
    },
    { name: 'hidden calls are not counted and not forwarded', sequence: [{ call: { tool: 'list_webhooks' }, repeat: 20, expect: 'hidden' }, { call: { tool: 'get_me' }, repeat: 10, expect: 'allow' }] },
  ],
};

const DEFAULT_DENY = `version: "1"
default: deny
tools:
  read_file:
    rules: []
  write_file:
    rules:
      - name: writes per minute
        rate_limit: 2/minute
  "*":
    rules:
      - name: global
        rate_limit: 3/minute
`;

const DEFAULT_DENY_TESTS = {
  cases: [
    { name: 'an unlisted tool is denied before any wildcard rule', call: { tool: 'delete_file' }, expect: { effect: 'deny', rule: 'default' } },
    { name: 'a listed tool with no rules is allowed', call: { tool: 'read_file' }, expect: 'allow' },
    {
      name: 'unlisted tools do not count against the wildcard counter; listed ones do',
      sequence: [
        { call: { tool: 'delete_file' }, repeat: 5, expect: 'deny' },
        { call: { tool: 'write_file' }, repeat: 2, expect: 'allow' },
        { call: { tool: 'write_file' }, expect: { effect: 'deny', rule: 'tools.write_file.limits[0]' } },
        { call: { tool: 'read_file' }, expect: 'allow' },
        { call: { tool: 'read_file' }, expect: { effect: 'deny', rule: 'all_tools.limits[0]' } },
      ],
    },
  ],
};

interface JsonReport {
  files: Array<{ source: string; server: string; out: string; exact: boolean; rules: Array<{ at: string; became: Array<{ kind: string; rule: string | null }> }>; differences: Array<{ code: string; at: string; line: number; column: number }>; notes: Array<{ code: string }> }>;
  exact: boolean;
  differences: number;
}

describe('tollgate import intercept', () => {
  let repo: TempTree;
  beforeAll(async () => {
    repo = await tempTree({
      'intercept/payments.yaml': await readFile(join(FIXTURES, 'payments.yaml'), 'utf8'),
      'intercept/code-hosting.yaml': await readFile(join(FIXTURES, 'code-hosting.yaml'), 'utf8'),
      'files/policy.yaml': DEFAULT_DENY,
      'broken/bad.yaml': 'version: "1"\ntools:\n  a:\n    rules:\n      - name: x\n        conditions: [ {path: args.a, op: eq, value: 1 }\n',
      'invalid/policy.yaml': 'version: "2"\ntools:\n  a:\n    rules:\n      - name: r\n        rate_limit: 5/week\n      - action: deny\n        conditions:\n          - {path: amount, op: lte, value: "ten"}\n',
    });
  });
  afterAll(() => repo.remove());

  it('imports the payments example: every rule mapped, the differences named, and tollgate test passes cases read off the reference', async () => {
    const out = await runCli(['import', 'intercept', 'intercept/payments.yaml', '--json'], repo.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.files[0]).toMatchObject({ source: 'intercept/payments.yaml', server: 'payments', out: 'policies/payments/policy.json', exact: false });
    const became = Object.fromEntries(report.files[0]!.rules.map((r) => [r.at, r.became.map((b) => `${b.kind} ${b.rule}`)]));
    expect(became).toEqual({
      'tools.create_charge.rules[0]': ['require tools.create_charge.require[0]'],
      'tools.create_charge.rules[1]': ['limits tools.create_charge.limits[0]'],
      'tools.create_charge.rules[2]': ['require tools.create_charge.require[1]'],
      'tools.create_refund.rules[0]': ['require tools.create_refund.require[0]'],
      'tools.create_refund.rules[1]': ['limits tools.create_refund.limits[0]'],
      'tools.delete_customer.rules[0]': ['action tools.delete_customer.action'],
      'tools.*.rules[0]': ['all_tools all_tools.limits[0]'],
    });
    expect(report.files[0]!.differences.map((d) => `${d.code} ${d.at}`).sort()).toEqual([
      'counter-rollback tools.*.rules[0]',
      'counter-rollback tools.create_charge.rules[1]',
      'counter-rollback tools.create_refund.rules[1]',
      'limit-order tools.create_charge.rules[1]',
      'limit-order tools.create_refund.rules[1]',
      'negative-increment-from tools.create_charge.rules[1]',
    ]);
    expect(report.files[0]!.differences.find((d) => d.code === 'negative-increment-from')).toMatchObject({ line: 17, column: 9 });
    const text = await readFile(join(repo.root, 'policies/payments/policy.json'), 'utf8');
    // Written in the canonical layout: formatting it changes nothing.
    expect((await runCli(['fmt', '--check', 'policies/payments'], repo.root)).code).toBe(0);
    expect(JSON.parse(text)).toMatchObject({ default: 'allow', all_tools: { limits: [{ counter: '_global.calls_this_minute', max: 20, window: 'minute', scope: 'global' }] } });
    await repo.write('policies/payments/reference.test.json', PAYMENTS_TESTS);
    const test = await runCli(['test', 'policies/payments'], repo.root);
    expect(test.stdout.trim().split('\n').at(-1), test.stdout).toBe(`${PAYMENTS_TESTS.cases.length} passed, 0 failed`);
    expect(test.code).toBe(0);
    expect((await runCli(['lint', 'policies/payments'], repo.root)).code).toBe(0);
  });

  it('imports the code-hosting example: hide, rate_limit shorthands, deny and the global wildcard counter', async () => {
    const out = await runCli(['import', 'intercept', 'intercept/code-hosting.yaml', '--server', 'github'], repo.root);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('Imported intercept/code-hosting.yaml -> policies/github/policy.json (server github)');
    expect(out.stdout).toMatch(/tools\.create_issue\.rules\[0\] "issues per hour" \(intercept\/code-hosting\.yaml:13:9\)\n {4}-> limits tools\.create_issue\.limits\[0\]: at most 4 calls per hour/);
    expect(out.stdout).toContain('-> hide hide: hide: "transfer_repository", "list_webhooks"');
    expect(out.stdout).toMatch(/intercept\/code-hosting\.yaml:30:9 counter-rollback tools\.\*\.rules\[0\]/);
    expect(out.stdout.trim().split('\n').at(-1)).toBe('1 policy imported with 5 semantic differences (see docs/migrating-from-intercept.md)');
    await repo.write('policies/github/reference.test.json', CODE_HOSTING_TESTS);
    const test = await runCli(['test', 'policies/github'], repo.root);
    expect(test.stdout.trim().split('\n').at(-1), test.stdout).toBe(`${CODE_HOSTING_TESTS.cases.length} passed, 0 failed`);
  });

  it('names the server after the directory of a generic policy.yaml; default deny comes before wildcard rules', async () => {
    const out = await runCli(['import', 'intercept', 'files/policy.yaml', '--json'], repo.root);
    expect(out.code).toBe(1);
    expect((JSON.parse(out.stdout) as JsonReport).files[0]).toMatchObject({ server: 'files', out: 'policies/files/policy.json' });
    await repo.write('policies/files/reference.test.json', DEFAULT_DENY_TESTS);
    const test = await runCli(['test', 'policies/files'], repo.root);
    expect(test.stdout.trim().split('\n').at(-1), test.stdout).toBe(`${DEFAULT_DENY_TESTS.cases.length} passed, 0 failed`);
  });

  it('keeps an existing policy unless --force, and writes elsewhere with --out', async () => {
    const before = await readFile(join(repo.root, 'policies/github/policy.json'), 'utf8');
    const again = await runCli(['import', 'intercept', 'intercept/code-hosting.yaml', '--server', 'github'], repo.root);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('policies/github/policy.json: already exists; nothing was written');
    expect(again.stderr).toContain('Hint: Pass --force');
    expect(await readFile(join(repo.root, 'policies/github/policy.json'), 'utf8')).toBe(before);
    expect((await runCli(['import', 'intercept', 'intercept/code-hosting.yaml', '--server', 'github', '--force'], repo.root)).code).toBe(1);
    const elsewhere = await runCli(['import', 'intercept', 'intercept/code-hosting.yaml', '--out', 'out/gh.json'], repo.root);
    expect(elsewhere.code).toBe(1);
    expect(await readFile(join(repo.root, 'out/gh.json'), 'utf8')).toBe(before);
  });

  it('imports a directory, one policy per file, each named after its file', async () => {
    const out = await runCli(['import', 'intercept', 'intercept', '--out', 'imported', '--json'], repo.root);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as JsonReport;
    expect(report.files.map((f) => f.out)).toEqual(['imported/code-hosting/policy.json', 'imported/payments/policy.json']);
    expect(report.differences).toBe(11);
    const usage = await runCli(['import', 'intercept', 'intercept', '--server', 'x'], repo.root);
    expect(usage.code).toBe(2);
  });

  it('exits 2 on malformed YAML with file:line:col, and writes nothing', async () => {
    const out = await runCli(['import', 'intercept', 'broken/bad.yaml'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/broken\/bad\.yaml:7:1: error TG001 invalid YAML/);
    expect(out.stderr).toContain('nothing was written');
    const json = await runCli(['import', 'intercept', 'broken/bad.yaml', '--json'], repo.root);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'intercept.invalid', exit: 2 } });
    expect((await runCli(['fmt', '--check', 'policies'], repo.root)).stdout).not.toContain('bad');
  });

  it('exits 2 with every validation error of the file at its file:line:col', async () => {
    const out = await runCli(['import', 'intercept', 'invalid/policy.yaml'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('invalid/policy.yaml:1:10: error TG400 version must be "1" (found "2")');
    expect(out.stderr).toContain('invalid/policy.yaml:6:21: error TG400 tools.a.rules[0]: the rate_limit window must be minute, hour or day (found "week")');
    expect(out.stderr).toContain('invalid/policy.yaml:7:9: error TG400 tools.a.rules[1]: the rule has no name');
    expect(out.stderr).toContain('invalid/policy.yaml:9:11: error TG400 tools.a.rules[1]: a deny rule takes no conditions');
    expect(out.stderr).toContain('invalid/policy.yaml:9:20: error TG400 tools.a.rules[1].conditions[0]: the path must start with "args." or "state."');
    expect(out.stderr).toContain('invalid/policy.yaml:9:44: error TG400 tools.a.rules[1].conditions[0]: operator "lte" needs a number as its value (found "ten")');
  });

  it('exits 2 for a missing input', async () => {
    const out = await runCli(['import', 'intercept', 'nope.yaml'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('nope.yaml: no such file or directory');
  });
});
