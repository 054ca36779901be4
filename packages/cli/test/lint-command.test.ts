import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY_URL } from '@tollgate/policy';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { sarifSchemaValidator } from './sarif-schema-validator.js';
import { MALFORMED_POLICY, SCHEMA_INVALID_POLICY, SHOP_CATALOG, SHOP_POLICY } from './policy-fixtures.js';

describe('tollgate lint', () => {
  let repo: TempTree;

  beforeAll(async () => {
    repo = await tempTree({
      'policies/shop/policy.json': SHOP_POLICY,
      'policies/shop/catalog.json': SHOP_CATALOG,
      'broken/malformed/policy.json': MALFORMED_POLICY,
      'broken/invalid/policy.json': SCHEMA_INVALID_POLICY,
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
