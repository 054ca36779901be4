import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { DIAGNOSTIC_CODES, type DiagnosticCode } from '../diagnostic.js';
import { LINT_RULE_FAMILIES } from './lint-rules.js';
import { lintPolicy } from './policy-linter.js';

const LINT_RULES_DOC = readFileSync(new URL('../../../../docs/lint-rules.md', import.meta.url), 'utf8');

/** The semantic codes: what a rule family reports on a schema-valid policy (not parse, schema, compile, catalog-file, test-file or import codes). */
const SEMANTIC = (Object.keys(DIAGNOSTIC_CODES) as DiagnosticCode[]).filter(
  (c) => /^TG(1[01]\d|20\d)$/.test(c) && !['TG100', 'TG102', 'TG103', 'TG107', 'TG205', 'TG206', 'TG208', 'TG209'].includes(c),
);

describe('the lint rule table', () => {
  test('every semantic code belongs to a registered family, and every family code is a documented lint code', () => {
    const claimed = new Set(LINT_RULE_FAMILIES.flatMap((f) => f.codes));
    expect([...SEMANTIC].filter((c) => !claimed.has(c))).toEqual([]);
    for (const code of claimed) {
      expect(DIAGNOSTIC_CODES[code], code).toBeDefined();
      expect(LINT_RULES_DOC, code).toContain(`## ${code} ${DIAGNOSTIC_CODES[code].name}`);
    }
  });

  test('families have distinct activities, which a failing check is reported under', () => {
    const activities = LINT_RULE_FAMILIES.map((f) => f.activity);
    expect(new Set(activities).size).toBe(activities.length);
  });

  test('each family runs: one policy trips a rule of each that needs no catalog, and no finding has an unclaimed code', () => {
    // One policy that trips a rule of every family that needs no catalog.
    const text = JSON.stringify({
      version: '1',
      default: 'allow',
      shadow: true,
      hide: ['gone'],
      tools: {
        gone: { action: 'deny' },
        order: { action: 'deny', require: [{ path: 'args.side', op: 'in', value: [] }], approvers: ['risk'] },
        quote: {
          deny_if: [{ conditions: [{ path: 'args.a', op: 'eq', value: 1 }] }, { conditions: [{ path: 'args.a', op: 'eq', value: 1 }, { path: 'args.b', op: 'eq', value: 2 }] }],
          approve_if: [{ conditions: [{ path: 'args.x', op: 'regex', value: '^(a+)+$' }], approvers: [] }],
          shadow: true,
        },
      },
    });
    const { diagnostics } = lintPolicy(text, 'policies/ccxt/policy.json');
    const codes = new Set(diagnostics.map((d) => d.code));
    for (const code of ['TG101', 'TG104', 'TG105', 'TG106', 'TG110', 'TG112', 'TG113'] as const) expect(codes, code).toContain(code);
    const claimed = new Set<string>([...LINT_RULE_FAMILIES.flatMap((f) => f.codes), 'TG205']);
    expect(diagnostics.filter((d) => !claimed.has(d.code)).map((d) => `${d.code} ${d.message}`)).toEqual([]);
  });
});
