import type { Diagnostic, TestCaseResult } from '@tollgate/policy';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { sarifSchemaValidator } from '../../test/sarif-schema-validator.js';
import type { LintResult } from '../lint-runner.js';
import type { TestSuiteResult } from '../test-suite.js';
import { escapeWorkflowData, escapeWorkflowProperty, renderLintGithub, workflowCommand } from './github-annotation-renderer.js';
import { escapeXmlAttribute, escapeXmlText, junitClassName, renderJunit } from './junit-renderer.js';
import { renderLintPretty } from './lint-pretty-renderer.js';
import { buildSarifLog } from './sarif-renderer.js';
import { shouldColour } from './terminal-style.js';
import { renderTestPretty } from './test-pretty-renderer.js';

function diagnostic(overrides: Partial<Diagnostic>): Diagnostic {
  return { code: 'TG010', severity: 'error', file: 'policies/a/policy.json', line: 1, column: 1, message: 'bad', ...overrides };
}

function lintResult(diagnostics: Diagnostic[]): LintResult {
  const count = (s: string): number => diagnostics.filter((d) => d.severity === s).length;
  return { files: [], tests: [], diagnostics, errors: count('error'), warnings: count('warning'), infos: count('info') };
}

function failingCase(name: string): TestCaseResult {
  return {
    name,
    file: 'policies/a/a.test.json',
    line: 7,
    column: 5,
    passed: false,
    calls: 1,
    failure: {
      step: 0,
      repetition: 1,
      call: { tool: 'refund', args: { note: 'a < b & "c"\u0001' }, agent: { id: 'bot' }, session: { id: 's' } },
      at: '2026-01-01T00:00:00.000Z',
      expected: { effect: 'deny', reason_contains: ']]> <end>' },
      actual: { effect: 'allow', rule: null, reason: 'allowed by policy' },
      mismatches: ['effect: expected deny, got allow'],
    },
  };
}

function suite(cases: TestCaseResult[], extra: Partial<TestSuiteResult> = {}): TestSuiteResult {
  const passed = cases.filter((c) => c.passed).length;
  return {
    files: [{ file: 'policies/a/a.test.json', policy: 'policies/a/policy.json', cases, passed, failed: cases.length - passed, hits: [], durationMs: 1.5 }],
    passed,
    failed: cases.length - passed,
    coverage: [],
    total: { hit: 0, total: 0, percent: 100 },
    threshold: null,
    diagnostics: [],
    summary: `${passed} passed, ${cases.length - passed} failed`,
    ...extra,
  };
}

describe('GitHub workflow commands', () => {
  it('escapes %, CR and LF in messages', () => {
    expect(escapeWorkflowData('100% done\r\nnext')).toBe('100%25 done%0D%0Anext');
    expect(escapeWorkflowData('a:b,c')).toBe('a:b,c');
  });

  it('also escapes : and , in properties', () => {
    expect(escapeWorkflowProperty('dir,1/x:y%\n.json')).toBe('dir%2C1/x%3Ay%25%0A.json');
  });

  it('renders one command per diagnostic with escaped file, title and message', () => {
    const d = diagnostic({ code: 'TG101', file: 'policies/a,b/pol:icy.json', line: 4, column: 9, message: 'regex "(a+)+" is 100% slow:\nbad', hint: 'use [a]+' });
    expect(workflowCommand(d, { cwd: '/repo', root: '/repo' })).toBe(
      '::error file=policies/a%2Cb/pol%3Aicy.json,line=4,col=9,title=TG101 redos-regex::regex "(a+)+" is 100%25 slow:%0Abad%0Ause [a]+',
    );
  });

  it('maps severities to error, warning and notice, and paths to the repository root', () => {
    const out = renderLintGithub(
      lintResult([diagnostic({ severity: 'warning', code: 'TG104' }), diagnostic({ severity: 'info', code: 'TG205' })]),
      { cwd: '/repo/sub', root: '/repo' },
    ).split('\n');
    expect(out[0]).toMatch(/^::warning file=sub\/policies\/a\/policy\.json,/);
    expect(out[1]).toMatch(/^::notice file=sub\/policies\/a\/policy\.json,.*title=TG205 no-catalog::/);
    expect(out[2]).toBe('0 errors, 1 warning, 1 info in 0 policies');
  });
});

