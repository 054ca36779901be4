import { describe, expect, it } from 'vitest';
import { parseCatalog, type Catalog } from '../catalog/catalog.js';
import type { Diagnostic } from '../diagnostic.js';
import { lintPolicy } from './policy-linter.js';

const catalog: Catalog = parseCatalog(
  JSON.stringify({
    server: 'bank',
    tools: [
      { name: 'get_balance', inputSchema: { type: 'object', properties: { account: { type: 'string' } } }, annotations: { readOnlyHint: true } },
      { name: 'transfer_funds', inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } },
      { name: 'close_account', inputSchema: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] }, annotations: { destructiveHint: true } },
    ],
  }),
  'bank/catalog.json',
).catalog!;

function policy(tools: Record<string, unknown>, top: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: '1', default: 'deny', ...top, tools }, null, 2);
}

function at(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i <= nth; i++) offset = text.indexOf(needle, offset + 1);
  if (offset < 0) throw new Error(`"${needle}" is not in the text`);
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function shadowFindings(text: string): Array<Pick<Diagnostic, 'code' | 'severity' | 'line' | 'column'> & { message: string }> {
  return lintPolicy(text, 'bank/policy.json', { catalog, checkRegexSafety: false })
    .diagnostics.filter((d) => d.code === 'TG110' || d.code === 'TG111' || d.code === 'TG112')
    .map((d) => ({ code: d.code, severity: d.severity, line: d.line, column: d.column, message: d.message }));
}

const capped = { deny_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 100 }] }] };

describe('TG110 shadow-policy', () => {
  it('warns, at the flag, that a policy in shadow enforces nothing', () => {
    const text = policy({ get_balance: {}, transfer_funds: capped }, { shadow: true });
    expect(shadowFindings(text)).toEqual([
      {
        code: 'TG110',
        severity: 'warning',
        ...at(text, 'true'),
        message: 'the policy is in shadow mode: it enforces nothing — every call is allowed and every tool listed; its decisions are only recorded (shadow_effect, shadow_rule)',
      },
    ]);
  });

  it('is silent for "shadow": false and for a policy without the flag', () => {
    expect(shadowFindings(policy({ get_balance: {} }, { shadow: false }))).toEqual([]);
    expect(shadowFindings(policy({ get_balance: {}, transfer_funds: capped }))).toEqual([]);
  });
});

describe('TG111 shadow-critical-tool', () => {
  it('warns when default "allow" lets a critical tool through while its rule is in shadow', () => {
    const text = policy({ transfer_funds: { shadow: true, ...capped } }, { default: 'allow', hide: ['close_account'] });
    const findings = shadowFindings(text);
    expect(findings.map((f) => [f.code, f.severity, f.line, f.column])).toEqual([['TG111', 'warning', at(text, '"shadow"').line, at(text, '"shadow"').column]]);
    expect(findings[0]!.message).toBe(
      '"transfer_funds" is a critical-risk tool (financial, classified from its name and annotations) whose rule is in shadow mode: its calls are decided by default "allow", with no condition, limit or approval in the way',
    );
    // TG204 does not also report the rule in shadow as if it guarded the tool or not.
    expect(lintPolicy(text, 'bank/policy.json', { catalog, checkRegexSafety: false }).diagnostics.filter((d) => d.code === 'TG204')).toEqual([]);
  });

  it('says when all_tools limits still apply', () => {
    const text = policy({ transfer_funds: { shadow: true, ...capped } }, { default: 'allow', all_tools: { limits: [{ counter: 'c', max: 10, window: 'minute' }] }, hide: ['close_account'] });
    expect(shadowFindings(text)[0]!.message).toContain('(only all_tools limits apply)');
  });

  it('is silent under default "deny" or hide "*" (the calls are refused while the rule is tried), and for tools that are not critical', () => {
    expect(shadowFindings(policy({ transfer_funds: { shadow: true, ...capped } }))).toEqual([]);
    expect(shadowFindings(policy({ transfer_funds: { shadow: true, ...capped } }, { default: 'allow', hide: ['*'] }))).toEqual([]);
    expect(shadowFindings(policy({ get_balance: { shadow: true, rate_limit: { max: 5, window: 'minute' } } }, { default: 'allow', hide: ['close_account', 'transfer_funds'] }))).toEqual([]);
  });
});

describe('TG112 shadow-no-effect', () => {
  it('warns that a tool rule marked shadow in a policy in shadow changes nothing', () => {
    const text = policy({ transfer_funds: { shadow: true, ...capped } }, { shadow: true });
    const findings = shadowFindings(text);
    expect(findings.map((f) => [f.code, f.line, f.column])).toEqual([
      ['TG110', at(text, 'true').line, at(text, 'true').column],
      ['TG112', at(text, '"shadow"', 1).line, at(text, '"shadow"', 1).column],
    ]);
    expect(findings[1]!.message).toBe('tools.transfer_funds.shadow changes nothing: the whole policy is already in shadow mode');
  });

  it('warns when the rule in shadow decides every call as the enforced default does', () => {
    const allow = policy({ get_balance: { shadow: true } }, { default: 'allow', hide: ['close_account', 'transfer_funds'] });
    expect(shadowFindings(allow).map((f) => [f.code, f.message])).toEqual([
      ['TG112', 'tools.get_balance is in shadow mode, but its rule decides every call as default "allow" does: the shadow decision never differs from the enforced one'],
    ]);
    const deny = policy({ close_account: { shadow: true, action: 'deny' } });
    expect(shadowFindings(deny).map((f) => f.code)).toEqual(['TG112']);
    const hidden = policy({ close_account: { shadow: true, action: 'hide' } }, { hide: ['*'] });
    expect(shadowFindings(hidden)[0]!.message).toContain('as hide "*" does');
  });

  it('is silent for rules in shadow that can decide differently', () => {
    expect(shadowFindings(policy({ get_balance: { shadow: true } }))).toEqual([]); // a permission tried under default deny
    expect(shadowFindings(policy({ get_balance: { shadow: true, action: 'hide' } }, { default: 'allow', hide: ['close_account', 'transfer_funds'] }))).toEqual([]);
    expect(shadowFindings(policy({ close_account: { shadow: true, action: 'approve' } }))).toEqual([]);
  });
});
