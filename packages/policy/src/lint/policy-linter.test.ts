import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type Catalog } from '../catalog/catalog.js';
import { DIAGNOSTIC_CODES, formatDiagnostic, type Diagnostic } from '../diagnostic.js';
import { lintPolicy, type LintOptions } from './policy-linter.js';

const bankCatalogText = JSON.stringify({
  server: 'bank',
  tools: [
    {
      name: 'transfer_funds',
      inputSchema: {
        type: 'object',
        properties: {
          amount: { type: 'number' },
          count: { type: 'integer' },
          currency: { type: 'string', enum: ['USD', 'EUR'] },
          memo: { type: 'string' },
          to: { $ref: '#/$defs/Account' },
          tags: { type: 'array', items: { type: 'string' } },
          urgent: { type: 'boolean' },
          meta: { type: 'object' },
        },
        required: ['amount', 'currency', 'to'],
        additionalProperties: false,
        $defs: { Account: { type: 'object', properties: { iban: { type: 'string' }, name: { type: 'string' } }, required: ['iban'] } },
      },
    },
    { name: 'get_balance', inputSchema: { type: 'object', properties: { account: { type: 'string' } } }, annotations: { readOnlyHint: true } },
    { name: 'close_account', inputSchema: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] }, annotations: { destructiveHint: true } },
    { name: 'pay_invoice', inputSchema: { type: 'object', properties: { invoice_id: { type: 'string' }, amount: { type: 'number' } }, required: ['invoice_id'] } },
    { name: 'sync_ledger', inputSchema: { type: 'object' }, risk: { level: 'critical', category: 'financial' } },
  ],
});
const bank: Catalog = parseCatalog(bankCatalogText, 'bank/catalog.json').catalog!;

const SEED = `{
  "version": "1",
  "default": "deny",
  "tools": {
    "cancel_order": {
      "deny_if": [ { "conditions": [], "on_deny": "Requires human approval." } ]
    }
  }
}`;

/** A policy document as pretty JSON text: positions in it are found with {@link at}. */
function policy(tools: Record<string, unknown>, top: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: '1', default: 'deny', ...top, tools }, null, 2);
}

/** Line and column (1-based) of the nth occurrence of `needle` in `text`. */
function at(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i <= nth; i++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`"${needle}" (#${nth}) is not in the text`);
  }
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function lint(text: string, options: LintOptions = {}, file = 'bank/policy.json'): Diagnostic[] {
  return lintPolicy(text, file, { checkRegexSafety: false, catalog: bank, ...options }).diagnostics;
}

/** The findings of one code, as code + position + severity (what most tests assert). */
function found(diagnostics: readonly Diagnostic[], code: string): { code: string; line: number; column: number; severity: string }[] {
  return diagnostics.filter((d) => d.code === code).map((d) => ({ code: d.code, line: d.line, column: d.column, severity: d.severity }));
}

function finding(code: string, where: { line: number; column: number }, severity = DIAGNOSTIC_CODES[code as keyof typeof DIAGNOSTIC_CODES].severity as string) {
  return { code, ...where, severity };
}

describe('clean policies', () => {
  it('the DESIGN §2 seed policy lints clean except TG205 when there is no catalog', () => {
    const { diagnostics, failedAt } = lintPolicy(SEED, 'policies/ccxt/policy.json');
    expect(failedAt).toBeUndefined();
    expect(diagnostics).toEqual([
      {
        code: 'TG205',
        severity: 'info',
        file: 'policies/ccxt/policy.json',
        line: 1,
        column: 1,
        message: 'no catalog given: tool names, argument names and types, optional arguments and catalog risk classes were not checked',
        pointer: '',
        hint: "put the server's catalog.json beside the policy; `tollgate catalog pull <server>` writes it",
      },
    ]);
  });

  it('the seed policy lints clean against the CCXT catalog', () => {
    const catalogFile = 'policies/ccxt/catalog.json';
    const { catalog } = parseCatalog(readFileSync(new URL(`../../../../${catalogFile}`, import.meta.url), 'utf8'), catalogFile);
    expect(lintPolicy(SEED, 'policies/ccxt/policy.json', { catalog }).diagnostics).toEqual([]);
  });

  it('the example policies in policies/ lint clean against their catalogs, regex safety included', () => {
    for (const server of ['ccxt', 'everything']) {
      const read = (f: string): string => readFileSync(new URL(`../../../../policies/${server}/${f}`, import.meta.url), 'utf8');
      const { catalog, diagnostics: catalogDiagnostics } = parseCatalog(read('catalog.json'), `policies/${server}/catalog.json`);
      expect(catalogDiagnostics).toEqual([]);
      const result = lintPolicy(read('policy.json'), `policies/${server}/policy.json`, { catalog });
      expect(result.diagnostics.map(formatDiagnostic), server).toEqual([]);
    }
  });

  it('a guarded policy using every feature gives no findings', () => {
    const text = policy(
      {
        transfer_funds: {
          require: [
            { path: 'args.currency', op: 'in', value: ['USD', 'EUR'] },
            { path: 'args.to.iban', op: 'regex', value: '^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$' },
            { path: 'args.memo', op: 'exists' },
            { path: 'agent.labels.team', op: 'eq', value: 'treasury', on_deny: 'Treasury only.' },
          ],
          deny_if: [
            { id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 10000 }], on_deny: 'Too big.' },
            { conditions: [{ path: 'args.memo', op: 'contains', value: 'secret' }] },
          ],
          approve_if: [{ conditions: [{ path: 'args.amount', op: 'gte', value: 1000 }], approvers: ['finance'], timeout: '15m' }],
          limits: [{ counter: 'spend', max: 50000, window: 'day', increment_from: 'args.amount' }],
        },
        get_balance: { rate_limit: { max: 10, window: 'minute' } },
        close_account: { action: 'approve', reason: 'A person closes accounts.' },
        pay_invoice: { action: 'deny', reason: 'Not yet.' },
      },
      { hide: ['sync_ledger'] },
    );
    expect(lintPolicy(text, 'p.json', { catalog: bank }).diagnostics.map(formatDiagnostic)).toEqual([]);
  });
});