describe('XML escaping and JUnit', () => {
  it('escapes markup and replaces characters XML 1.0 cannot carry', () => {
    expect(escapeXmlText('a < b && c > d ]]>')).toBe('a &lt; b &amp;&amp; c &gt; d ]]&gt;');
    expect(escapeXmlText('bell\u0007 lone\uD800 pair\uD83D\uDE00')).toBe('bell\uFFFD lone\uFFFD pair\uD83D\uDE00');
    expect(escapeXmlAttribute('say "hi" & \'bye\'\n\tend\r')).toBe('say &quot;hi&quot; &amp; &apos;bye&apos;&#10;&#9;end&#13;');
  });

  it('names classes after the test file', () => {
    expect(junitClassName('policies/ccxt/orders.test.json')).toBe('policies.ccxt.orders');
    expect(junitClassName('../up/x.test.yaml')).toBe('up.x');
  });

  it('writes well-formed XML whose attributes and text round-trip, whatever the names hold', () => {
    const name = 'quotes " and <tags> & \'apostrophes\'\nover two lines';
    const passing: TestCaseResult = { name: 'fine', file: 'policies/a/a.test.json', line: 3, column: 5, passed: true, calls: 1 };
    const xml = renderJunit(
      suite([passing, failingCase(name)], {
        diagnostics: [diagnostic({ file: 'policies/b/b.test.json', message: 'expect must be "allow" & <more>' })],
      }),
    );
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', processEntities: true, htmlEntities: true }).parse(xml) as {
      testsuites: { tests: string; failures: string; errors: string; testsuite: Array<{ name: string; testcase: unknown }> };
    };
    expect(doc.testsuites).toMatchObject({ tests: '3', failures: '1', errors: '1' });
    const [first, second] = doc.testsuites.testsuite as [
      { name: string; testcase: Array<{ name: string; line: string; failure?: { '#text': string } }> },
      { name: string; testcase: { error: { type: string; message: string } } },
    ];
    expect(first.testcase[1]!.name).toBe(name);
    expect(first.testcase[1]!.line).toBe('7');
    expect(first.testcase[1]!.failure!['#text']).toContain('reason containing "]]> <end>"');
    expect(first.testcase[1]!.failure!['#text']).toContain('refund {"note":"a < b & \\"c\\"\\u0001"}');
    expect(second.name).toBe('policies/b/b.test.json');
    expect(second.testcase.error).toMatchObject({ type: 'TG010', message: 'expect must be "allow" & <more>' });
  });
});

describe('SARIF', () => {
  it('encodes paths under the root and uses file URIs outside it; the log validates', async () => {
    const validate = await sarifSchemaValidator();
    const log = buildSarifLog(
      lintResult([
        diagnostic({ file: 'my policies/a#1/policy.json', severity: 'warning', code: 'TG105', pointer: '/tools/x/deny_if/1' }),
        diagnostic({ file: '../outside/policy.json', severity: 'info', code: 'TG205' }),
      ]),
      { cwd: '/repo', root: '/repo', version: '1.2.3' },
    );
    expect(validate(log)).toBe(true);
    const [inside, outside] = log.runs[0]!.results!;
    expect(inside!.locations![0]!.physicalLocation!.artifactLocation).toEqual({ uri: 'my%20policies/a%231/policy.json', uriBaseId: '%SRCROOT%' });
    expect(inside!.level).toBe('warning');
    expect(outside!.locations![0]!.physicalLocation!.artifactLocation).toEqual({ uri: 'file:///outside/policy.json' });
    expect(outside!.level).toBe('note');
    expect(log.runs[0]!.tool.driver.semanticVersion).toBe('1.2.3');
  });

  it('keeps a finding\'s fingerprint when it moves to another line', () => {
    const fingerprint = (line: number): unknown =>
      buildSarifLog(lintResult([diagnostic({ line, pointer: '/tools/x' })]), { cwd: '/r', root: '/r', version: '0' }).runs[0]!.results![0]!.partialFingerprints;
    expect(fingerprint(3)).toEqual(fingerprint(30));
    expect(fingerprint(3)).not.toEqual(buildSarifLog(lintResult([diagnostic({ pointer: '/tools/y' })]), { cwd: '/r', root: '/r', version: '0' }).runs[0]!.results![0]!.partialFingerprints);
  });
});

