import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { compilePolicy, tryCompilePolicy } from './policy-compiler.js';
import { loadPolicy } from './policy-loader.js';
import { compileRegex, RegexSupportError } from './regex-compiler.js';

/** The classic catastrophic-backtracking patterns, each with an input that makes a backtracking engine blow up. */
const REDOS: readonly [pattern: string, input: string][] = [
  ['^(a+)+$', `${'a'.repeat(8191)}!`],
  ['(a|aa)+$', `${'a'.repeat(8191)}!`],
  ['^(a|a?)+$', `${'a'.repeat(8191)}!`],
  ['^(\\w+\\s?)*$', `${'a'.repeat(8191)}!`],
  ['(.*a){12}', `${'a'.repeat(11)}${'b'.repeat(8181)}`],
  ['(.*a){12}$', `${'a'.repeat(8191)}b`],
  ['^(([a-z])+.)+[A-Z]([a-z])+$', `${'a'.repeat(8191)}!`],
  ['(x+x+)+y', 'x'.repeat(8192)],
  ['^(a|b|ab)*c$', `${'ab'.repeat(4095)}ax`],
  ['^\\s*#?\\s*$', `${' '.repeat(8191)}!`],
  ['^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$', `${'a'.repeat(8191)}!`],
];

describe('regex conditions run in linear time', () => {
  beforeAll(() => {
    // Let V8 optimise the engine's code first, as it is in a gateway that has been running:
    // the bound below is about the algorithm, not about the first, interpreted calls.
    for (let round = 0; round < 3; round++) for (const [pattern, input] of REDOS) compileRegex(pattern, 'i').test(input);
  });

  test.each(REDOS)('%s on an 8,192-character hostile input decides in under 10 ms', (pattern, input) => {
    expect(input.length).toBe(8192);
    const policy = compilePolicy({
      version: '1',
      default: 'deny',
      tools: {
        r: { require: [{ path: 'args.s', op: 'regex', value: pattern }] },
        d: { deny_if: [{ conditions: [{ path: 'args.s', op: 'regex', value: pattern, flags: 'i' }] }] },
      },
    });
    // Warm up (first calls build the engine's caches), then time each call on its own.
    for (const tool of ['r', 'd']) policy.decide({ tool, args: { s: input } });
    let worst = 0;
    for (let i = 0; i < 5; i++) {
      for (const tool of ['r', 'd']) {
        // Each call is timed on its own; a pause of the machine (GC, another process) only ever
        // adds time, so the best of three runs of the same call is its cost. A backtracking
        // engine would be slow on every run: seconds to years on these inputs.
        let best = Infinity;
        for (let run = 0; run < 3 && best >= 10; run++) {
          const started = performance.now();
          const d = policy.decide({ tool, args: { s: input } });
          best = Math.min(best, performance.now() - started);
          // No input matches its pattern: require denies, deny_if lets the call through.
          expect(d.effect).toBe(tool === 'r' ? 'deny' : 'allow');
        }
        worst = Math.max(worst, best);
      }
    }
    expect(worst).toBeLessThan(10);
  });

  test('the bound is one a backtracking engine misses by far (a short input, so that it would fail, not hang)', () => {
    const policy = compilePolicy({ version: '1', default: 'deny', tools: { r: { require: [{ path: 'args.s', op: 'regex', value: '^(a+)+$' }] } } });
    // RegExp takes about a second here (2^25 paths), doubling with each further "a".
    const hostile = `${'a'.repeat(25)}!`;
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      expect(policy.decide({ tool: 'r', args: { s: hostile } }).effect).toBe('deny');
      best = Math.min(best, performance.now() - started);
    }
    expect(best).toBeLessThan(10);
  });

  test('the same patterns still match what they should', () => {
    const policy = compilePolicy({ version: '1', default: 'deny', tools: { r: { require: [{ path: 'args.s', op: 'regex', value: '^(a+)+$' }] } } });
    expect(policy.decide({ tool: 'r', args: { s: 'a'.repeat(8192) } }).effect).toBe('allow');
    expect(policy.decide({ tool: 'r', args: { s: 'a'.repeat(8193) } })).toMatchObject({ effect: 'deny', rule: 'tools.r.require[0]' });
  });
});

