import { describe, expect, it } from 'vitest';
import { buildCatalog, catalogInputSchemas } from '../catalog/catalog.js';
import type { Diagnostic } from '../diagnostic.js';
import type { Policy } from '../generated/policy-types.js';
import { compilePolicy } from '../compile/policy-compiler.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { lintTestFile } from './test-file-linter.js';
import { parseTestFile, runTestFile } from '../test-runner.js';

const catalog = buildCatalog('shop', [
  {
    name: 'place_order',
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'number', minimum: 0 }, sku: { type: 'string' } },
      required: ['amount', 'sku'],
      additionalProperties: false,
    },
  },
  { name: 'get_stock', inputSchema: { type: 'object', properties: { sku: { type: 'string' } } } },
  { name: 'refund', inputSchema: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] } },
  { name: 'wipe_shop', inputSchema: { type: 'object', properties: {} } },
]);

const POLICY: Policy = {
  version: '1',
  default: 'deny',
  hide: ['wipe_shop'],
  tools: {
    get_stock: {},
    place_order: {
      deny_if: [{ id: 'too-big', conditions: [{ path: 'args.amount', op: 'gt', value: 100 }] }],
      approve_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 50 }] }],
      rate_limit: { max: 5, window: 'minute' },
    },
    refund: { shadow: true, deny_if: [{ conditions: [] }] },
  },
};

/** The policy as `tollgate test` compiles it: with the catalog's input schemas. */
function compiled(policy: Policy = POLICY): CompiledPolicy {
  return compilePolicy(policy, { server: 'shop', inputSchemas: catalogInputSchemas(catalog) });
}

const order = (args: unknown) => ({ tool: 'place_order', args });

function lint(cases: unknown[], options: { catalog?: boolean; policy?: Policy } = {}) {
  const text = JSON.stringify({ cases }, null, 2);
  const parsed = parseTestFile(text, 'shop.test.json');
  expect(parsed.diagnostics).toEqual([]);
  const policy = compiled(options.policy);
  const diagnostics = lintTestFile(parsed.tests!, parsed.document!, {
    policy,
    policyFile: 'policies/shop/policy.json',
    ...(options.catalog === false ? {} : { catalog, catalogFile: 'policies/shop/catalog.json' }),
  });
  const lines = text.split('\n');
  /** The text of the line a diagnostic points at, from its column. */
  const at = (d: Diagnostic): string => lines[d.line - 1]!.slice(d.column - 1);
  return { diagnostics, at, run: () => runTestFile(parsed.tests!, parsed.document!, policy) };
}

