import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, tempTree, type TempTree } from './cli-process.js';
import { SCHEMA_INVALID_POLICY, SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FAILING, SHOP_TESTS_FULL, SHOP_TESTS_PARTIAL } from './policy-fixtures.js';

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

describe('tollgate test', () => {
  let repo: TempTree;

  beforeAll(async () => {
    repo = await tempTree({
      'full/policies/shop/policy.json': SHOP_POLICY,
      'full/policies/shop/catalog.json': SHOP_CATALOG,
      'full/policies/shop/shop.test.json': SHOP_TESTS_FULL,
      'partial/shop/policy.json': SHOP_POLICY,
      'partial/shop/reads.test.json': SHOP_TESTS_PARTIAL,
      'failing/shop/policy.json': SHOP_POLICY,
      'failing/shop/refunds.test.json': SHOP_TESTS_FAILING,
      'invalid/shop/policy.json': SHOP_POLICY,
      'invalid/shop/bad.test.json': '{\n  "cases": [\n    { "name": "no call", "expect": "allow" }\n  ]\n}\n',
      'invalid/other/policy.json': SCHEMA_INVALID_POLICY,
      'invalid/shop/garbled.test.json': '{\n  "cases": [ }\n',
      'invalid/other/other.test.json': { cases: [{ name: 'x', call: { tool: 'x' }, expect: 'allow' }] },
      'elsewhere/tests/shop.test.yaml': 'policy: ../../full/policies/shop/policy.json\ncases:\n  - name: reads are fine\n    call: { tool: read_order, args: { id: "9" } }\n    expect: allow\n',
    });
  });
  afterAll(() => repo.remove());

  it('runs passing tests with --coverage --threshold 100: exit 0, coverage shown, summary last', async () => {
    const out = await runCli(['test', '--coverage', '--threshold', '100'], join(repo.root, 'full'));
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('✓ a big refund needs a manager');
    expect(out.stdout).toMatch(/policies\/shop\/policy\.json {2}\(shop\) {2}5\/5 {2}100%/);
    expect(out.stdout).toMatch(/refund +2\/2 +100%/);
    expect(out.stdout).toContain('Coverage meets the threshold of 100% for every policy.');
    expect(lastLine(out.stdout)).toBe('5 passed, 0 failed');
  });

  it('exits 1 when coverage is below the threshold, naming the policy and the uncovered rules', async () => {
    const out = await runCli(['test', '.', '--coverage', '--threshold', '100'], join(repo.root, 'partial'));
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('uncovered: default, tools.wipe.action');
    expect(out.stdout).toContain('Coverage of shop/policy.json is 60%, below the threshold of 100%.');
    expect(lastLine(out.stdout)).toBe('3 passed, 0 failed');
  });

  it('passes a threshold the coverage reaches', async () => {
    const out = await runCli(['test', '.', '--threshold', '60'], join(repo.root, 'partial'));
    expect(out.code).toBe(0);
    expect(out.stdout).not.toContain('uncovered:');
  });

  it('exits 1 for a failing case and shows the call, the expected and the actual decision', async () => {
    const out = await runCli(['test', '.'], join(repo.root, 'failing'));
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('✓ orders are readable');
    expect(out.stdout).toContain('✗ small refunds need a manager too');
    expect(out.stdout).toMatch(/at +shop\/refunds\.test\.json:13:5/);
    expect(out.stdout).toMatch(/call +refund \{"amount":5\}/);
    expect(out.stdout).toMatch(/agent +clerk-7 \{"team":"front-desk"\}/);
    expect(out.stdout).toMatch(/session +sess-42/);
    expect(out.stdout).toMatch(/time +2026-01-01T00:00:00\.000Z/);
    expect(out.stdout).toMatch(/expected deny, rule "tools\.refund\.deny_if\[0\]", reason containing "manager"/);
    expect(out.stdout).toMatch(/actual +allow, rule null, reason "[^"]+"/);
    expect(out.stdout).toContain('mismatch effect: expected deny, got allow');
    expect(lastLine(out.stdout)).toBe('1 passed, 1 failed');
  });

  it('exits 2 for invalid test and policy files and prints their diagnostics with file:line:col', async () => {
    const out = await runCli(['test', '.'], join(repo.root, 'invalid'));
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/shop\/bad\.test\.json:3:5: error TG010 /);
    expect(out.stdout).toMatch(/shop\/garbled\.test\.json:2:14: error TG001 invalid JSON/);
    expect(out.stdout).toMatch(/other\/policy\.json:2:14: error TG010 \/version must be "1"/);
    expect(out.stdout).toMatch(/other\/other\.test\.json:\d+:\d+: error TG300 its policy other\/policy\.json has errors/);
    expect(lastLine(out.stdout)).toBe('0 passed, 0 failed');
  });

  it('resolves a test file\'s "policy" relative to the test file (YAML test file given directly)', async () => {
    const out = await runCli(['test', 'elsewhere/tests/shop.test.yaml', '--coverage'], repo.root);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('elsewhere/tests/shop.test.yaml  (policy full/policies/shop/policy.json)');
    expect(lastLine(out.stdout)).toBe('1 passed, 0 failed');
  });

  it('--format json prints one JSON document with the summary inside, the same as --json', async () => {
    const viaFormat = await runCli(['test', '.', '--format', 'json', '--threshold', '100'], join(repo.root, 'failing'));
    const viaJson = await runCli(['test', '.', '--json', '--threshold', '100'], join(repo.root, 'failing'));
    expect(viaFormat.code).toBe(1);
    expect(viaJson.code).toBe(1);
    expect(viaFormat.stderr).toBe('');
    const doc = JSON.parse(viaFormat.stdout) as {
      summary: string;
      passed: number;
      failed: number;
      files: Array<{ file: string; policy: string; hits: string[]; cases: Array<{ name: string; passed: boolean; failure?: { actual: { effect: string; rule: string | null } } }> }>;
      coverage: Array<{ policy: string; server: string; total: { hit: number; total: number; percent: number } }>;
      threshold: { percent: number; met: boolean; below: Array<{ policy: string }> };
      diagnostics: unknown[];
    };
    const { files: jsonFiles, ...jsonRest } = JSON.parse(viaJson.stdout) as typeof doc;
    const { files, ...rest } = doc;
    expect(jsonRest).toEqual(rest);
    expect(jsonFiles.map((f) => f.cases)).toEqual(files.map((f) => f.cases));
    expect(doc.summary).toBe('1 passed, 1 failed');
    expect(doc.files[0]!.policy).toBe('shop/policy.json');
    expect(doc.files[0]!.cases[1]!.failure!.actual).toEqual({ effect: 'allow', rule: null, reason: expect.any(String) });
    expect(doc.coverage[0]).toMatchObject({ policy: 'shop/policy.json', server: 'shop' });
    expect(doc.threshold).toMatchObject({ percent: 100, met: false, below: [{ policy: 'shop/policy.json' }] });
    expect(doc.diagnostics).toEqual([]);
  });

  it('--format junit prints well-formed JUnit XML, then the summary line on stderr', async () => {
    const out = await runCli(['test', '.', '--format', 'junit'], join(repo.root, 'failing'));
    expect(out.code).toBe(1);
    expect(XMLValidator.validate(out.stdout)).toBe(true);
    expect(out.stderr.trim()).toBe('1 passed, 1 failed');
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(out.stdout) as {
      testsuites: { tests: string; failures: string; testsuite: { name: string; testcase: Array<{ name: string; classname: string; line: string; failure?: { message: string; type: string; '#text': string } }> } };
    };
    expect(xml.testsuites).toMatchObject({ tests: '2', failures: '1' });
    const suite = xml.testsuites.testsuite;
    expect(suite.name).toBe('shop/refunds.test.json');
    const failed = suite.testcase.find((c) => c.failure)!;
    expect(failed).toMatchObject({ name: 'small refunds need a manager too', classname: 'shop.refunds', line: '13' });
    expect(failed.failure!.message).toContain('effect: expected deny, got allow');
    expect(failed.failure!['#text']).toContain('expected deny, rule "tools.refund.deny_if[0]"');
  });

  it('--format junit --output writes the XML to a file and the summary line to stdout', async () => {
    const out = await runCli(['test', '.', '--format', 'junit', '--output', 'report.xml'], join(repo.root, 'invalid'));
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('0 passed, 0 failed\n');
    const xml = await readFile(join(repo.root, 'invalid', 'report.xml'), 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).toContain('<error message=');
    expect(xml).toContain('type="TG300"');
  });

  it('exits 2 for a threshold that is not a percentage', async () => {
    const out = await runCli(['test', '--threshold', '150'], join(repo.root, 'full'));
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--threshold: expected a percentage from 0 to 100, got "150"');
  });

  it('--watch re-runs when a test file changes and stops on SIGINT', async () => {
    const dir = await tempTree({ 'policies/shop/policy.json': SHOP_POLICY, 'policies/shop/reads.test.json': SHOP_TESTS_PARTIAL });
    const child = spawnCli(['test', '--watch'], dir.root);
    try {
      let stdout = '';
      let stderr = '';
      const waitFor = (predicate: () => boolean, what: string): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stdout:\n${stdout}\nstderr:\n${stderr}`)), 20_000);
          const check = (): void => {
            if (predicate()) {
              clearTimeout(timer);
              resolve();
            }
          };
          child.stdout.on('data', check);
          child.stderr.on('data', check);
          check();
        });
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await waitFor(() => stdout.includes('3 passed, 0 failed') && stderr.includes('Watching for changes'), 'the first run');
      await dir.write('policies/shop/reads.test.json', SHOP_TESTS_FAILING);
      await waitFor(() => stdout.includes('1 passed, 1 failed'), 'the second run');
      expect(stdout).toMatch(/──── run 2 · .* · files changed ────/);
      // A new test file in the server directory is picked up too.
      await dir.write('policies/shop/more.test.json', SHOP_TESTS_FULL);
      await waitFor(() => stdout.includes('6 passed, 1 failed'), 'the third run');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      // The last run had a failure, so the watch exits with 1.
      expect(await exited).toBe(1);
    } finally {
      child.kill('SIGKILL');
      await dir.remove();
    }
  }, 90_000);

  it('decides arguments that fail the catalog\'s input schema as the gateway does', async () => {
    const dir = await tempTree({
      'policies/shop/policy.json': SHOP_POLICY,
      'policies/shop/catalog.json': SHOP_CATALOG,
      'policies/shop/shapes.test.json': {
        cases: [
          { name: 'a refund amount given as a string', call: { tool: 'refund', args: { amount: '5' } }, expect: { effect: 'deny', rule: 'input_schema', reason_contains: 'args.amount must be number' } },
          { name: 'a refund of 1e999', call: { tool: 'refund', args: { amount: 1e308 * 10 } }, expect: { effect: 'deny', rule: 'input_schema' } },
          { name: 'a read without its id', call: { tool: 'read_order', args: {} }, expect: { effect: 'deny', rule: 'input_schema', reason_contains: 'args.id is required' } },
        ],
      },
    });
    try {
      // JSON.stringify writes Infinity as null: put the literal the agent would send into the file.
      const file = join(dir.root, 'policies/shop/shapes.test.json');
      await dir.write('policies/shop/shapes.test.json', (await readFile(file, 'utf8')).replace('"amount": null', '"amount": 1e999'));
      const out = await runCli(['test', 'policies'], dir.root);
      expect(out.stdout).toContain('✓ a refund of 1e999');
      expect(lastLine(out.stdout)).toBe('3 passed, 0 failed');
      expect(out.code).toBe(0);
      // Without the catalog the same calls reach the policy's rules.
      await rm(join(dir.root, 'policies/shop/catalog.json'));
      const without = await runCli(['test', 'policies'], dir.root);
      expect(lastLine(without.stdout)).toBe('0 passed, 3 failed');
      // A catalog that is not a valid snapshot stops the run (exit 2) instead of skipping the checks.
      await dir.write('policies/shop/catalog.json', '{ "tools": [ { "name": 3 } ] }');
      const broken = await runCli(['test', 'policies'], dir.root);
      expect(broken.code).toBe(2);
      expect(broken.stderr + broken.stdout).toContain('policies/shop/catalog.json');
    } finally {
      await dir.remove();
    }
  });

  it('--format github: an ::error annotation at each failing case, none for passing ones, then the summary line', async () => {
    // From a subdirectory of a Git repository: paths are relative to the repository root, as GitHub resolves them.
    const git = await tempTree({ '.git/HEAD': 'ref: refs/heads/main\n', 'policies/shop/policy.json': SHOP_POLICY, 'policies/shop/refunds.test.json': SHOP_TESTS_FAILING });
    try {
      const out = await runCli(['test', 'shop', '--format', 'github'], join(git.root, 'policies'));
      expect(out.code).toBe(1);
      const lines = out.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^::error file=policies\/shop\/refunds\.test\.json,line=\d+,col=\d+,title=tollgate test%3A small refunds need a manager too::case "small refunds need a manager too" failed%0A/);
      expect(lines[0]).toContain('mismatch effect: expected deny, got allow');
      expect(lines[0]).not.toContain('\n');
      expect(lines[1]).toBe('1 passed, 1 failed');
      const passing = await runCli(['test', '--format', 'github'], join(repo.root, 'full'));
      expect(passing.code).toBe(0);
      expect(passing.stdout).toBe('5 passed, 0 failed\n');
      // Files that cannot run, and coverage under the threshold, are annotated too.
      const invalid = await runCli(['test', '.', '--format', 'github'], join(repo.root, 'invalid'));
      expect(invalid.code).toBe(2);
      expect(invalid.stdout).toMatch(/^::error file=shop\/bad\.test\.json,line=3,col=\d+,title=TG010 schema::/m);
      const below = await runCli(['test', '.', '--format', 'github', '--threshold', '100'], join(repo.root, 'partial'));
      expect(below.code).toBe(1);
      expect(below.stdout).toContain('::error file=shop/policy.json,title=tollgate test%3A coverage::rule coverage of shop/policy.json is 60%25, below the threshold of 100%25; run tollgate test --coverage');
    } finally {
      await git.remove();
    }
  });

  it('--run runs only the cases whose name matches; coverage counts only what ran', async () => {
    const out = await runCli(['test', '--run', 'refund', '--format', 'json'], join(repo.root, 'full'));
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { files: Array<{ cases: Array<{ name: string }> }>; summary: string; coverage: Array<{ total: { hit: number } }> };
    expect(result.files.flatMap((f) => f.cases.map((c) => c.name))).toEqual(['a small refund is allowed', 'a big refund needs a manager']);
    expect(result.summary).toBe('2 passed, 0 failed');
    expect(result.coverage[0]!.total.hit).toBe(2);
    // Regular expressions, case-sensitive: a failing case left out makes the run pass.
    const only = await runCli(['test', '.', '--run', '^orders'], join(repo.root, 'failing'));
    expect(only.code).toBe(0);
    expect(lastLine(only.stdout)).toBe('1 passed, 0 failed');
    expect((await runCli(['test', '.', '--run', '^Orders'], join(repo.root, 'failing'))).code).toBe(2);
  });

  it('--run that matches no case, or is not a regular expression, is an input error (exit 2)', async () => {
    const none = await runCli(['test', '--run', 'nothing-like-this'], join(repo.root, 'full'));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Error: no test case\'s name matches --run "nothing-like-this"');
    const bad = await runCli(['test', '--run', '(unclosed'], join(repo.root, 'full'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: --run: "\(unclosed" is not a regular expression/);
  });

  it('--out writes the report; the old spelling --output still works (hidden)', async () => {
    const out = await runCli(['test', '--format', 'junit', '--out', 'junit.xml'], join(repo.root, 'full'));
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('5 passed, 0 failed\n');
    expect(XMLValidator.validate(await readFile(join(repo.root, 'full', 'junit.xml'), 'utf8'))).toBe(true);
    const help = await runCli(['test', '--help'], repo.root);
    expect(help.stdout).toContain('--out=<file>');
    expect(help.stdout).not.toContain('--output');
  });
});