describe('pipeline stages', () => {
  it('stops at parse errors with failedAt "parse"', () => {
    const r = lintPolicy('{ "version": "1", ', 'p.json');
    expect(r.failedAt).toBe('parse');
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics.every((d) => d.code === 'TG001')).toBe(true);
  });

  it('stops at schema errors with failedAt "schema"', () => {
    const r = lintPolicy('version: "1"\ndefault: maybe\n', 'p.yaml');
    expect(r.failedAt).toBe('schema');
    expect(r.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([['TG010', 2, 10]]);
  });

  it('keeps compile diagnostics (TG100, TG102, TG103) and still runs the semantic checks', () => {
    const text = policy({
      transfer_funds: {
        require: [{ path: 'args.memo', op: 'regex', value: '(' }],
        deny_if: [
          { id: 'dup', conditions: [{ path: 'args.amount', op: 'gt', value: 5 }] },
          { id: 'dup', conditions: [{ path: 'args.amount', op: 'gt', value: 6 }] },
        ],
        limits: [{ counter: 'c', max: 0, window: 'day' }],
      },
      nope: {},
    });
    const diagnostics = lint(text, { checkRegexSafety: true });
    expect(found(diagnostics, 'TG100')).toEqual([finding('TG100', at(text, '"("'))]);
    expect(found(diagnostics, 'TG103')).toEqual([finding('TG103', at(text, '"dup"', 1))]);
    expect(found(diagnostics, 'TG102')).toEqual([finding('TG102', at(text, '0,'))]);
    expect(found(diagnostics, 'TG200')).toEqual([finding('TG200', at(text, '"nope"'))]);
    // An invalid pattern is not sent to the ReDoS analyser.
    expect(found(diagnostics, 'TG101')).toEqual([]);
  });

  it('sorts diagnostics by position and caps them, saying how many were left out', () => {
    const tools: Record<string, unknown> = {};
    for (let i = 0; i < 30; i++) tools[`unknown_${i}`] = {};
    const text = policy(tools);
    const all = lint(text);
    expect(all.filter((d) => d.code === 'TG200')).toHaveLength(30);
    const lines = all.map((d) => d.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    const capped = lint(text, { maxDiagnostics: 5 });
    expect(capped).toHaveLength(6);
    expect(capped[5]).toMatchObject({ code: 'TG208', severity: 'info', message: '25 more findings not shown (at most 5 are reported)' });
  });

  it('stops collecting at a ceiling on pathological policies, and says so', () => {
    const tools: Record<string, unknown> = {};
    for (let i = 0; i < 2100; i++) tools[`unknown_${i}`] = {};
    const capped = lint(policy(tools), { maxDiagnostics: 10 });
    expect(capped).toHaveLength(11);
    expect(capped[10]!.message).toBe('more than 1990 more findings not shown (at most 10 are reported)');
  });
});

describe('TG101 regex safety', () => {
  it('reports a pattern open to catastrophic backtracking, with the attack string and complexity', () => {
    const text = policy({ transfer_funds: { require: [{ path: 'args.memo', op: 'regex', value: '^(a+)+$' }] } });
    const diagnostics = lint(text, { checkRegexSafety: true });
    expect(found(diagnostics, 'TG101')).toEqual([finding('TG101', at(text, '"^(a+)+$"'), 'error')]);
    const d = diagnostics.find((x) => x.code === 'TG101')!;
    expect(d.message).toContain('exponential');
    expect(d.message).toContain("'a'.repeat(");
    expect(d.hint).toContain('nested or overlapping quantifiers');
  });

  it('reports polynomial backtracking in deny_if and approve_if too, in YAML', () => {
    const text = [
      'version: "1"',
      'default: deny',
      'tools:',
      '  transfer_funds:',
      '    require:',
      '      - { path: args.memo, op: exists }',
      '    deny_if:',
      '      - conditions:',
      '          - path: args.memo',
      '            op: regex',
      '            value: "^\\\\s*a*\\\\s*$"',
      '    approve_if:',
      '      - conditions:',
      '          - { path: args.to.name, op: regex, value: "(x+x+)+y", flags: i }',
      '',
    ].join('\n');
    const diagnostics = lint(text, { checkRegexSafety: true }, 'bank/policy.yaml');
    expect(found(diagnostics, 'TG101')).toEqual([finding('TG101', at(text, '"^\\\\s*a*')), finding('TG101', at(text, '"(x+x+)+y"'))]);
    expect(diagnostics.find((d) => d.code === 'TG101')!.message).toContain('polynomial');
  });

  it('warns when the analysis cannot finish in time', () => {
    const text = policy({ transfer_funds: { require: [{ path: 'args.memo', op: 'regex', value: '^(a|b|ab)*c$' }] } });
    const diagnostics = lint(text, { checkRegexSafety: true, regexTimeoutMs: 0 });
    expect(found(diagnostics, 'TG101')).toEqual([finding('TG101', at(text, '"^(a|b|ab)*c$"'), 'warning')]);
    expect(diagnostics.find((d) => d.code === 'TG101')!.message).toContain('timed out');
  });

  it('is silent for safe patterns and when switched off', () => {
    const text = policy({ transfer_funds: { require: [{ path: 'args.to.iban', op: 'regex', value: '^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$' }] } });
    expect(found(lint(text, { checkRegexSafety: true }), 'TG101')).toEqual([]);
    const vulnerable = policy({ transfer_funds: { require: [{ path: 'args.memo', op: 'regex', value: '(a|a)*b' }] } });
    expect(found(lint(vulnerable, { checkRegexSafety: false }), 'TG101')).toEqual([]);
  });
});

describe('TG104 unreachable rules and unused fields', () => {
  it('a tool both in hide and in tools', () => {
    const text = policy({ close_account: { reason: 'unused too', require: [{ path: 'args.account', op: 'exists' }] } }, { hide: ['close_account'] });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG104')).toEqual([finding('TG104', at(text, '"close_account": {'))]);
    expect(diagnostics[0]!.message).toContain('is in hide');
  });

  it('rules under action deny or hide', () => {
    const text = policy({
      get_balance: { action: 'deny', reason: 'No.', require: [{ path: 'args.account', op: 'exists' }], rate_limit: { max: 1, window: 60 } },
      close_account: { action: 'hide', deny_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }], limits: [{ counter: 'c', max: 1, window: 'day' }] },
    });
    expect(found(lint(text), 'TG104')).toEqual([
      finding('TG104', at(text, '"require"')),
      finding('TG104', at(text, '"rate_limit"')),
      finding('TG104', at(text, '"deny_if"')),
      finding('TG104', at(text, '"limits"')),
    ]);
  });

  it('require, deny_if and approve_if under action allow (limits still apply)', () => {
    const text = policy({
      get_balance: {
        action: 'allow',
        require: [{ path: 'args.account', op: 'exists' }],
        deny_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }],
        approve_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'y' }] }],
        rate_limit: { max: 5, window: 'minute' },
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG104')).toEqual([finding('TG104', at(text, '"require"')), finding('TG104', at(text, '"deny_if"')), finding('TG104', at(text, '"approve_if"'))]);
    expect(diagnostics[0]!.message).toBe('tools.get_balance.require never runs: action "allow" skips require, deny_if and approve_if (only limits apply)');
  });

  it('approve_if under action approve', () => {
    const text = policy({ close_account: { action: 'approve', approve_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }] } });
    expect(found(lint(text), 'TG104')).toEqual([finding('TG104', at(text, '"approve_if"'))]);
  });

  it('everything after a deny_if rule with no conditions', () => {
    const text = policy({
      close_account: {
        deny_if: [{ conditions: [] }, { id: 'later', conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }],
        approve_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'y' }] }],
        rate_limit: { max: 1, window: 'hour' },
      },
      get_balance: { action: 'approve', deny_if: [{ conditions: [] }] },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG104')).toEqual([
      finding('TG104', at(text, '{\n          "id": "later"')),
      finding('TG104', at(text, '"approve_if"')),
      finding('TG104', at(text, '"rate_limit"')),
      finding('TG104', at(text, '"approve"', 0)),
    ]);
    expect(diagnostics.map((d) => d.message)).toContain('tools.close_account.deny_if[1] never runs: tools.close_account.deny_if[0] has no conditions and denies every call first');
  });

  it('approve_if rules after one with no conditions', () => {
    const text = policy({
      close_account: { approve_if: [{ conditions: [] }, { id: 'second', conditions: [{ path: 'args.account', op: 'eq', value: 'y' }] }] },
    });
    expect(found(lint(text), 'TG104')).toEqual([finding('TG104', at(text, '{\n          "id": "second"'))]);
  });

  it('reason on a tool whose action is not deny or approve, and on_deny inside deny_if/approve_if', () => {
    const text = policy({
      get_balance: { reason: 'unused', rate_limit: { max: 1, window: 1 } },
      close_account: {
        deny_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x', on_deny: 'never shown' }] }],
        approve_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'y', on_deny: 'never shown either' }] }],
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG104')).toEqual([
      finding('TG104', at(text, '"reason"')),
      finding('TG104', at(text, '"on_deny"', 0)),
      finding('TG104', at(text, '"on_deny"', 1)),
    ]);
    expect(diagnostics.find((d) => d.code === 'TG104')!.severity).toBe('warning');
  });

  it('default "allow" under hide "*"', () => {
    const text = policy({ get_balance: {} }, { default: 'allow', hide: ['*'] });
    expect(found(lint(text), 'TG104')).toEqual([finding('TG104', at(text, '"allow"'))]);
    expect(found(lint(policy({ get_balance: {} }, { hide: ['*'] })), 'TG104')).toEqual([]);
  });

  it('approvers, timeout and min_approvals on a tool rule without action approve', () => {
    const text = policy({
      close_account: { approvers: ['ops'], timeout: '5m', min_approvals: 2, approve_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }] },
      get_balance: { action: 'allow', min_approvals: 2 },
      pay_invoice: { action: 'approve', approvers: ['finance'], timeout: '1h', min_approvals: 2 },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG104')).toEqual([
      finding('TG104', at(text, '"approvers"', 0)),
      finding('TG104', at(text, '"timeout"', 0)),
      finding('TG104', at(text, '"min_approvals"', 0)),
      finding('TG104', at(text, '"min_approvals"', 1)),
    ]);
    const messages = diagnostics.filter((d) => d.code === 'TG104');
    expect(messages[2]).toMatchObject({
      message: 'tools.close_account.min_approvals is never used: on a tool rule, approvers, timeout and min_approvals only go with action "approve" (this tool has no action)',
      hint: 'move it to the approve_if rule it is meant for, e.g. tools.close_account.approve_if[0].min_approvals',
    });
    expect(messages[3]).toMatchObject({
      message: 'tools.get_balance.min_approvals is never used: on a tool rule, approvers, timeout and min_approvals only go with action "approve" (this tool\'s action is "allow")',
      hint: 'add action "approve" to hold every call for approval, or remove min_approvals',
    });
  });

  it('points at keys in YAML', () => {
    const text = 'version: "1"\ndefault: deny\nhide: [get_balance]\ntools:\n  get_balance: {}\n  close_account:\n    action: deny\n    reason: No.\n    require:\n      - { path: args.account, op: exists }\n';
    expect(found(lint(text, {}, 'p.yaml'), 'TG104')).toEqual([finding('TG104', { line: 5, column: 3 }), finding('TG104', { line: 9, column: 5 })]);
  });
});

