import { describe, expect, it } from 'vitest';
import { readInterceptPolicy } from './intercept-policy-reader.js';

const rule = (body: string): string => `version: "1"\ntools:\n  t:\n    rules:\n      - ${body.split('\n').join('\n        ')}\n`;

// Every validation error of Intercept's reference, each from a policy that has only that error.
const ERRORS: Array<[string, string, string, number, number]> = [
  ['an empty hide entry', 'version: "1"\nhide:\n  - ""\ntools: {}\n', 'hide[0]: the entry is empty', 3, 5],
  ['a repeated hide entry', 'version: "1"\nhide: [a, a]\ntools: {}\n', 'hide: "a" is listed more than once', 2, 11],
  ['a wrong version', 'version: "3"\ntools: {}\n', 'version must be "1" (found "3")', 1, 10],
  ['an unknown default', 'version: "1"\ndefault: block\ntools: {}\n', 'default must be "allow" or "deny" (found "block")', 2, 10],
  ['a rule without a name', rule('conditions: [{path: args.a, op: eq, value: 1}]'), 'tools.t.rules[0]: the rule has no name', 5, 9],
  ['an unknown action', rule('name: r\naction: allow\nconditions: [{path: args.a, op: eq, value: 1}]'), 'tools.t.rules[0]: action must be "evaluate" or "deny" (found "allow")', 6, 17],
  ['a deny rule with conditions', rule('name: r\naction: deny\nconditions: [{path: args.a, op: eq, value: 1}]'), 'tools.t.rules[0]: a deny rule takes no conditions', 7, 21],
  ['an evaluate rule without conditions', rule('name: r'), 'tools.t.rules[0]: an evaluate rule needs at least one condition', 5, 9],
  ['a path outside args. and state.', rule('name: r\nconditions: [{path: amount, op: eq, value: 1}]'), 'the path must start with "args." or "state." (found "amount")', 6, 29],
  ['an unknown operator', rule('name: r\nconditions: [{path: args.a, op: like, value: 1}]'), 'tools.t.rules[0].conditions[0]: unknown operator "like"', 6, 41],
  ['in without a list', rule('name: r\nconditions: [{path: args.a, op: in, value: a}]'), 'operator "in" needs a list as its value', 6, 52],
  ['not_in without a list', rule('name: r\nconditions: [{path: args.a, op: not_in, value: 3}]'), 'operator "not_in" needs a list as its value', 6, 56],
  ['lt without a number', rule('name: r\nconditions: [{path: args.a, op: lt, value: "9"}]'), 'operator "lt" needs a number as its value (found "9")', 6, 52],
  ['exists without a boolean', rule('name: r\nconditions: [{path: args.a, op: exists, value: "yes"}]'), 'operator "exists" needs true or false as its value', 6, 56],
  ['a regex that is not a string', rule('name: r\nconditions: [{path: args.a, op: regex, value: 4}]'), 'a regex value must be a string pattern', 6, 55],
  ['a regex that does not compile', rule('name: r\nconditions: [{path: args.a, op: regex, value: "(a"}]'), 'invalid regex "(a": it does not compile', 6, 55],
  ['a state block without a counter', rule('name: r\nconditions: [{path: args.a, op: eq, value: 1}]\nstate: {counter: "", window: day}'), 'tools.t.rules[0].state: the counter has no name', 7, 26],
  ['a state window that is not minute, hour or day', rule('name: r\nconditions: [{path: state.t.c, op: lte, value: 1}]\nstate: {counter: c, window: week}'), 'tools.t.rules[0].state: window must be minute, hour or day (found "week")', 7, 37],
  ['increment_from outside args.', rule('name: r\nconditions: [{path: state.t.c, op: lte, value: 1}]\nstate: {counter: c, window: day, increment_from: amount}'), 'increment_from must name an argument, starting with "args." (found "amount")', 7, 58],
  ['a state read with no matching state block', rule('name: r\nconditions: [{path: state.t.missing, op: lte, value: 1}]'), 'the condition reads state.t.missing, but no rule of t has a state block for counter "missing"', 6, 29],
  ['a rate_limit count that is not a positive whole number', rule('name: r\nrate_limit: 0/hour'), 'the rate_limit count must be a whole number above 0 (found "0")', 6, 21],
  ['a rate_limit window that is not minute, hour or day', rule('name: r\nrate_limit: 5/week'), 'the rate_limit window must be minute, hour or day (found "week")', 6, 21],
  ['a rate_limit with conditions', rule('name: r\nrate_limit: 5/hour\nconditions: [{path: args.a, op: eq, value: 1}]'), 'rate_limit cannot be combined with conditions or state', 6, 21],
  ['a rate_limit on a deny rule', rule('name: r\naction: deny\nrate_limit: 5/hour'), 'rate_limit cannot be used on a rule with action "deny"', 7, 21],
  ['a counter defined twice on one tool', 'version: "1"\ntools:\n  t:\n    rules:\n      - {name: a, rate_limit: 5/hour}\n      - {name: b, rate_limit: 9/hour}\n', 'tools.t.rules[1]: the counter "_rate_hour" is already defined by rules[0] of this tool', 6, 9],
];

describe('readInterceptPolicy: validation errors', () => {
  it.each(ERRORS)('%s', (_what, text, message, line, column) => {
    const { policy, diagnostics } = readInterceptPolicy(text, 'p.yaml');
    expect(policy).toBeUndefined();
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ code: 'TG400', severity: 'error', file: 'p.yaml', line, column });
    expect(diagnostics[0]!.message).toContain(message);
  });

  it('reports malformed YAML and duplicate keys at their place', () => {
    expect(readInterceptPolicy('version: "1"\ntools: [\n', 'p.yaml').diagnostics[0]).toMatchObject({ code: 'TG001', file: 'p.yaml', line: 3 });
    expect(readInterceptPolicy('version: "1"\nversion: "1"\ntools: {}\n', 'p.yaml').diagnostics[0]).toMatchObject({ code: 'TG002', line: 2, column: 1 });
    expect(readInterceptPolicy('- a\n', 'p.yaml').diagnostics[0]!.message).toContain('a YAML mapping');
    expect(readInterceptPolicy('version: "1"\n', 'p.yaml').diagnostics[0]!.message).toContain('tools is required');
  });

  it('applies the defaults and expands rate_limit, and lists keys Intercept ignores', () => {
    const { policy, diagnostics, ignored } = readInterceptPolicy(rule('name: r\nrate_limit: 7/minute\non-deny: typo'), 'p.yaml');
    expect(diagnostics).toEqual([]);
    expect(policy!.default).toBe('allow');
    expect(policy!.tools[0]!.rules[0]).toMatchObject({
      action: 'evaluate',
      conditions: [{ path: 'state.t._rate_minute', op: 'lte', value: 7 }],
      state: { counter: '_rate_minute', window: 'minute', increment: 1 },
      onDeny: 'Rate limit of 7 per minute reached. Try again later.',
    });
    expect(ignored).toEqual([{ key: 'on-deny', source: { pointer: '/tools/t/rules/0/on-deny', line: 7, column: 9 } }]);
  });
});