describe('lintTestFile', () => {
  it('reports nothing for cases the gateway decides as they expect, and those cases pass', () => {
    const r = lint([
      { name: 'stock', call: { tool: 'get_stock', args: { sku: 'a' } }, expect: 'allow' },
      { name: 'small order', call: order({ amount: 10, sku: 'a' }), expect: { effect: 'allow', rule: null } },
      { name: 'big order', call: order({ amount: 101, sku: 'a' }), expect: { effect: 'deny', rule: 'too-big', code: 'policy.denied' } },
      { name: 'held', call: order({ amount: 60, sku: 'a' }), expect: { effect: 'approval_required', rule: 'tools.place_order.approve_if[0]', code: 'approval.required' } },
      { name: 'refused', call: order({ amount: 60, sku: 'a' }), approval: 'denied', expect: { effect: 'deny', rule: 'tools.place_order.approve_if[0]', code: 'approval.denied' } },
      { name: 'bad amount is refused', call: order({ amount: '10', sku: 'a' }), expect: { effect: 'deny', rule: 'input_schema', code: 'invalid_arguments' } },
      { name: 'by code alone', call: order({ sku: 'a' }), expect: { effect: 'deny', code: 'invalid_arguments' } },
      { name: 'hidden', call: { tool: 'wipe_shop' }, expect: { effect: 'hidden', rule: 'hide', code: 'tool.hidden' } },
      { name: 'a tool the server may add', call: { tool: 'close_shop' }, expect: { effect: 'deny', rule: 'default' } },
      { name: 'refunds in shadow', call: { tool: 'refund', args: { order: '1' } }, expect: { effect: 'deny', rule: 'default', shadow: { effect: 'deny', rule: 'tools.refund.deny_if[0]' } } },
      {
        name: 'six orders a minute',
        sequence: [
          { call: order({ amount: 1, sku: 'a' }), repeat: 5, expect: 'allow' },
          { call: order({ amount: 1, sku: 'a' }), expect: { effect: 'deny', rule: 'tools.place_order.rate_limit', code: 'rate_limited' } },
        ],
      },
    ]);
    expect(r.diagnostics).toEqual([]);
    const ran = r.run();
    expect(ran.cases.filter((c) => !c.passed)).toEqual([]);
  });

  it('TG301: a tool the catalog does not have, with "did you mean" at the tool name', () => {
    const r = lint([
      { name: 'typo', call: { tool: 'get_stok', args: { sku: 'a' } }, expect: 'allow' },
      { name: 'typo that passes', call: { tool: 'place_ordr', args: { amount: 101, sku: 'a' } }, expect: 'deny' },
      { name: 'far off', call: { tool: 'transfer_funds' }, expect: 'deny' },
    ]);
    expect(r.diagnostics.map((d) => [d.code, d.severity, d.pointer, r.at(d)])).toEqual([
      ['TG301', 'error', '/cases/0/call/tool', '"get_stok",'],
      ['TG301', 'error', '/cases/1/call/tool', '"place_ordr",'],
      ['TG301', 'error', '/cases/2/call/tool', '"transfer_funds"'],
    ]);
    expect(r.diagnostics[0]!.message).toBe(
      'case "typo" calls "get_stok", which is not in policies/shop/catalog.json: the gateway answers such a call as an unknown tool, so the policy never decides it',
    );
    expect(r.diagnostics[0]!.hint).toMatch(/^did you mean "get_stock"\?/);
    expect(r.diagnostics[1]!.hint).toMatch(/^did you mean "place_order"\?/);
    expect(r.diagnostics[2]!.hint).toBe('to test what the policy decides for a tool the server may add later, expect its rule: { "effect": "deny", "rule": "default" }');
    // The typo'd deny passes in `tollgate test`: that is what makes it dangerous.
    expect(r.run().cases[1]!.passed).toBe(true);
  });

  it('TG301 suggests the hide rule under hide "*"', () => {
    const r = lint([{ name: 'far off', call: { tool: 'transfer_funds' }, expect: 'hidden' }], { policy: { ...POLICY, hide: ['*'] } });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['TG301']);
    expect(r.diagnostics[0]!.hint).toContain('{ "effect": "hidden", "rule": "hide" }');
  });

  it('TG302: invalid arguments while the case expects another decision, at the argument, saying why', () => {
    const r = lint([
      { name: 'string amount', call: order({ amount: '10', sku: 'a' }), expect: 'allow' },
      { name: 'silent pass', call: order({ amount: 101, sku: 'a', note: 'x' }), expect: 'deny' },
      { name: 'wrong rule', call: order({ amount: 101 }), expect: { effect: 'deny', rule: 'too-big' } },
      { name: 'no args', call: { tool: 'place_order' }, expect: { effect: 'deny', code: 'policy.denied' } },
    ]);
    expect(r.diagnostics.map((d) => [d.code, d.pointer, r.at(d)])).toEqual([
      ['TG302', '/cases/0/call/args/amount', '"10",'],
      ['TG302', '/cases/1/call/args/note', '"note": "x"'],
      ['TG302', '/cases/2/call/args', '{'],
      ['TG302', '/cases/3/call', '{'],
      ['TG302', '/cases/3/call', '{'],
    ]);
    const [amount, note, rule, none] = r.diagnostics;
    expect(amount!.message).toBe(
      'case "string amount": args.amount must be number, so the gateway refuses the call as invalid_arguments (rule input_schema) before any rule of the policy: the case expects "allow" and can never pass',
    );
    expect(amount!.hint).toBe('make the arguments fit the input schema of "place_order" in policies/shop/catalog.json, or, to test the check itself, expect { "effect": "deny", "rule": "input_schema" }');
    expect(note!.message).toMatch(/: args\.note is not an argument of this tool, .*: the case passes without reaching any rule of the policy$/);
    expect(rule!.message).toMatch(/: args\.sku is required, .*: the case expects rule "too-big" and can never pass$/);
    expect(none!.message).toMatch(/: args\.amount is required, .*: the case expects code policy\.denied and can never pass$/);
    // What lint says can never pass does not pass; the silent one does.
    expect(r.run().cases.map((c) => c.passed)).toEqual([false, true, false, false]);
  });

  it('TG302: a non-finite number, and arguments of a hidden tool are never checked', () => {
    const text = '{ "cases": [ { "name": "huge", "call": { "tool": "place_order", "args": { "amount": 1e999, "sku": "a" } }, "expect": "allow" },\n { "name": "hidden", "call": { "tool": "wipe_shop", "args": { "x": 1e999 } }, "expect": "hidden" } ] }';
    const parsed = parseTestFile(text, 'shop.test.json');
    const diagnostics = lintTestFile(parsed.tests!, parsed.document!, { policy: compiled(), catalog });
    expect(diagnostics.map((d) => [d.code, d.pointer, d.line, d.column])).toEqual([['TG302', '/cases/0/call/args/amount', 1, text.indexOf('1e999') + 1]]);
    expect(diagnostics[0]!.message).toContain('args.amount is not a finite number');
  });

  it('TG303: input_schema expected where the arguments fit, or the tool is hidden, or with another effect', () => {
    const r = lint([
      { name: 'valid', call: order({ amount: 1, sku: 'a' }), expect: { effect: 'deny', rule: 'input_schema' } },
      { name: 'hidden', call: { tool: 'wipe_shop', args: { x: 1 } }, expect: { effect: 'deny', code: 'invalid_arguments' } },
      { name: 'allow by input_schema', call: order({ amount: 'x', sku: 'a' }), expect: { effect: 'allow', rule: 'input_schema' } },
      { name: 'shadow of a refusal', call: { tool: 'refund' }, expect: { effect: 'deny', rule: 'input_schema', shadow: 'deny' } },
    ]);
    expect(r.diagnostics.map((d) => [d.code, d.pointer])).toEqual([
      ['TG303', '/cases/0/expect/rule'],
      ['TG303', '/cases/1/expect/code'],
      ['TG303', '/cases/2/expect/effect'],
      ['TG303', '/cases/3/expect/shadow'],
    ]);
    expect(r.diagnostics[0]!.message).toBe(
      'case "valid" expects the arguments to be refused (input_schema), but they fit the input schema of "place_order" in policies/shop/catalog.json, so the gateway passes them on to the policy\'s rules',
    );
    expect(r.diagnostics[1]!.message).toMatch(/"wipe_shop" is hidden: a hidden tool is answered as unknown before its arguments are looked at$/);
    expect(r.run().cases.map((c) => c.passed)).toEqual([false, false, false, false]);
  });

  it('TG303: effects, rules and codes that never go together', () => {
    const r = lint(
      [
        { name: 'allow with a code', call: order({ amount: 1, sku: 'a' }), expect: { effect: 'allow', code: 'policy.denied' } },
        { name: 'deny by a plain allow', call: order({ amount: 1, sku: 'a' }), expect: { effect: 'deny', rule: null } },
        { name: 'another tool', call: { tool: 'get_stock' }, expect: { effect: 'deny', rule: 'too-big' } },
        { name: 'allowed by a deny_if', call: order({ amount: 1, sku: 'a' }), expect: { effect: 'allow', rule: 'too-big' } },
        { name: 'rate limited by a deny_if', call: order({ amount: 101, sku: 'a' }), expect: { effect: 'deny', rule: 'too-big', code: 'rate_limited' } },
        { name: 'shadow rule as the enforced one', call: { tool: 'refund', args: { order: '1' } }, expect: { effect: 'deny', rule: 'tools.refund.deny_if[0]' } },
        { name: 'nothing in shadow', call: { tool: 'get_stock' }, expect: { effect: 'allow', shadow: 'deny' } },
        { name: 'default under hide *', call: { tool: 'get_stock' }, expect: { effect: 'deny', rule: 'default' } },
      ],
      { policy: { ...POLICY, hide: ['wipe_shop', '*'] } },
    );
    expect(r.diagnostics.map((d) => [d.code, d.pointer])).toEqual([
      ['TG303', '/cases/0/expect/code'],
      ['TG303', '/cases/1/expect/rule'],
      ['TG303', '/cases/2/expect/rule'],
      ['TG303', '/cases/3/expect/effect'],
      ['TG303', '/cases/4/expect/code'],
      ['TG303', '/cases/5/expect/rule'],
      ['TG303', '/cases/6/expect/shadow'],
      ['TG303', '/cases/7/expect/effect'],
    ]);
    const messages = r.diagnostics.map((d) => d.message);
    expect(messages[0]).toBe('case "allow with a code" expects "allow" with code policy.denied, which never go together: an allow carries no code');
    expect(messages[2]).toBe(
      'case "another tool" calls "get_stock" but expects rule "too-big", a rule of "place_order": a call is only ever decided by its own tool\'s rules, hide, default, all_tools limits or input_schema',
    );
    expect(messages[3]).toBe('case "allowed by a deny_if" expects "allow" by rule "too-big", a deny_if rule: it only ever decides "deny"');
    expect(messages[5]).toMatch(/it is in shadow mode: it decides only the would-be decision \(expect "shadow"\), never the enforced one$/);
    expect(messages[7]).toBe('case "default under hide *" expects "deny" by rule "default", the default: it never decides a call (hide "*" hides every tool not listed first)');
    // None of them can pass.
    expect(r.run().cases.every((c) => !c.passed)).toBe(true);
  });

  it('TG304: a rule id the policy does not have, with the rule\'s own id or a close one', () => {
    const r = lint([
      { name: 'positional id of a named rule', call: order({ amount: 101, sku: 'a' }), expect: { effect: 'deny', rule: 'tools.place_order.deny_if[0]' } },
      { name: 'typo', call: order({ amount: 101, sku: 'a' }), expect: { effect: 'deny', rule: 'too-bigg' } },
      { name: 'shadow typo', call: { tool: 'refund', args: { order: '1' } }, expect: { effect: 'deny', shadow: { effect: 'deny', rule: 'tools.refund.deny_if[1]' } } },
      {
        name: 'in a sequence',
        sequence: [
          { call: order({ amount: 1, sku: 'a' }), expect: 'allow' },
          { call: order({ amount: 1, sku: 'a' }), expect: { effect: 'deny', rule: 'rate_limit' } },
        ],
      },
    ]);
    expect(r.diagnostics.map((d) => [d.code, d.pointer, d.hint])).toEqual([
      ['TG304', '/cases/0/expect/rule', 'that rule has its own id "too-big", which is what decisions report: expect "rule": "too-big"'],
      ['TG304', '/cases/1/expect/rule', 'did you mean "too-big"?'],
      ['TG304', '/cases/2/expect/shadow', 'did you mean "tools.refund.deny_if[0]"?'],
      ['TG304', '/cases/3/sequence/1/expect/rule', 'the rules of "place_order" are: too-big, tools.place_order.approve_if[0], tools.place_order.rate_limit'],
    ]);
    expect(r.diagnostics[0]!.message).toBe('case "positional id of a named rule" expects rule "tools.place_order.deny_if[0]", which policies/shop/policy.json does not have, so no decision can name it');
    expect(r.run().cases.every((c) => !c.passed)).toBe(true);
  });

  it('without a catalog checks only what the policy says', () => {
    const r = lint(
      [
        { name: 'typo', call: { tool: 'get_stok' }, expect: 'deny' },
        { name: 'string amount', call: order({ amount: '10', sku: 'a' }), expect: 'allow' },
        { name: 'unknown rule', call: order({ amount: 1, sku: 'a' }), expect: { effect: 'deny', rule: 'nope' } },
      ],
      { catalog: false },
    );
    expect(r.diagnostics.map((d) => d.code)).toEqual(['TG304']);
  });

  it('caps the findings with a TG208 note', () => {
    const cases = Array.from({ length: 30 }, (_, i) => ({ name: `c${i}`, call: { tool: 'get_stok' }, expect: 'deny' }));
    const parsed = parseTestFile(JSON.stringify({ cases }), 'many.test.json');
    const diagnostics = lintTestFile(parsed.tests!, parsed.document!, { policy: compiled(), catalog, maxDiagnostics: 10 });
    expect(diagnostics).toHaveLength(11);
    expect(diagnostics.at(-1)).toMatchObject({ code: 'TG208', severity: 'info', message: '20 more findings not shown (at most 10 are reported)' });
  });
});