describe('the engine: V8 for a pattern proven bounded, RE2 for the rest', () => {
  test.each([
    ['/(?:USDT|USDC)$', 'backtracking'],
    ['^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}(:[A-Z0-9]{2,10})?$', 'backtracking'],
    ['^https://raw\\.githubusercontent\\.com/modelcontextprotocol/', 'backtracking'],
    ['^0x[0-9a-fA-F]{40}$', 'backtracking'],
    ['^(a|a){1,10}$', 'backtracking'],
    ['(a|a){1,10}', 're2'],
    ['a{0,100}b', 're2'],
    ['drop\\s+table', 're2'],
    ['^[a-z]*$', 're2'],
    ['^(a+)+$', 're2'],
  ] as const)('%s runs on %s', (pattern, engine) => {
    expect(compileRegex(pattern).engine).toBe(engine);
  });

  test('a longer input bound moves a bounded pattern to RE2', () => {
    expect(compileRegex('/(?:USDT|USDC)$', '', { maxInput: 8192 }).engine).toBe('backtracking');
    expect(compileRegex('/(?:USDT|USDC)$', '', { maxInput: 1_000_000 }).engine).toBe('re2');
  });

  // The most ambiguous bounded patterns the proof lets V8 run, on the inputs that make them try every way.
  test.each([
    ['^(a|a){1,10}$', `${'a'.repeat(10)}!`],
    ['^(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)b$', `${'a'.repeat(8191)}!`],
    ['(?:a|a)(?:a|a)(?:a|a)b', 'a'.repeat(8192)],
    ['a?a?aaab', 'a'.repeat(8192)],
  ])('%s on V8 stays within its bound', (pattern, input) => {
    const re = compileRegex(pattern);
    expect(re.engine).toBe('backtracking');
    re.test(input);
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      expect(re.test(input)).toBe(false);
      best = Math.min(best, performance.now() - started);
    }
    expect(best).toBeLessThan(10);
  });
});

