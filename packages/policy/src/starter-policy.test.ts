import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, test } from 'vitest';
import { buildCatalog, parseCatalog, type Catalog } from './catalog/catalog.js';
import { exampleArguments, exampleValue } from './catalog/example-arguments.js';
import { lintPolicy } from './lint/policy-linter.js';
import { compilePolicy } from './compile/policy-compiler.js';
import { starterPolicy, starterTreatment } from './starter-policy.js';
import { parseTestFile, runTestFile } from './test-runner.js';

function repositoryCatalog(server: string): Catalog {
  const file = `policies/${server}/catalog.json`;
  const text = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
  const { catalog, diagnostics } = parseCatalog(text, file);
  expect(diagnostics).toEqual([]);
  return catalog!;
}

function validator(schema: Readonly<Record<string, unknown>>) {
  const { $schema: _ignored, ...rest } = schema;
  return new Ajv({ strict: false, allErrors: true }).compile(rest);
}

/** Lints the starter policy against the catalog and runs its tests; returns both outcomes. */
function check(catalog: Catalog) {
  const starter = starterPolicy(catalog);
  const policyText = `${JSON.stringify(starter.policy, null, 2)}\n`;
  const lint = lintPolicy(policyText, 'policy.json', { catalog, checkRegexSafety: false });
  const parsed = parseTestFile(JSON.stringify(starter.tests, null, 2), 'starter.test.json');
  expect(parsed.diagnostics).toEqual([]);
  const result = runTestFile(parsed.tests!, parsed.document!, compilePolicy(starter.policy, { server: starter.server }));
  return { starter, lint, result };
}

// A catalog with one tool of each class, some classes coming from annotations or a reviewed risk.
const mixed = buildCatalog('mixed', [
  { name: 'list_files', inputSchema: { type: 'object', properties: { dir: { type: 'string', minLength: 3 } }, required: ['dir'] } },
  { name: 'write_file', inputSchema: { type: 'object', properties: { path: { type: 'string' }, mode: { type: 'integer', minimum: 384, maximum: 511 } }, required: ['path', 'mode'] } },
  { name: 'run_shell', inputSchema: { type: 'object', properties: { argv: { type: 'array', items: { type: 'string' }, minItems: 2 } }, required: ['argv'] } },
  { name: 'delete_branch', inputSchema: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z]+/[0-9]+$' } }, required: ['name'] } },
  { name: 'send_payment', inputSchema: { type: 'object', properties: { amount: { type: 'number', exclusiveMinimum: 0 }, currency: { enum: ['EUR', 'USD'] } }, required: ['amount', 'currency'] } },
  { name: 'lookup', inputSchema: { type: 'object', properties: {} }, annotations: { destructiveHint: true } },
  { name: 'dump_environment', inputSchema: { type: 'object' }, risk: { level: 'high', category: 'read' } },
]);

describe('starterTreatment', () => {
  test('reads are allowed, writes limited, execute/destructive/financial and high or critical tools need approval', () => {
    expect(starterTreatment('low', 'read')).toBe('allow');
    expect(starterTreatment('medium', 'write')).toBe('limit');
    expect(starterTreatment('medium', 'read')).toBe('limit');
    expect(starterTreatment('high', 'execute')).toBe('approve');
    expect(starterTreatment('high', 'destructive')).toBe('approve');
    expect(starterTreatment('high', 'read')).toBe('approve');
    expect(starterTreatment('critical', 'financial')).toBe('approve');
    expect(starterTreatment('critical', 'read')).toBe('approve');
  });
});

