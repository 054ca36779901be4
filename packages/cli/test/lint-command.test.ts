import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY_URL } from '@tollgate/policy';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { sarifSchemaValidator } from './sarif-schema-validator.js';
import { MALFORMED_POLICY, SCHEMA_INVALID_POLICY, SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FULL } from './policy-fixtures.js';

describe('tollgate lint', () => {
  let repo: TempTree;

  beforeAll(async () => {
    repo = await tempTree({
      'policies/shop/policy.json': SHOP_POLICY,
      'policies/shop/catalog.json': SHOP_CATALOG,
      'broken/malformed/policy.json': MALFORMED_POLICY,
      'broken/invalid/policy.json': SCHEMA_INVALID_POLICY,
      'twice/policies/shop/policy.json': SHOP_POLICY,
      'twice/policies/shop/policy.yaml': 'version: "1"\ndefault: allow\n',
      'risky/policies/regex/policy.json': {
        version: '1',
        default: 'deny',
        tools: {
          'search, then: fetch': {
            deny_if: [{ conditions: [{ path: 'args.q', op: 'regex', value: '^(a+)+$' }], on_deny: '100% not allowed:\nbad query' }],
          },
        },
      },
    });
    await mkdir(join(repo.root, '.git'));
  });
  afterAll(() => repo.remove());

  it('passes a clean policy with its catalog: exit 0 and a summary line', async () => {
    const out = await runCli(['lint'], repo.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n').at(-1)).toBe('0 errors, 0 warnings, 0 infos in 1 policy');
    // Not a TTY: no colour codes.
    expect(out.stdout).not.toContain('\u001b[');
  });

  it('exits 2 for a malformed policy and names file:line:col', async () => {
    const out = await runCli(['lint', 'broken/malformed'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/^broken\/malformed\/policy\.json:5:1 +error +TG001 +invalid JSON/m);
    // The parser's duplicate report of the same place is shown once.
    expect(out.stdout.match(/TG001/g)).toHaveLength(1);
  });

  it('exits 1 for a schema-invalid policy and reports every error at its position', async () => {
    const out = await runCli(['lint', 'broken/invalid/policy.json'], repo.root);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^broken\/invalid\/policy\.json:2:14 +error +TG010 +\/version must be "1"/m);
    expect(out.stdout).toMatch(/^broken\/invalid\/policy\.json:3:14 +error +TG010 +\/default must be one of/m);
    expect(out.stdout).toMatch(/^broken\/invalid\/policy\.json:4:31 +error +TG010 +\/tools\/x\/action must be one of/m);
    expect(out.stdout.trim().split('\n').at(-1)).toBe('3 errors, 0 warnings, 0 infos in 1 policy');
  });

  it('exits 2 when both a malformed and an invalid policy are linted, and reports both', async () => {
    const out = await runCli(['lint', 'broken'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stdout).toContain('broken/invalid/policy.json:2:14');
    expect(out.stdout).toContain('broken/malformed/policy.json:5:1');
    // Grouped by file: a blank line separates the two files' findings.
    expect(out.stdout).toMatch(/broken\/invalid\/policy\.json:4:31[^\n]*\n\nbroken\/malformed/);
  });

  it('reports a server directory with two policy files as TG004 (exit 1), as every policy source refuses it', async () => {
    const out = await runCli(['lint', 'twice', '--format', 'json'], repo.root);
    expect(out.code).toBe(1);
    const result = JSON.parse(out.stdout) as { diagnostics: { code: string; file: string; line: number; column: number; severity: string }[] };
    expect(result.diagnostics.filter((d) => d.code === 'TG004')).toEqual([expect.objectContaining({ file: 'twice/policies/shop/policy.json', line: 1, column: 1, severity: 'error' })]);
  });

  it('--format json prints the result document, the same as --json', async () => {
    const viaFormat = await runCli(['lint', 'broken/invalid', '--format', 'json'], repo.root);
    const viaJson = await runCli(['lint', 'broken/invalid', '--json'], repo.root);
    expect(viaFormat.code).toBe(1);
    expect(viaJson.code).toBe(1);
    const doc = JSON.parse(viaFormat.stdout) as { files: unknown[]; diagnostics: Array<{ code: string; line: number; column: number; file: string }>; errors: number };
    expect(JSON.parse(viaJson.stdout)).toEqual(doc);
    expect(doc.errors).toBe(3);
    expect(doc.files).toEqual([
      { server: 'invalid', policy: 'broken/invalid/policy.json', catalog: null, failedAt: 'schema', catalogMalformed: false, errors: 3, warnings: 0, infos: 0 },
    ]);
    expect(doc.diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.code}`)).toEqual([
      'broken/invalid/policy.json:2:14 TG010',
      'broken/invalid/policy.json:3:14 TG010',
      'broken/invalid/policy.json:4:31 TG010',
    ]);
  });

  it('--format github prints escaped workflow commands', async () => {
    const out = await runCli(['lint', 'risky', '--format', 'github'], repo.root);
    expect(out.code).toBe(1);
    const lines = out.stdout.trim().split('\n');
    const redos = lines.find((l) => l.startsWith('::error ') && l.includes('TG101'));
    expect(redos).toBeDefined();
    expect(redos).toMatch(/^::error file=risky\/policies\/regex\/policy\.json,line=\d+,col=\d+,title=TG101 redos-regex::/);
    expect(redos).not.toContain('\n');
    expect(lines.at(-1)).toMatch(/^\d+ errors?, \d+ warnings?, \d+ infos? in 1 policy$/);
    expect(lines.some((l) => l.startsWith('::notice ') && l.includes('title=TG205 no-catalog'))).toBe(true);
  });

  it('--format sarif validates against the SARIF 2.1.0 schema, with repository-relative locations', async () => {
    const validate = await sarifSchemaValidator();
    const out = await runCli(['lint', 'risky', 'broken/invalid', 'policies', '--format', 'sarif'], repo.root);
    expect(out.code).toBe(1);
    const log = JSON.parse(out.stdout) as {
      version: string;
      runs: Array<{
        tool: { driver: { name: string; rules: Array<{ id: string; helpUri: string; defaultConfiguration: { level: string } }> } };
        results: Array<{ ruleId: string; ruleIndex: number; level: string; partialFingerprints: Record<string, string>; locations: Array<{ physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: { startLine: number; startColumn: number } } }> }>;
      }>;
    };
    const valid = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(log.version).toBe('2.1.0');
    const run = log.runs[0]!;
    expect(run.tool.driver.name).toBe('tollgate');
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(r.locations[0]!.physicalLocation.artifactLocation.uriBaseId).toBe('%SRCROOT%');
      expect(Object.values(r.partialFingerprints)[0]).toMatch(/^[0-9a-f]{64}$/);
    }
    const schema = run.results.find((r) => r.ruleId === 'TG010')!;
    expect(schema.level).toBe('error');
    expect(schema.locations[0]!.physicalLocation).toEqual({ artifactLocation: { uri: 'broken/invalid/policy.json', uriBaseId: '%SRCROOT%' }, region: { startLine: 2, startColumn: 14 } });
    expect(run.results.find((r) => r.ruleId === 'TG205')!.level).toBe('note');
    expect(run.tool.driver.rules.find((r) => r.id === 'TG101')!.helpUri).toBe(`${REPOSITORY_URL}/blob/main/docs/lint-rules.md#tg101-redos-regex`);
  });

  it('SARIF paths are relative to the repository root even from a subdirectory', async () => {
    const out = await runCli(['lint', 'invalid', '--format', 'sarif'], join(repo.root, 'broken'));
    const log = JSON.parse(out.stdout) as { runs: Array<{ results: Array<{ locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }> }> };
    expect(log.runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation.uri).toBe('broken/invalid/policy.json');
  });

  it('--output writes the report to a file and prints the summary line', async () => {
    const out = await runCli(['lint', 'broken/invalid', '--format', 'sarif', '--output', 'lint.sarif'], repo.root);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('3 errors, 0 warnings, 0 infos in 1 policy\n');
    const log = JSON.parse(await readFile(join(repo.root, 'lint.sarif'), 'utf8')) as { version: string };
    expect(log.version).toBe('2.1.0');
  });

  it('exits 2 with a clear message for a missing path', async () => {
    const out = await runCli(['lint', 'no/such/dir'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('Error: no/such/dir: no such file or directory');
    expect(out.stderr).toContain('Hint: ');
  });

  it('--json reports errors as a JSON document with code and exit', async () => {
    const out = await runCli(['lint', 'no/such/dir', '--json'], repo.root);
    expect(out.code).toBe(2);
    expect(JSON.parse(out.stdout)).toEqual({
      error: { code: 'path.not-found', message: 'no/such/dir: no such file or directory', hint: expect.any(String), exit: 2 },
    });
  });

  it('exits 2 when no policy is found in a directory', async () => {
    const empty = await tempTree({ 'README.md': 'nothing here' });
    try {
      const out = await runCli(['lint', '.'], empty.root);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain('.: no policy or test file found');
    } finally {
      await empty.remove();
    }
  });

  it('exits 2 for a bad flag value, an unknown flag and an unknown command', async () => {
    const format = await runCli(['lint', '--format', 'xml'], repo.root);
    expect(format.code).toBe(2);
    expect(format.stderr).toBe('Error: --format: "xml" is not one of pretty, json, github, sarif\nHint: Run `tollgate lint --help` for its arguments and flags.\n');
    const unknown = await runCli(['lint', '--frobnicate'], repo.root);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Error: unknown flag --frobnicate\n');
    const command = await runCli(['lnt'], repo.root);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('Error: "lnt" is not a tollgate command; did you mean "lint"?\n');
  });
});

/** Test cases the gateway would never decide as they expect, one per finding. */
const SHOP_TESTS_WRONG = {
  cases: [
    { name: 'typo', call: { tool: 'read_ordr', args: { id: '1' } }, expect: 'allow' },
    { name: 'a string amount', call: { tool: 'refund', args: { amount: '500' } }, expect: { effect: 'deny', rule: 'tools.refund.deny_if[0]' } },
    { name: 'passes for the wrong reason', call: { tool: 'refund', args: { mount: 500 } }, expect: 'deny' },
    { name: 'valid, yet refused?', call: { tool: 'refund', args: { amount: 5 } }, expect: { effect: 'deny', rule: 'input_schema' } },
    { name: 'no such rule', call: { tool: 'refund', args: { amount: 500 } }, expect: { effect: 'deny', rule: 'tools.refund.deny_if[1]' } },
  ],
};

describe('tollgate lint on test files', () => {
  let repo: TempTree;

  beforeAll(async () => {
    repo = await tempTree({
      'clean/policies/shop/policy.json': SHOP_POLICY,
      'clean/policies/shop/catalog.json': SHOP_CATALOG,
      'clean/policies/shop/shop.test.json': SHOP_TESTS_FULL,
      'wrong/policies/shop/policy.json': SHOP_POLICY,
      'wrong/policies/shop/catalog.json': SHOP_CATALOG,
      'wrong/policies/shop/wrong.test.json': SHOP_TESTS_WRONG,
      'orphan/policies/shop/policy.json': SHOP_POLICY,
      'orphan/policies/shop/orphan.test.json': { policy: '../nowhere/policy.json', cases: [] },
      'malformed/policies/shop/policy.json': SHOP_POLICY,
      'malformed/policies/shop/broken.test.json': '{ "cases": [ }',
    });
    await mkdir(join(repo.root, '.git'));
  });
  afterAll(() => repo.remove());

  it('checks the test files it finds against the catalog, and says how many', async () => {
    const out = await runCli(['lint', 'clean'], repo.root);
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe('0 errors, 0 warnings, 0 infos in 1 policy and 1 test file');
  });

  it('reports cases the gateway would decide otherwise at their file:line:col (pretty)', async () => {
    const out = await runCli(['lint', 'wrong'], repo.root);
    expect(out.code).toBe(1);
    const file = 'wrong/policies/shop/wrong.test.json';
    expect(out.stdout).toMatch(new RegExp(`^${file}:6:17 +error +TG301 +case "typo" calls "read_ordr", which is not in wrong/policies/shop/catalog.json`, 'm'));
    expect(out.stdout).toMatch(/^ +hint: did you mean "read_order"\?/m);
    expect(out.stdout).toMatch(new RegExp(`^${file}:18:21 +error +TG302 +case "a string amount": args\\.amount must be number, so the gateway refuses the call as invalid_arguments \\(rule input_schema\\) before any rule of the policy: the case expects rule "tools\\.refund\\.deny_if\\[0\\]" and can never pass$`, 'm'));
    expect(out.stdout).toMatch(new RegExp(`^${file}:30:17 +error +TG302 +case "passes for the wrong reason": args\\.amount is required, .*: the case passes without reaching any rule of the policy$`, 'm'));
    expect(out.stdout).toMatch(new RegExp(`^${file}:46:17 +error +TG303 +case "valid, yet refused\\?" expects the arguments to be refused`, 'm'));
    expect(out.stdout).toMatch(new RegExp(`^${file}:59:17 +error +TG304 +case "no such rule" expects rule "tools\\.refund\\.deny_if\\[1\\]"`, 'm'));
    expect(out.stdout.trim().split('\n').at(-1)).toBe('5 errors, 0 warnings, 0 infos in 1 policy and 1 test file');
  });

  it('--format json lists the test files with their policy and catalog', async () => {
    const out = await runCli(['lint', 'wrong', '--format', 'json'], repo.root);
    expect(out.code).toBe(1);
    const doc = JSON.parse(out.stdout) as { tests: unknown[]; diagnostics: Array<{ code: string; file: string; line: number; column: number; pointer: string }> };
    expect(doc.tests).toEqual([
      { file: 'wrong/policies/shop/wrong.test.json', policy: 'wrong/policies/shop/policy.json', catalog: 'wrong/policies/shop/catalog.json', failedAt: null, errors: 5, warnings: 0, infos: 0 },
    ]);
    expect(doc.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.pointer}`)).toEqual([
      '6:17 TG301 /cases/0/call/tool',
      '18:21 TG302 /cases/1/call/args/amount',
      '30:17 TG302 /cases/2/call/args',
      '46:17 TG303 /cases/3/expect/rule',
      '59:17 TG304 /cases/4/expect/rule',
    ]);
  });

  it('--format github and --format sarif carry the test files\' findings', async () => {
    const github = await runCli(['lint', 'wrong', '--format', 'github'], repo.root);
    expect(github.code).toBe(1);
    expect(github.stdout).toMatch(/^::error file=wrong\/policies\/shop\/wrong\.test\.json,line=18,col=21,title=TG302 test-invalid-arguments::/m);
    const validate = await sarifSchemaValidator();
    const sarif = await runCli(['lint', 'wrong', '--format', 'sarif'], repo.root);
    const log = JSON.parse(sarif.stdout) as { runs: Array<{ tool: { driver: { rules: Array<{ id: string; name: string }> } }; results: Array<{ ruleId: string; ruleIndex: number; locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }> }> };
    expect(validate(log)).toBe(true);
    const run = log.runs[0]!;
    expect(run.results.map((r) => r.ruleId)).toEqual(['TG301', 'TG302', 'TG302', 'TG303', 'TG304']);
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(r.locations[0]!.physicalLocation.artifactLocation.uri).toBe('wrong/policies/shop/wrong.test.json');
    }
    expect(run.tool.driver.rules.find((r) => r.id === 'TG303')!.name).toBe('test-impossible-expectation');
  });

  it('the case lint says passes for the wrong reason does pass tollgate test', async () => {
    const out = await runCli(['test', 'wrong', '--format', 'json'], repo.root);
    const doc = JSON.parse(out.stdout) as { files: Array<{ cases: Array<{ name: string; passed: boolean }> }> };
    expect(doc.files[0]!.cases.filter((c) => c.passed).map((c) => c.name)).toEqual(['passes for the wrong reason']);
  });

  it('reports a test file whose policy is missing (TG300), and exits 2 for a malformed one', async () => {
    const orphan = await runCli(['lint', 'orphan', '--format', 'json'], repo.root);
    expect(orphan.code).toBe(1);
    const doc = JSON.parse(orphan.stdout) as { diagnostics: Array<{ code: string; file: string; message: string }> };
    expect(doc.diagnostics.filter((d) => d.code === 'TG300')).toEqual([
      expect.objectContaining({ file: 'orphan/policies/shop/orphan.test.json', message: 'its policy orphan/policies/nowhere/policy.json cannot be read' }),
    ]);
    const malformed = await runCli(['lint', 'malformed'], repo.root);
    expect(malformed.code).toBe(2);
    expect(malformed.stdout).toMatch(/^malformed\/policies\/shop\/broken\.test\.json:1:\d+ +error +TG001/m);
  });
});
