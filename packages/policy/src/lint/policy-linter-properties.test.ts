import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveArgumentPath } from '../catalog/argument-path-resolver.js';
import { parseCatalog, type Catalog } from '../catalog/catalog.js';
import { DIAGNOSTIC_CODES, type Diagnostic } from '../diagnostic.js';
import { lintPolicy, type LintResult } from './policy-linter.js';

/** What every lint result must satisfy, whatever the input. */
function checkResult(result: LintResult): void {
  expect(Array.isArray(result.diagnostics)).toBe(true);
  for (const d of result.diagnostics) {
    expect(Object.hasOwn(DIAGNOSTIC_CODES, d.code), d.code).toBe(true);
    expect(['error', 'warning', 'info']).toContain(d.severity);
    expect(Number.isInteger(d.line) && d.line >= 1).toBe(true);
    expect(Number.isInteger(d.column) && d.column >= 1).toBe(true);
    expect(typeof d.message).toBe('string');
    // An internal error means a check threw: lint must handle every input without one.
    expect(d.code, d.message).not.toBe('TG209');
  }
  expect(result.diagnostics.length).toBeLessThanOrEqual(201);
  const key = (d: Diagnostic): [string, number, number, string] => [d.file, d.line, d.column, d.code];
  for (let i = 1; i < result.diagnostics.length; i++) {
    const [fa, la, ca, da] = key(result.diagnostics[i - 1]!);
    const [fb, lb, cb, db] = key(result.diagnostics[i]!);
    expect(fa < fb || (fa === fb && (la < lb || (la === lb && (ca < cb || (ca === cb && da <= db)))))).toBe(true);
  }
  if (result.failedAt === undefined) expect(result.diagnostics.some((d) => d.code === 'TG001' || d.code === 'TG010')).toBe(false);
  else expect(result.diagnostics.some((d) => d.severity === 'error')).toBe(true);
}

const ccxtLike: Catalog = parseCatalog(
  JSON.stringify({
    tools: [
      {
        name: 'create_order',
        inputSchema: {
          type: 'object',
          properties: { amount: { type: 'number' }, side: { enum: ['buy', 'sell'] }, legs: { type: 'array', items: { $ref: '#/$defs/L' } }, meta: {} },
          required: ['amount'],
          $defs: { L: { anyOf: [{ type: 'object', properties: { q: { type: 'integer' } } }, { type: 'string' }] } },
        },
      },
      { name: 'get_price', inputSchema: { type: 'object', properties: { symbol: { type: 'string' } } }, annotations: { readOnlyHint: true } },
      { name: 'withdraw', inputSchema: { type: 'object' }, risk: { level: 'critical', category: 'financial' } },
    ],
  }),
  'catalog.json',
).catalog!;

const toolName = fc.constantFrom('create_order', 'get_price', 'withdraw', 'unknown_tool', '*', 'x');
const path = fc.oneof(
  fc.constantFrom('args.amount', 'args.side', 'args.legs[0].q', 'args.legs[1]', 'args.meta.a.b', 'args.nope', 'args.amount.x', 'agent.id', 'agent.labels.team', 'session.id', 'args.symbol'),
  fc.stringMatching(/^args(\.[a-z]{1,4}|\[[0-9]\]){1,3}$/),
);
const operand = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(1, 0.5, 'buy', 'x', [], ['buy'], [1, 'a'], true, null));
const pattern = fc.constantFrom('^[a-z]+$', '^(a+)+$', '(a|a)*b', '^\\s*a*\\s*$', '(', 'abc', '^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$');
const condition = fc.oneof(
  fc.record({ path, op: fc.constantFrom('eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'contains', 'exists'), value: operand }, { requiredKeys: ['path', 'op'] }),
  fc.record({ path, op: fc.constant('regex'), value: pattern, flags: fc.constantFrom('', 'i', 'mu') }, { requiredKeys: ['path', 'op', 'value'] }),
  fc.record({ path, op: fc.constant('exists'), value: fc.boolean(), on_deny: fc.constant('why') }, { requiredKeys: ['path', 'op'] }),
);
const window = fc.oneof(fc.constantFrom('second', 'minute', 'hour', 'day'), fc.integer({ min: -5, max: 100 }));
const limit = fc.record(
  { id: fc.constantFrom('a', 'b'), counter: fc.constantFrom('c', 'd'), max: fc.integer({ min: -1, max: 10 }), window, scope: fc.constantFrom('agent', 'session', 'global'), increment_from: path },
  { requiredKeys: ['counter', 'max', 'window'] },
);
const gate = fc.record({ id: fc.constantFrom('r1', 'r2', 'tools.x.action'), conditions: fc.array(condition, { maxLength: 3 }), on_deny: fc.constant('no'), reason: fc.constant('why') }, { requiredKeys: ['conditions'] });
const toolRule = fc.record(
  {
    action: fc.constantFrom('allow', 'deny', 'hide', 'approve'),
    reason: fc.constant('because'),
    require: fc.array(condition, { maxLength: 3 }),
    deny_if: fc.array(gate.map(({ reason: _reason, ...g }) => g), { maxLength: 3 }),
    approve_if: fc.array(gate.map(({ on_deny: _onDeny, ...g }) => g), { maxLength: 3 }),
    limits: fc.array(limit, { maxLength: 2 }),
    rate_limit: fc.record({ max: fc.integer({ min: -1, max: 5 }), window }),
  },
  { requiredKeys: [] },
);
const policyValue = fc.record(
  {
    version: fc.constant('1'),
    default: fc.constantFrom('allow', 'deny'),
    hide: fc.uniqueArray(toolName, { maxLength: 3 }),
    all_tools: fc.record({ limits: fc.array(limit, { maxLength: 2 }) }),
    tools: fc.dictionary(toolName, toolRule, { maxKeys: 4 }),
  },
  { requiredKeys: ['version', 'default'] },
);

describe('lintPolicy never throws', () => {
  it('on arbitrary text, as JSON and as YAML', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('p.json', 'p.yaml'), (text, file) => {
        checkResult(lintPolicy(text, file, { checkRegexSafety: false, catalog: ccxtLike }));
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, yaml) => {
        const text = JSON.stringify(value) ?? 'null';
        checkResult(lintPolicy(text, yaml ? 'p.yaml' : 'p.json', { checkRegexSafety: false, catalog: ccxtLike }));
      }),
      { numRuns: 300 },
    );
  });

  it('on random policy-shaped documents, with and without a catalog, regex safety on', () => {
    fc.assert(
      fc.property(policyValue, fc.boolean(), fc.boolean(), (value, withCatalog, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const result = lintPolicy(text, 'p.json', { ...(withCatalog ? { catalog: ccxtLike } : {}), regexTimeoutMs: 500 });
        checkResult(result);
        // Lint is deterministic.
        expect(lintPolicy(text, 'p.json', { ...(withCatalog ? { catalog: ccxtLike } : {}), regexTimeoutMs: 500 })).toEqual(result);
      }),
      { numRuns: 400 },
    );
  });

  it('on random policies with random regex patterns (analysis off) and a tiny cap', () => {
    const anyPattern = fc.string({ maxLength: 12 });
    const policyWithPatterns = fc.record({
      version: fc.constant('1'),
      default: fc.constantFrom('allow', 'deny'),
      tools: fc.dictionary(toolName, fc.record({ require: fc.array(fc.record({ path, op: fc.constant('regex'), value: anyPattern }), { maxLength: 4 }) })),
    });
    fc.assert(
      fc.property(policyWithPatterns, fc.integer({ min: 1, max: 3 }), (value, max) => {
        const result = lintPolicy(JSON.stringify(value), 'p.json', { checkRegexSafety: false, catalog: ccxtLike, maxDiagnostics: max });
        expect(result.diagnostics.length).toBeLessThanOrEqual(max + 1);
        for (const d of result.diagnostics) expect(d.code).not.toBe('TG209');
      }),
      { numRuns: 200 },
    );
  });
});