describe('TG113 approvals no one can give', () => {
  it('an empty approvers list, and more than one approval from the agent\'s user alone', () => {
    const text = policy({
      close_account: { action: 'approve', approvers: ['user'], min_approvals: 2 },
      pay_invoice: {
        approve_if: [
          { id: 'nobody', conditions: [{ path: 'args.amount', op: 'gt', value: 10 }], approvers: [] },
          { id: 'user-twice', conditions: [{ path: 'args.amount', op: 'gt', value: 5 }], approvers: ['user'], min_approvals: 3 },
        ],
      },
    });
    const diagnostics = lint(text);
    // At the value of min_approvals, and of the empty list.
    const value = (needle: string, key: string): { line: number; column: number } => {
      const p = at(text, needle);
      return { line: p.line, column: p.column + key.length };
    };
    expect(found(diagnostics, 'TG113')).toEqual([
      finding('TG113', value('"min_approvals": 2', '"min_approvals": ')),
      finding('TG113', value('"approvers": []', '"approvers": ')),
      finding('TG113', value('"min_approvals": 3', '"min_approvals": ')),
    ]);
    const byRule = diagnostics.filter((d) => d.code === 'TG113').map((d) => d.message);
    expect(byRule).toEqual([
      'action "approve" of "close_account" can never be approved: it needs 2 distinct approvers, but "approvers" is ["user"], the agent\'s own user, who is one person',
      'tools.pay_invoice.approve_if[0] can never be approved: "approvers" is empty, so no one may decide its requests and every call to "pay_invoice" it holds expires',
      'tools.pay_invoice.approve_if[1] can never be approved: it needs 3 distinct approvers, but "approvers" is ["user"], the agent\'s own user, who is one person',
    ]);
  });

  it('is silent where the policy alone cannot tell: groups may have many members', () => {
    const text = policy({
      close_account: { action: 'approve', approvers: ['risk-desk'], min_approvals: 2 },
      pay_invoice: {
        approve_if: [
          { conditions: [{ path: 'args.amount', op: 'gt', value: 10 }], approvers: ['user', 'finance'], min_approvals: 2 },
          { conditions: [{ path: 'args.amount', op: 'gt', value: 5 }], approvers: ['user'] },
          { conditions: [{ path: 'args.amount', op: 'gt', value: 1 }], min_approvals: 4 },
        ],
      },
    });
    expect(found(lint(text), 'TG113')).toEqual([]);
    expect(found(lint(text), 'TG104')).toEqual([]);
  });
});

