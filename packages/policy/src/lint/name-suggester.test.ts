import { describe, expect, it } from 'vitest';
import { closestName, OPERATOR_SYNONYMS } from './name-suggester.js';
import { lintPolicy } from './policy-linter.js';
import { validateDocument } from '../parse/schema-validator.js';
import { parseSourceDocument } from '../parse/source-document.js';

const OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'exists', 'regex', 'contains'];

describe('closestName', () => {
  it('finds one-edit typos, swaps and case slips', () => {
    expect(closestName('deny_iff', ['require', 'deny_if', 'approve_if'])).toBe('deny_if');
    expect(closestName('rate_limt', ['rate_limit', 'limits'])).toBe('rate_limit');
    expect(closestName('lnit', ['lint', 'test', 'init'])).toBe('lint');
    expect(closestName('Default', ['default', 'version'])).toBe('default');
    expect(closestName('eqq', OPERATORS)).toBe('eq');
  });

  it('maps the words people use for operators to the operator', () => {
    expect(closestName('greater', OPERATORS, OPERATOR_SYNONYMS)).toBe('gt');
    expect(closestName('>=', OPERATORS, OPERATOR_SYNONYMS)).toBe('gte');
    expect(closestName('matches', OPERATORS, OPERATOR_SYNONYMS)).toBe('regex');
    expect(closestName('Includes', OPERATORS, OPERATOR_SYNONYMS)).toBe('contains');
    // Without the synonyms "greater" is too far from every operator to guess.
    expect(closestName('greater', OPERATORS)).toBeUndefined();
  });

  it('says nothing for an exact match or a name that is nowhere near', () => {
    expect(closestName('lint', ['lint', 'list'])).toBeUndefined();
    expect(closestName('banana', ['lint', 'test', 'diff'])).toBeUndefined();
    expect(closestName('x', ['ab'])).toBeUndefined();
    // A synonym whose operator is not among the candidates is not offered.
    expect(closestName('greater', ['eq'], OPERATOR_SYNONYMS)).toBeUndefined();
  });
});

describe('schema errors suggest the key or operator meant', () => {
  const lint = (tools: unknown) => lintPolicy(JSON.stringify({ version: '1', default: 'deny', tools }, null, 2), 'p.json').diagnostics.map((d) => d.message);

  it('an unknown key in a tool rule, a condition and the top level', () => {
    expect(lint({ t: { deny_iff: [{ conditions: [] }] } })).toContain('unknown key "deny_iff" in /tools/t; did you mean "deny_if"?');
    expect(lint({ t: { require: [{ path: 'args.a', op: 'eq', valeu: 1 }] } })).toContain('unknown key "valeu" in /tools/t/require/0; did you mean "value"?');
    const top = lintPolicy('{ "version": "1", "default": "deny", "tool": {} }', 'p.json').diagnostics.map((d) => d.message);
    expect(top).toContain('unknown key "tool" in the document; did you mean "tools"?');
  });

  it('an operator misspelt or written as a word', () => {
    const messages = lint({ t: { require: [{ path: 'args.a', op: 'greater', value: 1 }, { path: 'args.b', op: 'contian', value: 'x' }] } });
    expect(messages.find((m) => m.includes('/require/0/op'))).toMatch(/\(got "greater"\); did you mean "gt"\?$/);
    expect(messages.find((m) => m.includes('/require/1/op'))).toMatch(/did you mean "contains"\?$/);
  });

  it('no suggestion when nothing is close', () => {
    const messages = lint({ t: { zebra: 1, require: [{ path: 'args.a', op: 'banana', value: 1 }] } });
    expect(messages.some((m) => m.includes('did you mean'))).toBe(false);
  });

  it('test files too', () => {
    const { document } = parseSourceDocument(JSON.stringify({ cases: [{ name: 'n', call: { tool: 't' }, expct: 'allow' }] }), 'x.test.json');
    const messages = validateDocument(document!, 'test-file').map((d) => d.message);
    expect(messages.some((m) => m.includes('unknown key "expct"') && m.endsWith('did you mean "expect"?'))).toBe(true);
  });
});