describe('pretty output', () => {
  const result = lintResult([
    diagnostic({ file: 'b/policy.json', line: 2, column: 3, message: 'second file' }),
    diagnostic({ file: 'a/policy.json', line: 10, column: 1, severity: 'warning', code: 'TG104', message: 'never runs', hint: 'remove it' }),
    diagnostic({ file: 'a/policy.json', line: 9, column: 12, message: 'first' }),
  ]);

  it('groups lint findings by file, one located line each, hint below, summary last', () => {
    const text = renderLintPretty({ ...result, diagnostics: [...result.diagnostics].sort((x, y) => (x.file < y.file ? -1 : x.file > y.file ? 1 : x.line - y.line)) }, { colour: false });
    expect(text).toBe(
      [
        'a/policy.json:9:12  error    TG010  first',
        'a/policy.json:10:1  warning  TG104  never runs',
        '                                    hint: remove it',
        '',
        'b/policy.json:2:3  error    TG010  second file',
        '',
        '2 errors, 1 warning, 0 infos in 0 policies',
      ].join('\n'),
    );
  });

  it('colours only when asked', () => {
    expect(renderLintPretty(result, { colour: true })).toContain('\u001b[31m');
    expect(renderLintPretty(result, { colour: false })).not.toContain('\u001b[');
  });

  it('shows coverage per tool with the uncovered ids, and the threshold verdict before the summary', () => {
    const text = renderTestPretty(
      suite([{ name: 'ok', file: 'f', line: 1, column: 1, passed: true, calls: 1 }], {
        coverage: [
          {
            policy: 'policies/a/policy.json',
            server: 'a',
            items: [
              { id: 'default', kind: 'rule', tool: null, hit: true },
              { id: 'tools.x.deny_if[0]', kind: 'rule', tool: 'x', hit: false },
            ],
            tools: { '*': { hit: 1, total: 1, percent: 100 }, x: { hit: 0, total: 1, percent: 0 } },
            total: { hit: 1, total: 2, percent: 50 },
          },
        ],
        total: { hit: 1, total: 2, percent: 50 },
        threshold: { percent: 80, met: false, below: [{ policy: 'policies/a/policy.json', percent: 50 }] },
      }),
      { colour: false, coverage: true },
    );
    expect(text).toContain('policies/a/policy.json  (a)  1/2  50%');
    expect(text).toMatch(/\(policy-wide\) +1\/1 +100%/);
    expect(text).toContain('uncovered: tools.x.deny_if[0]');
    expect(text).toContain('Coverage of policies/a/policy.json is 50%, below the threshold of 80%.');
    expect(text.split('\n').at(-1)).toBe('1 passed, 0 failed');
  });
});

describe('shouldColour', () => {
  it('colours a TTY unless NO_COLOR is set; FORCE_COLOR forces it', () => {
    expect(shouldColour({ isTTY: true }, {})).toBe(true);
    expect(shouldColour({ isTTY: false }, {})).toBe(false);
    expect(shouldColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColour({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldColour({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
  });
});
