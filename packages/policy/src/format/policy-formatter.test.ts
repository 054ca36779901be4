import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify as yamlStringify } from 'yaml';
import { jsonEqual } from '../json-value.js';
import { parseSourceDocument } from '../parse/source-document.js';
import { validateDocument } from '../parse/schema-validator.js';
import { POLICY_LAYOUT } from './document-layout.js';
import { formatDocument, formatJsonValue, formattedKindOf } from './policy-formatter.js';

const repoPolicies = fileURLToPath(new URL('../../../../policies/', import.meta.url));

function valueOf(text: string, file: string): unknown {
  const parsed = parseSourceDocument(text, file);
  expect(parsed.diagnostics).toEqual([]);
  return parsed.document!.value;
}

/** Formats and checks the three promises: same meaning, idempotent, trailing newline. */
function formatChecked(text: string, file: string): string {
  const result = formatDocument(text, file);
  expect(result.diagnostics).toEqual([]);
  const out = result.text!;
  expect(jsonEqual(valueOf(out, file), valueOf(text, file))).toBe(true);
  expect(out.endsWith('\n')).toBe(true);
  expect(formatDocument(out, file).changed).toBe(false);
  return out;
}

describe('formatDocument: layout', () => {
  it('orders policy keys in reading order and keeps tools in the written order', () => {
    const text = JSON.stringify({
      tools: {
        zeta: { limits: [{ window: 'minute', max: 5, counter: 'z' }], require: [{ value: 3, op: 'lte', path: 'args.n' }], action: 'allow' },
        alpha: {},
      },
      hide: ['h'],
      default: 'deny',
      version: '1',
    });
    const out = formatChecked(text, 'policy.json');
    expect(out).toBe(
      [
        '{',
        '  "version": "1",',
        '  "default": "deny",',
        '  "hide": ["h"],',
        '  "tools": {',
        '    "zeta": {',
        '      "action": "allow",',
        '      "require": [',
        '        { "path": "args.n", "op": "lte", "value": 3 }',
        '      ],',
        '      "limits": [',
        '        { "counter": "z", "max": 5, "window": "minute" }',
        '      ]',
        '    },',
        '    "alpha": {}',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('spreads a condition that does not fit the width over lines, and a rule with two conditions one a line', () => {
    const long = 'x'.repeat(90);
    const text = JSON.stringify({
      version: '1',
      default: 'allow',
      tools: {
        t: {
          require: [{ path: 'args.a', op: 'eq', value: 1, on_deny: long }],
          deny_if: [
            { conditions: [{ path: 'args.a', op: 'gt', value: 1 }, { path: 'args.b', op: 'exists' }], on_deny: 'no' },
            { conditions: [], on_deny: 'Requires human approval.' },
          ],
        },
      },
    });
    const out = formatChecked(text, 'policy.json');
    expect(out).toContain(`        {\n          "path": "args.a",\n          "op": "eq",\n          "value": 1,\n          "on_deny": "${long}"\n        }`);
    expect(out).toContain('          "conditions": [\n            { "path": "args.a", "op": "gt", "value": 1 },\n            { "path": "args.b", "op": "exists" }\n          ],');
    expect(out).toContain('        { "conditions": [], "on_deny": "Requires human approval." }');
  });

  it('keeps number literals as written, unknown keys after known ones, and __proto__ as a plain key', () => {
    const text = '{"extra":1,"version":"1","default":"deny","tools":{"t":{"limits":[{"counter":"c","max":1e3,"window":60}]}},"__proto__":{"x":12345678901234567890}}';
    const out = formatChecked(text, 'p.json');
    expect(out).toContain('"max": 1e3');
    expect(out).toContain('12345678901234567890');
    expect(out.indexOf('"tools"')).toBeLessThan(out.indexOf('"extra"'));
    expect(out.indexOf('"extra"')).toBeLessThan(out.indexOf('"__proto__"'));
  });

  it('lays out test files: case name first, calls and expectations on one line when they fit', () => {
    const text = JSON.stringify({
      cases: [
        { expect: 'allow', call: { args: { a: 1 }, tool: 't' }, name: 'one' },
        { name: 'seq', sequence: [{ expect: { reason_contains: 'rate', effect: 'deny' }, repeat: 2, call: { tool: 't' }, at: '2026-01-01T00:00:00Z' }] },
      ],
      policy: 'policy.json',
    });
    const out = formatChecked(text, 'x.test.json');
    expect(out).toBe(
      [
        '{',
        '  "policy": "policy.json",',
        '  "cases": [',
        '    {',
        '      "name": "one",',
        '      "call": { "tool": "t", "args": { "a": 1 } },',
        '      "expect": "allow"',
        '    },',
        '    {',
        '      "name": "seq",',
        '      "sequence": [',
        '        {',
        '          "at": "2026-01-01T00:00:00Z",',
        '          "call": { "tool": "t" },',
        '          "repeat": 2,',
        '          "expect": { "effect": "deny", "reason_contains": "rate" }',
        '        }',
        '      ]',
        '    }',
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('keeps YAML as YAML, with its comments, and puts conditions on one line when they fit', () => {
    const text = [
      '# The policy of the example server.',
      'tools:',
      '  # reads are free',
      '  read: {}',
      '  write:',
      '    require:',
      '      - op: lte',
      '        value: 10',
      '        path: args.n',
      '    action: allow',
      'default: deny',
      "version: '1'",
      '',
    ].join('\n');
    const out = formatChecked(text, 'policy.yaml');
    expect(out).toBe(
      [
        '# The policy of the example server.',
        '',
        "version: '1'",
        'default: deny',
        'tools:',
        '  # reads are free',
        '  read: {}',
        '  write:',
        '    action: allow',
        '    require:',
        '      - {path: args.n, op: lte, value: 10}',
        '',
      ].join('\n'),
    );
  });

  it('reports a file that does not parse with file:line:col and returns no text', () => {
    const json = formatDocument('{\n  "version": "1",\n  "default": \n}\n', 'policies/x/policy.json');
    expect(json.text).toBeUndefined();
    expect(json.diagnostics[0]).toMatchObject({ code: 'TG001', file: 'policies/x/policy.json', line: 4, column: 1 });
    const dup = formatDocument('{"version":"1","version":"1"}', 'p.json');
    expect(dup.diagnostics[0]).toMatchObject({ code: 'TG002', line: 1, column: 16 });
    const yaml = formatDocument('tools:\n  a: [\n', 'p.yaml');
    expect(yaml.text).toBeUndefined();
    expect(yaml.diagnostics[0]).toMatchObject({ code: 'TG001', file: 'p.yaml' });
  });

  it('says a formatted file is unchanged, and names test files by their suffix', () => {
    const once = formatChecked('{"version":"1","default":"deny"}', 'p.json');
    expect(formatDocument(once, 'p.json')).toMatchObject({ changed: false, text: once });
    expect(formattedKindOf('policies/a/orders.test.yaml')).toBe('test-file');
    expect(formattedKindOf('policies/a/policy.yaml')).toBe('policy');
  });

  it('formatJsonValue writes the same text formatDocument gives', () => {
    const policy = { tools: { t: { rate_limit: { window: 'minute', max: 3 } } }, default: 'allow', version: '1' };
    const text = formatJsonValue(policy, 'policy');
    expect(formatDocument(JSON.stringify(policy), 'p.json').text).toBe(text);
  });
});

describe('formatDocument: the repository policies', () => {
  const files = readdirSync(repoPolicies, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(repoPolicies, d.name)).map((f) => join(repoPolicies, d.name, f)))
    .filter((f) => /(policy|\.test)\.(json|ya?ml)$/.test(f));

  it('finds the policies and tests', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  it.each(files)('%s: formats to the same value, idempotently, and is already formatted', (file) => {
    const text = readFileSync(file, 'utf8');
    formatChecked(text, file);
    expect(formatDocument(text, file).changed).toBe(false);
    // The same document as YAML formats to the same value too.
    const asYaml = yamlStringify(JSON.parse(text));
    const yamlFile = file.replace(/\.json$/, '.yaml');
    formatChecked(asYaml, yamlFile);
  });
});

// Random documents of the policy schema's shapes, written with keys in random order.
const word = fc.constantFrom('a', 'b', 'amount', 'exchange_id', 'x-y', 'é', '__proto__', 'constructor', 'toString', '');
const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null));
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(word, tie('value'), { maxKeys: 3 })),
})).value;
const path = fc.oneof(word.map((w) => `args.${w || 'v'}`), fc.constantFrom('agent.id', 'session.id', 'agent.labels.team', 'args.order.legs[0].qty'));
const condition = fc.record(
  { path, op: fc.constantFrom('eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'exists', 'regex', 'contains'), value: jsonValue, flags: fc.constantFrom('i', 'm'), on_deny: fc.string({ minLength: 1, maxLength: 120 }) },
  { requiredKeys: ['path', 'op'] },
);
const limit = fc.record(
  {
    id: fc.constantFrom('lim-1', 'lim.2'),
    counter: fc.string({ minLength: 1, maxLength: 10 }),
    max: fc.integer({ min: 1, max: 1000 }),
    window: fc.oneof(fc.constantFrom('second', 'minute', 'hour', 'day'), fc.integer({ min: 1, max: 86400 })),
    scope: fc.constantFrom('agent', 'session', 'global'),
    increment_from: fc.constant('args.amount'),
    on_deny: fc.string({ minLength: 1, maxLength: 60 }),
  },
  { requiredKeys: ['counter', 'max', 'window'] },
);
const toolRule = fc.record(
  {
    description: fc.string({ maxLength: 40 }),
    shadow: fc.boolean(),
    action: fc.constantFrom('allow', 'deny', 'hide', 'approve'),
    reason: fc.string({ minLength: 1, maxLength: 30 }),
    require: fc.array(condition, { maxLength: 3 }),
    deny_if: fc.array(fc.record({ id: fc.constantFrom('d1', 'd2'), conditions: fc.array(condition, { maxLength: 3 }), on_deny: fc.string({ minLength: 1 }) }, { requiredKeys: ['conditions'] }), { maxLength: 2 }),
    approve_if: fc.array(
      fc.record({ conditions: fc.array(condition, { maxLength: 2 }), reason: fc.string({ minLength: 1 }), approvers: fc.uniqueArray(fc.constantFrom('user', 'leads'), { minLength: 1 }), timeout: fc.constant('10m') }, { requiredKeys: ['conditions'] }),
      { maxLength: 2 },
    ),
    limits: fc.array(limit, { maxLength: 2 }),
    rate_limit: fc.record({ max: fc.integer({ min: 1, max: 100 }), window: fc.constantFrom('minute', 'hour'), scope: fc.constantFrom('agent', 'global'), counter: fc.constant('rl') }, { requiredKeys: ['max', 'window'] }),
  },
  { requiredKeys: [] },
);
const policy = fc.record(
  {
    $schema: fc.constant('../../packages/policy/schema/policy.schema.json'),
    version: fc.constant('1'),
    description: fc.string({ maxLength: 80 }),
    default: fc.constantFrom('allow', 'deny'),
    shadow: fc.boolean(),
    hide: fc.uniqueArray(fc.constantFrom('*', 'a', 'b', 'withdraw'), { maxLength: 3 }),
    all_tools: fc.record({ limits: fc.array(limit, { maxLength: 2 }) }),
    tools: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), toolRule, { maxKeys: 4 }),
  },
  { requiredKeys: ['version', 'default'] },
);

/** Rewrites every object of a value with its keys in a random order. */
function shuffled(value: unknown, rnd: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffled(v, rnd));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value).sort(() => rnd() - 0.5);
  const out: Record<string, unknown> = {};
  for (const k of keys) Object.defineProperty(out, k, { value: shuffled((value as Record<string, unknown>)[k], rnd), enumerable: true, writable: true, configurable: true });
  return out;
}