describe('ECMAScript meaning on the linear-time engine', () => {
  const same = (pattern: string, flags: string, inputs: readonly string[]): void => {
    const re = compileRegex(pattern, flags, { engine: 're2' });
    const native = new RegExp(pattern, flags);
    for (const s of inputs) expect([pattern, flags, s, re.test(s)]).toEqual([pattern, flags, s, native.test(s)]);
  };

  test.each([
    ['\\s', '', [' ', '\t', '\u00a0', '\u2028', '\ufeff', '\u3000', 'x', '\u200b']],
    ['^\\S+$', '', ['ab', 'a b', 'a\u00a0b', 'a\u1680b']],
    ['^[\\s\\d]+$', '', [' 1 ', '1\u00a02', 'x']],
    ['^[^\\S]$', '', [' ', 'x', '\u2029']],
    ['a.b', '', ['axb', 'a\nb', 'a\rb', 'a\u2028b', 'a\u2029b']],
    ['a.b', 's', ['a\nb', 'a\rb']],
    ['[]', '', ['', 'a']],
    ['^[^]$', '', ['a', '\n', '']],
    ['\\u0041\\x42\\cJ\\0', '', ['AB\n\0', 'AB\n']],
    ['^\\u{1F600}$', 'u', ['😀', 'x']],
    ['^\\uD83D\\uDE00$', '', ['😀']],
    ['a{,5}', '', ['a{,5}', 'aaaaa']],
    ['^[\\w-z]+$', '', ['a-z', '!', '-']],
    ['^[\\b]$', '', ['\b', 'b']],
    ['\\c', '', ['\\c', 'c']],
    ['^\\p{Lu}+$', 'u', ['ABC', 'ÀÉ', 'abc']],
    ['^\\p{Script=Greek}+$', 'u', ['αβγ', 'abc']],
    ['^abc$', 'im', ['x\nABC\ny', 'xabc']],
    ['a$', '', ['a', 'a\n']],
    ['^(?<year>\\d{4})-(?:\\d{2})$', '', ['2024-01', '2024-1']],
    ['^\\/\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\$', '', ['/.*+?()[]{}|^$\\']],
    ['\\bBTC\\b', 'i', ['buy btc now', 'xbtcx']],
  ] as const)('%s /%s', (pattern, flags, inputs) => same(pattern, flags, inputs));

  test('agrees with RegExp on generated ASCII patterns and inputs', () => {
    const atom = fc.oneof(
      fc.constantFrom('a', 'b', 'c', '.', '\\d', '\\w', '\\s', '\\S', '\\W', '\\D', '[ab]', '[^a]', '[a-c]', '[\\s.]', '\\.', '\\b', '^', '$', '\\x61', '\\u0062', '[]', '[^]', ' '),
    );
    const term: fc.Arbitrary<string> = fc.letrec<{ re: string; seq: string; item: string }>((tie) => ({
      re: fc.oneof({ depthSize: 'small' }, tie('seq'), fc.tuple(tie('seq'), tie('seq')).map(([x, y]) => `${x}|${y}`)),
      seq: fc.array(tie('item'), { minLength: 1, maxLength: 4 }).map((items) => items.join('')),
      item: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        atom,
        fc.tuple(atom, fc.constantFrom('*', '+', '?', '{2}', '{1,3}', '{0,}', '*?', '+?')).map(([a, q]) => (a === '^' || a === '$' || a === '\\b' ? a : a + q)),
        fc.tuple(tie('re'), fc.constantFrom('', '*', '+', '?', '{2}')).map(([r, q]) => `(${r})${q}`),
        tie('re').map((r) => `(?:${r})`),
      ),
    })).re;
    fc.assert(
      fc.property(term, fc.constantFrom('', 'i', 'm', 's', 'u', 'is'), fc.array(fc.stringMatching(/^[abcAB .\n\r\t_1-]{0,8}$/), { minLength: 1, maxLength: 6 }), (pattern, flags, inputs) => {
        let native: RegExp;
        try {
          native = new RegExp(pattern, flags);
        } catch {
          return;
        }
        const re = compileRegex(pattern, flags, { engine: 're2' });
        const auto = compileRegex(pattern, flags);
        // Line anchors in m mode always run on RE2: the engine never depends on the pattern's shape there.
        const outsideClasses = pattern.replace(/\\./g, '').replace(/\[\^?\]|\[[^\]]*\]/g, '');
        if (flags.includes('m') && /[\^$]/.test(outsideClasses)) expect(auto.engine).toBe('re2');
        for (const s of inputs) {
          expect(auto.test(s)).toBe(re.test(s));
          // In multiline mode RE2 ends lines at \n only; ECMAScript at \r too (documented).
          if (flags.includes('m') && s.includes('\r')) continue;
          expect({ pattern, flags, s, matches: re.test(s) }).toEqual({ pattern, flags, s, matches: native.test(s) });
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('what the linear-time engine cannot run is a compile error (TG100)', () => {
  test.each([
    ['(?=a)b', 'lookahead'],
    ['a(?!b)', 'lookahead'],
    ['(?<=\\$)\\d+', 'lookbehind'],
    ['(?<!-)\\d+', 'lookbehind'],
    ['(a)\\1', 'backreference'],
    ['(?<q>["\'])x\\k<q>', 'backreference'],
    ['\\1', 'legacy octal escape'],
    ['[\\2]', 'legacy octal escape'],
    ['a{1001}', 'large repetition'],
  ])('%s: %s', (pattern, feature) => {
    let error: unknown;
    try {
      compileRegex(pattern);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegexSupportError);
    expect((error as RegexSupportError).feature).toBe(feature);
    expect((error as Error).message).toContain('the linear-time regex engine does not support');

    const text = JSON.stringify({ version: '1', default: 'deny', tools: { t: { require: [{ path: 'args.s', op: 'regex', value: pattern }] } } }, null, 2);
    const loaded = loadPolicy(text, 'policies/x/policy.json');
    expect(loaded.policy).toBeUndefined();
    expect(loaded.diagnostics).toHaveLength(1);
    const d = loaded.diagnostics[0]!;
    expect(d).toMatchObject({ code: 'TG100', severity: 'error', file: 'policies/x/policy.json', line: 10, pointer: '/tools/t/require/0/value' });
    expect(d.message).toContain(`regex ${JSON.stringify(pattern)} cannot be used: the linear-time regex engine does not support`);
    expect(d.hint).toContain('docs/policy-language.md');
  });

  test('an invalid ECMAScript pattern is still reported as invalid', () => {
    const r = tryCompilePolicy({ version: '1', default: 'deny', tools: { t: { require: [{ path: 'args.s', op: 'regex', value: '(' }] } } });
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([['TG100', expect.stringMatching(/^invalid regex "\(": Invalid regular expression/)]]);
  });

  test('a Unicode property the engine lacks is refused with a hint', () => {
    expect(() => compileRegex('\\p{scx=Greek}', 'u')).toThrow(RegexSupportError);
  });
});