describe('catalog parsing and path resolution never throw', () => {
  const schema: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    schema: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.boolean(),
      fc.record(
        {
          type: fc.oneof(fc.constantFrom('object', 'array', 'string', 'number', 'integer', 'boolean', 'null', 'bogus'), fc.array(fc.constantFrom('string', 'number', 'object'))),
          properties: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('schema'), { maxKeys: 3 }),
          required: fc.array(fc.constantFrom('a', 'b', 'c', 1)),
          additionalProperties: fc.oneof(fc.boolean(), tie('schema')),
          patternProperties: fc.dictionary(fc.constantFrom('^a', '(', '.*'), tie('schema'), { maxKeys: 2 }),
          items: fc.oneof(tie('schema'), fc.array(tie('schema'), { maxLength: 2 })),
          prefixItems: fc.array(tie('schema'), { maxLength: 2 }),
          additionalItems: tie('schema'),
          minItems: fc.integer({ min: 0, max: 3 }),
          maxItems: fc.integer({ min: 0, max: 3 }),
          anyOf: fc.array(tie('schema'), { maxLength: 3 }),
          oneOf: fc.array(tie('schema'), { maxLength: 3 }),
          allOf: fc.array(tie('schema'), { maxLength: 3 }),
          $ref: fc.constantFrom('#', '#/$defs/A', '#/definitions/A', '#/properties/a', 'http://x', '#/%', '#/$defs/missing'),
          enum: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
          const: fc.jsonValue({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      ),
    ),
  })).schema;

  it('resolves arbitrary paths in arbitrary schemas', () => {
    fc.assert(
      fc.property(schema, schema, path, (root, def, p) => {
        const inputSchema = { ...(typeof root === 'object' && root !== null ? root : {}), $defs: { A: def }, definitions: { A: def } } as Record<string, unknown>;
        const r = resolveArgumentPath({ inputSchema }, p);
        expect(['found', 'open', 'unknown']).toContain(r.status);
        if (r.status === 'unknown') expect(r.failedAt).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 500 },
    );
  });

  it('parses arbitrary catalog-shaped JSON and lints against whatever it accepts', () => {
    const catalogValue = fc.record(
      {
        server: fc.oneof(fc.string(), fc.integer()),
        tools: fc.array(
          fc.record(
            {
              name: fc.oneof(toolName, fc.integer()),
              inputSchema: schema,
              annotations: fc.oneof(fc.record({ readOnlyHint: fc.boolean(), destructiveHint: fc.boolean() }), fc.string()),
              risk: fc.record({ level: fc.constantFrom('critical', 'low', 'bad'), category: fc.constantFrom('financial', 'read', 'bad') }),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 4 },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(catalogValue, policyValue, (c, p) => {
        const parsed = parseCatalog(JSON.stringify(c), 'catalog.json');
        expect(parsed.catalog === undefined).toBe(parsed.diagnostics.length > 0);
        for (const d of parsed.diagnostics) expect(['TG001', 'TG002', 'TG206']).toContain(d.code);
        if (parsed.catalog) checkResult(lintPolicy(JSON.stringify(p), 'p.json', { catalog: parsed.catalog, checkRegexSafety: false }));
      }),
      { numRuns: 300 },
    );
  });
});