describe('starterPolicy', () => {
  test('one rule per class, default deny, and a server-wide limit', () => {
    const { starter } = check(mixed);
    const tools = starter.policy.tools!;
    expect(starter.policy.default).toBe('deny');
    expect(starter.policy.all_tools).toEqual({ limits: [{ counter: 'mixed-calls', max: 120, window: 'minute', scope: 'agent' }] });
    expect(tools['list_files']).toEqual({ description: 'low read: allowed.' });
    expect(tools['write_file']?.rate_limit).toEqual({ max: 30, window: 'minute' });
    expect(tools['write_file']?.action).toBeUndefined();
    for (const name of ['run_shell', 'delete_branch', 'send_payment', 'lookup', 'dump_environment']) {
      expect(tools[name]?.action, name).toBe('approve');
      expect(tools[name]?.rate_limit, name).toEqual({ max: 10, window: 'minute' });
    }
    expect(starter.plan.map((p) => [p.tool, p.category, p.treatment])).toEqual([
      ['delete_branch', 'destructive', 'approve'],
      ['dump_environment', 'read', 'approve'],
      ['list_files', 'read', 'allow'],
      ['lookup', 'destructive', 'approve'],
      ['run_shell', 'execute', 'approve'],
      ['send_payment', 'financial', 'approve'],
      ['write_file', 'write', 'limit'],
    ]);
  });

  test('lints clean and its tests pass: a mixed catalog', () => {
    const { lint, result } = check(mixed);
    expect(lint.diagnostics).toEqual([]);
    expect(result.failed).toBe(0);
    // One case per tool, one more per approval tool, and the default-deny case.
    expect(result.passed).toBe(7 + 5 + 1);
  });

  test.each(['ccxt', 'everything'])('lints clean and its tests pass: the %s catalog of this repository', (server) => {
    const catalog = repositoryCatalog(server);
    const { starter, lint, result } = check(catalog);
    expect(lint.diagnostics).toEqual([]);
    expect(result.cases.filter((c) => !c.passed)).toEqual([]);
    expect(result.passed).toBeGreaterThan(catalog.tools.length);
    // Critical tools are never allowed unconditionally.
    for (const p of starter.plan.filter((x) => x.level === 'critical')) expect(starter.policy.tools![p.tool]?.action).toBe('approve');
  });

  test('a server with no tools: default deny, one case, lints clean', () => {
    const { starter, lint, result } = check(buildCatalog('empty', []));
    expect(starter.policy.tools).toEqual({});
    expect(lint.diagnostics).toEqual([]);
    expect([result.passed, result.failed]).toEqual([1, 0]);
  });

  test('the CCXT catalog: reads allowed, orders and withdrawals behind approval', () => {
    const { starter } = check(repositoryCatalog('ccxt'));
    const treatment = Object.fromEntries(starter.plan.map((p) => [p.tool, p.treatment]));
    expect(treatment['fetch_ohlcv']).toBe('allow');
    expect(treatment['fetch_account_balance']).toBe('allow');
    expect(treatment['withdraw_cryptocurrency']).toBe('approve');
    expect(treatment['create_spot_market_order']).toBe('approve');
    expect(treatment['cancel_order']).toBe('approve');
    expect(treatment['set_trading_leverage']).toBe('approve');
  });

  test('a broken expectation is caught: the generated tests really decide', () => {
    const starter = starterPolicy(mixed);
    const loosened = { ...starter.policy, tools: { ...starter.policy.tools, send_payment: {} } };
    const parsed = parseTestFile(JSON.stringify(starter.tests), 't.test.json');
    const result = runTestFile(parsed.tests!, parsed.document!, compilePolicy(loosened));
    expect(result.cases.filter((c) => !c.passed).map((c) => c.name)).toEqual(['send_payment (critical financial) needs a human approval', 'send_payment runs once approved']);
  });
});

describe('exampleArguments', () => {
  test.each(['ccxt', 'everything'])('every generated call of the %s catalog is valid for its input schema', (server) => {
    for (const tool of repositoryCatalog(server).tools) {
      const validate = validator(tool.inputSchema);
      const args = exampleArguments(tool.inputSchema);
      expect(validate(args), `${tool.name}: ${JSON.stringify(args)} ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  test('every generated call of the mixed catalog is valid for its input schema', () => {
    for (const tool of mixed.tools) {
      const validate = validator(tool.inputSchema);
      expect(validate(exampleArguments(tool.inputSchema)), tool.name).toBe(true);
    }
  });

  test('bounds, formats, patterns, references and unions', () => {
    expect(exampleValue({ type: 'integer', minimum: 3 })).toBe(3);
    expect(exampleValue({ type: 'number', exclusiveMinimum: 0, maximum: 0.5 })).toBe(0.25);
    expect(exampleValue({ type: 'integer', exclusiveMaximum: 0 })).toBe(-1);
    expect(exampleValue({ type: 'integer', minimum: 5, multipleOf: 4 })).toBe(8);
    expect(exampleValue({ type: 'string', format: 'date-time' })).toBe('2026-01-01T00:00:00Z');
    expect(exampleValue({ type: 'string', pattern: '^[A-Z]+/[A-Z]+$' })).toBe('BTC/USDT');
    expect(exampleValue({ type: 'string', minLength: 10, maxLength: 12 })).toHaveLength(10);
    expect(exampleValue({ type: ['null', 'boolean'] })).toBe(false);
    expect(exampleValue({ anyOf: [{ type: 'null' }, { type: 'number' }] })).toBe(1);
    const withRef = { type: 'object', $defs: { side: { enum: ['buy', 'sell'] } }, properties: { side: { $ref: '#/$defs/side' } }, required: ['side'] };
    expect(exampleArguments(withRef)).toEqual({ side: 'buy' });
    expect(exampleArguments({ type: 'object', allOf: [{ properties: { a: { type: 'boolean' } }, required: ['a'] }] })).toEqual({ a: false });
    expect(exampleArguments({ type: 'object', properties: { o: { type: 'string' } } })).toEqual({});
    expect(exampleArguments({ type: 'object', properties: { d: { type: 'string', default: 'x' } }, required: ['d'] })).toEqual({ d: 'x' });
  });
});