describe('formatDocument: properties', () => {
  it('never changes what a policy means (JSON and YAML, any key order and indentation), and is idempotent', () => {
    fc.assert(
      fc.property(policy, fc.integer(), fc.constantFrom(0, 1, 2, 4, '\t'), (p, seed, indent) => {
        let state = seed;
        const rnd = (): number => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        const value = shuffled(p, rnd);
        const json = JSON.stringify(value, null, indent);
        const formatted = formatChecked(json, 'policies/s/policy.json');
        // Top-level keys come out in the canonical order.
        const keys = Object.keys(JSON.parse(formatted) as object);
        const order = POLICY_LAYOUT.order!;
        expect(keys).toEqual([...keys].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
        formatChecked(yamlStringify(value, { indent: 2 + (seed & 3) }), 'policies/s/policy.yaml');
      }),
      { numRuns: 150 },
    );
  });

  it('keeps schema-valid policies schema-valid', () => {
    fc.assert(
      fc.property(policy, (p) => {
        const text = JSON.stringify(p);
        const before = parseSourceDocument(text, 'p.json').document!;
        const after = parseSourceDocument(formatChecked(text, 'p.json'), 'p.json').document!;
        expect(validateDocument(after, 'policy').length === 0).toBe(validateDocument(before, 'policy').length === 0);
      }),
      { numRuns: 50 },
    );
  });

  it('never changes what any JSON document means, whatever its shape', () => {
    fc.assert(
      fc.property(jsonValue, fc.constantFrom('p.json', 'a.test.json', 'p.yaml', 'a.test.yml'), (value, file) => {
        const text = /\.ya?ml$/.test(file) ? yamlStringify(value) : JSON.stringify(value);
        formatChecked(text, file);
      }),
      { numRuns: 200 },
    );
  });
});