describe('TG105 shadowed rules', () => {
  it('a later deny_if rule whose conditions include an earlier one\'s', () => {
    const text = policy({
      transfer_funds: {
        deny_if: [
          { id: 'big', conditions: [{ path: 'args.amount', op: 'gt', value: 1000, on_deny: 'x' }] },
          { id: 'big-usd', conditions: [{ path: 'args.currency', op: 'eq', value: 'USD' }, { path: 'args.amount', op: 'gt', value: 1000 }], on_deny: 'never first' },
          { id: 'bigger', conditions: [{ path: 'args.amount', op: 'gt', value: 5000 }] },
        ],
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG105')).toEqual([finding('TG105', at(text, '{\n          "id": "big-usd"'))]);
    expect(diagnostics.find((d) => d.code === 'TG105')!.message).toBe(
      'tools.transfer_funds.deny_if[1] never decides: every call it matches is denied first by deny_if[0], whose conditions it includes',
    );
  });

  it('an approve_if rule shadowed by a deny_if rule or an earlier approve_if rule', () => {
    const text = policy({
      transfer_funds: {
        deny_if: [{ id: 'eur', conditions: [{ path: 'args.currency', op: 'eq', value: 'EUR' }] }],
        approve_if: [
          { id: 'eur-big', conditions: [{ path: 'args.currency', op: 'eq', value: 'EUR' }, { path: 'args.amount', op: 'gt', value: 1 }] },
          { id: 'usd', conditions: [{ path: 'args.currency', op: 'eq', value: 'USD' }] },
          { id: 'usd-again', conditions: [{ path: 'args.currency', op: 'eq', value: 'USD' }] },
        ],
      },
    });
    expect(found(lint(text), 'TG105')).toEqual([finding('TG105', at(text, '{\n          "id": "eur-big"')), finding('TG105', at(text, '{\n          "id": "usd-again"'))]);
  });

  it('does not report rules that differ in value, flags or operator', () => {
    const text = policy({
      transfer_funds: {
        deny_if: [
          { conditions: [{ path: 'args.memo', op: 'regex', value: 'x' }] },
          { conditions: [{ path: 'args.memo', op: 'regex', value: 'x', flags: 'i' }] },
          { conditions: [{ path: 'args.amount', op: 'gt', value: 1 }] },
          { conditions: [{ path: 'args.amount', op: 'gte', value: 1 }] },
        ],
      },
    });
    expect(found(lint(text), 'TG105')).toEqual([]);
  });
});

describe('TG106 empty lists', () => {
  it('in [] and not_in [] never hold', () => {
    const text = policy({
      transfer_funds: {
        require: [{ path: 'args.currency', op: 'in', value: [] }],
        deny_if: [{ conditions: [{ path: 'args.currency', op: 'not_in', value: [] }] }],
      },
    });
    expect(found(lint(text), 'TG106')).toEqual([finding('TG106', at(text, '[]', 0)), finding('TG106', at(text, '[]', 1))]);
  });
});

describe('TG200 unknown tools', () => {
  it('names in tools and hide that the catalog lacks, with a suggestion; "*" is fine', () => {
    const text = policy({ transfer_fund: {}, get_balance: {} }, { hide: ['*', 'close_acount', 'totally_else'] });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG200')).toEqual([finding('TG200', at(text, '"close_acount"')), finding('TG200', at(text, '"totally_else"')), finding('TG200', at(text, '"transfer_fund"'))]);
    const d = diagnostics.find((x) => x.message.includes('transfer_fund"'))!;
    expect(d.message).toBe('tool "transfer_fund" in tools is not in bank/catalog.json');
    expect(d.hint).toBe('did you mean "transfer_funds"?');
    expect(diagnostics.find((x) => x.message.includes('totally_else'))!.hint).toContain('tollgate catalog pull');
  });

  it('names the catalog file given in the options', () => {
    const text = policy({ nope: {} });
    expect(lint(text, { catalogFile: 'elsewhere/catalog.json' })[0]!.message).toBe('tool "nope" in tools is not in elsewhere/catalog.json');
  });
});

describe('TG201 unknown arguments', () => {
  it('a top-level argument the tool does not have, nested properties, and paths into scalars', () => {
    const text = policy({
      transfer_funds: {
        require: [
          { path: 'args.ammount', op: 'exists' },
          { path: 'args.to.bic', op: 'exists' },
          { path: 'args.amount.cents', op: 'exists' },
          { path: 'args.memo[0]', op: 'exists' },
          { path: 'args.meta.anything.goes', op: 'exists' },
        ],
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG201')).toEqual([
      finding('TG201', at(text, '"args.ammount"')),
      finding('TG201', at(text, '"args.to.bic"')),
      finding('TG201', at(text, '"args.amount.cents"')),
      finding('TG201', at(text, '"args.memo[0]"')),
    ]);
    const messages = diagnostics.filter((d) => d.code === 'TG201').map((d) => [d.message, d.hint]);
    expect(messages).toEqual([
      ['tool "transfer_funds" has no argument "ammount" in bank/catalog.json', 'did you mean "amount"?'],
      ['args.to.bic: args.to has no property "bic" in the input schema of "transfer_funds"', 'its properties are: iban, name'],
      ['args.amount.cents: args.amount is a number, not an object, so it has no "cents"', undefined],
      ['args.memo[0]: args.memo is a string, not an array, so it has no [0]', undefined],
    ]);
  });

  it('lists the arguments when nothing is close, and skips tools the catalog does not describe', () => {
    const text = policy({
      get_balance: { require: [{ path: 'args.zzz', op: 'exists' }] },
      sync_ledger: { require: [{ path: 'args.whatever', op: 'exists' }] },
      unknown_tool: { require: [{ path: 'args.whatever', op: 'exists' }] },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG201')).toEqual([finding('TG201', at(text, '"args.zzz"'))]);
    expect(diagnostics.find((d) => d.code === 'TG201')!.hint).toBe('its arguments are: account');
  });

  it('increment_from on an argument the tool lacks, and an all_tools spend limit', () => {
    const text = policy(
      { transfer_funds: { limits: [{ counter: 'spend', max: 10, window: 'day', increment_from: 'args.amout' }] }, get_balance: {} },
      { all_tools: { limits: [{ counter: 'all', max: 10, window: 'day', increment_from: 'args.amount' }] } },
    );
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG201')).toEqual([finding('TG201', at(text, '"args.amount"')), finding('TG201', at(text, '"args.amout"'))]);
    expect(diagnostics.find((d) => d.code === 'TG201')!.message).toBe(
      'increment_from args.amount: "get_balance" has no such argument, so this all_tools limit denies every call to it (fail closed)',
    );
  });
});

describe('TG202 operator/type mismatches', () => {
  const cases: [string, Record<string, unknown>, string, string, 'error' | 'warning'][] = [
    ['gt with a string on a number', { path: 'args.amount', op: 'gt', value: '100' }, '"100"', 'compares strings', 'error'],
    ['lt with a number on a string', { path: 'args.memo', op: 'lt', value: 5 }, '5\n', 'compares numbers', 'error'],
    ['gte on a boolean', { path: 'args.urgent', op: 'gte', value: 1 }, '1\n', 'compares numbers', 'error'],
    ['regex on a number', { path: 'args.amount', op: 'regex', value: '^1' }, '"regex"', 'matches strings only', 'error'],
    ['contains on a number', { path: 'args.amount', op: 'contains', value: 1 }, '"contains"', 'works on strings and arrays only', 'error'],
    ['contains a number in an array of strings', { path: 'args.tags', op: 'contains', value: 1 }, '1\n', 'can never contain 1', 'error'],
    ['contains a number in a string', { path: 'args.memo', op: 'contains', value: 1 }, '1\n', 'can never contain 1', 'error'],
    ['eq "5" on an integer', { path: 'args.count', op: 'eq', value: '5' }, '"5"', 'is a string (no type conversion)', 'error'],
    ['eq 1.5 on an integer', { path: 'args.count', op: 'eq', value: 1.5 }, '1.5', 'is a number (no type conversion)', 'error'],
    ['neq a number on a string', { path: 'args.memo', op: 'neq', value: 1 }, '1\n', '"neq" is false for every valid call', 'error'],
    ['eq outside the enum', { path: 'args.currency', op: 'eq', value: 'GBP' }, '"GBP"', 'is one of "USD", "EUR"', 'error'],
    ['in with no member of the type', { path: 'args.amount', op: 'in', value: ['1', '2'] }, '[', 'no member of the list is', 'error'],
    ['in with no member in the enum', { path: 'args.currency', op: 'in', value: ['GBP', 'JPY'] }, '[', 'no member of the list is', 'error'],
    ['in with one member of the wrong type', { path: 'args.amount', op: 'in', value: [1, '2'] }, '"2"', 'the member "2" is a string', 'warning'],
    ['in with one member outside the enum', { path: 'args.currency', op: 'in', value: ['USD', 'GBP'] }, '"GBP"', 'the member "GBP" can never match', 'warning'],
    ['gt with a number on agent.id', { path: 'agent.id', op: 'gt', value: 3 }, '3\n', 'agent.id is a string', 'error'],
    ['eq with a number on agent.labels', { path: 'agent.labels.tier', op: 'eq', value: 2 }, '2\n', 'agent.labels.tier is a string', 'error'],
  ];
  for (const [name, condition, needle, words, severity] of cases) {
    it(name, () => {
      const text = policy({ transfer_funds: { require: [condition] } });
      const diagnostics = lint(text);
      expect(found(diagnostics, 'TG202')).toEqual([finding('TG202', at(text, needle, needle === '[' ? 1 : 0), severity)]);
      expect(diagnostics.find((d) => d.code === 'TG202')!.message).toContain(words);
    });
  }

  it('accepts operands that fit, including integers for numbers and unions', () => {
    const text = policy({
      transfer_funds: {
        require: [
          { path: 'args.amount', op: 'gt', value: 1 },
          { path: 'args.amount', op: 'eq', value: 2.5 },
          { path: 'args.count', op: 'in', value: [1, 2, 3] },
          { path: 'args.memo', op: 'gte', value: 'a' },
          { path: 'args.tags', op: 'contains', value: 'vip' },
          { path: 'args.memo', op: 'contains', value: 'vip' },
          { path: 'args.currency', op: 'not_in', value: ['GBP'] },
          { path: 'args.urgent', op: 'neq', value: true },
          { path: 'args.to', op: 'eq', value: { iban: 'X' } },
          { path: 'args.meta.deep', op: 'gt', value: 'anything goes in an open object' },
          { path: 'session.id', op: 'regex', value: '^s' },
        ],
      },
    });
    expect(found(lint(text), 'TG202')).toEqual([]);
  });

  it('increment_from must point at a number', () => {
    const text = policy({
      transfer_funds: {
        limits: [
          { counter: 'a', max: 10, window: 'day', increment_from: 'args.memo' },
          { counter: 'b', max: 10, window: 'day', increment_from: 'agent.id' },
          { counter: 'c', max: 10, window: 'day', increment_from: 'args.count' },
        ],
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG202')).toEqual([finding('TG202', at(text, '"args.memo"')), finding('TG202', at(text, '"agent.id"'))]);
    expect(diagnostics.find((d) => d.code === 'TG202')!.message).toBe('increment_from args.memo is a string, not a number: the spend limit denies every call to "transfer_funds" (fail closed)');
  });

  it('works in YAML', () => {
    const text = 'version: "1"\ndefault: deny\ntools:\n  transfer_funds:\n    deny_if:\n      - conditions:\n          - path: args.amount\n            op: gt\n            value: "1000"\n';
    expect(found(lint(text, {}, 'p.yaml'), 'TG202')).toEqual([finding('TG202', { line: 9, column: 20 })]);
  });
});

describe('TG203/TG207 conditions bypassable by omission', () => {
  it('a deny_if condition on an optional argument, and on an optional step of a path', () => {
    const text = policy({
      transfer_funds: {
        deny_if: [
          { conditions: [{ path: 'args.memo', op: 'contains', value: 'casino' }] },
          { conditions: [{ path: 'args.to.name', op: 'eq', value: 'Mallory' }] },
          { conditions: [{ path: 'args.amount', op: 'gt', value: 100 }] },
        ],
      },
    });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG203')).toEqual([finding('TG203', at(text, '"args.memo"')), finding('TG203', at(text, '"args.to.name"'))]);
    const d = diagnostics.find((x) => x.code === 'TG203')!;
    expect(d.severity).toBe('warning');
    expect(d.message).toBe('args.memo is optional for "transfer_funds": a call that leaves it out skips tools.transfer_funds.deny_if[0], so the deny is bypassable by omission');
    expect(d.hint).toBe('add { "path": "args.memo", "op": "exists" } to tools.transfer_funds.require so calls without it are denied, or express the check as a require condition');
  });

  it('is exempt for exists conditions, for paths a require condition forces, and for unreachable rules', () => {
    const text = policy({
      transfer_funds: {
        require: [{ path: 'args.memo', op: 'exists' }, { path: 'args.to.name', op: 'regex', value: '^[A-Z]' }],
        deny_if: [
          { conditions: [{ path: 'args.memo', op: 'contains', value: 'casino' }] },
          { conditions: [{ path: 'args.to.name', op: 'eq', value: 'Mallory' }] },
          { conditions: [{ path: 'args.urgent', op: 'exists', value: true }] },
        ],
      },
      get_balance: { action: 'allow', deny_if: [{ conditions: [{ path: 'args.account', op: 'eq', value: 'x' }] }] },
    });
    expect(found(lint(text), 'TG203')).toEqual([]);
  });

  it('an exists:false require does not force the argument', () => {
    const text = policy({
      transfer_funds: {
        require: [{ path: 'args.memo', op: 'exists', value: false }],
        deny_if: [{ conditions: [{ path: 'args.memo', op: 'eq', value: 'x' }] }],
      },
    });
    expect(found(lint(text), 'TG203')).toEqual([finding('TG203', at(text, '"args.memo"', 1))]);
  });

  it('TG207: an approve_if condition on an optional argument', () => {
    const text = policy({ pay_invoice: { approve_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 500 }] }] } });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG207')).toEqual([finding('TG207', at(text, '"args.amount"'))]);
    expect(diagnostics.find((d) => d.code === 'TG207')!.message).toContain('so the approval is bypassable by omission');
  });

  it('in YAML', () => {
    const text = 'version: "1"\ndefault: deny\ntools:\n  transfer_funds:\n    deny_if:\n      - conditions: [{ path: args.memo, op: eq, value: x }]\n';
    expect(found(lint(text, {}, 'p.yaml'), 'TG203')).toEqual([finding('TG203', at(text, 'args.memo'))]);
  });
});

describe('TG204 unguarded critical tools', () => {
  it('a critical tool listed as {} or with action allow and no limit', () => {
    const text = policy({ transfer_funds: {}, sync_ledger: { action: 'allow', require: [{ path: 'args.x', op: 'exists' }] } });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG204')).toEqual([finding('TG204', at(text, '"transfer_funds"')), finding('TG204', at(text, '"sync_ledger"'))]);
    expect(diagnostics.find((d) => d.code === 'TG204')!.message).toBe(
      '"transfer_funds" is a critical-risk tool (financial, classified from its name and annotations) and is allowed with no condition, limit or approval',
    );
    expect(diagnostics.filter((d) => d.code === 'TG204')[1]!.message).toContain('per bank/catalog.json');
  });

  it('every critical catalog tool that default "allow" lets through', () => {
    const text = policy({ transfer_funds: { rate_limit: { max: 1, window: 'minute' } } }, { default: 'allow', hide: ['pay_invoice'] });
    const diagnostics = lint(text);
    expect(found(diagnostics, 'TG204')).toEqual([finding('TG204', at(text, '"allow"'))]);
    expect(diagnostics.find((d) => d.code === 'TG204')!.message).toContain('"sync_ledger" is a critical-risk tool');
  });

  it('is silent for guarded, denied, hidden and approval-gated critical tools', () => {
    for (const rule of [
      { require: [{ path: 'args.amount', op: 'lte', value: 10 }] },
      { deny_if: [{ conditions: [] }] },
      { approve_if: [{ conditions: [] }] },
      { action: 'approve' },
      { action: 'deny' },
      { action: 'hide' },
      { action: 'allow', rate_limit: { max: 1, window: 60 } },
      { limits: [{ counter: 'c', max: 1, window: 60 }] },
    ]) {
      expect(found(lint(policy({ transfer_funds: rule })), 'TG204'), JSON.stringify(rule)).toEqual([]);
    }
    expect(found(lint(policy({ transfer_funds: {} }, { all_tools: { limits: [{ counter: 'c', max: 100, window: 'day' }] } })), 'TG204')).toEqual([]);
    expect(found(lint(policy({}, { default: 'allow', hide: ['*'] })), 'TG204')).toEqual([]);
  });

  it('classifies listed tools by name when there is no catalog', () => {
    const text = policy({ withdraw_funds: {}, get_price: {} });
    const diagnostics = lintPolicy(text, 'p.json', { checkRegexSafety: false }).diagnostics;
    expect(found(diagnostics, 'TG204')).toEqual([finding('TG204', at(text, '"withdraw_funds"'))]);
    expect(found(diagnostics, 'TG205')).toEqual([finding('TG205', { line: 1, column: 1 })]);
  });
});

describe('TG205 no catalog', () => {
  it('is an info finding only when no catalog was given; catalog checks are skipped', () => {
    const text = policy({ nope: { require: [{ path: 'args.x', op: 'gt', value: 1 }] } });
    const without = lintPolicy(text, 'p.json', { checkRegexSafety: false }).diagnostics;
    expect(without.map((d) => d.code)).toEqual(['TG205']);
    const withCatalog = lint(text);
    expect(withCatalog.map((d) => d.code)).toEqual(['TG200']);
  });
});
