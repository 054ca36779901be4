import { RE2JS } from 're2js';

/**
 * A compiled `regex` condition pattern whose `test` takes time linear in the input's length,
 * whatever the pattern: no pattern can stall the event loop, even one that lint flags as open
 * to catastrophic backtracking (TG101). Which engine runs it is in {@link engine}.
 */
export interface LinearRegex {
  /** The pattern as written in the policy (ECMAScript syntax). */
  readonly source: string;
  /** The pattern's flags as written: any of `i`, `m`, `s`, `u`. */
  readonly flags: string;
  /** The pattern in RE2 syntax: what the `re2` engine runs, and what proves the pattern runs on it. */
  readonly engineSource: string;
  /**
   * `backtracking`: V8's own engine, for a pattern whose backtracking is proven bounded
   * (no unbounded repetition, and at most {@link MAX_BACKTRACKING_STEPS} steps on the longest
   * allowed input); `re2`: RE2's automata (re2js) for every other pattern.
   */
  readonly engine: 'backtracking' | 're2';
  /** Whether the pattern matches anywhere in `input`, as `RegExp.prototype.test` would. */
  test(input: string): boolean;
}

/** Options of {@link compileRegex}. */
export interface RegexOptions {
  /** The longest input the pattern is ever run on (the compiler's `maxPatternInput`, default 8192). */
  readonly maxInput?: number;
  /** `re2` runs every pattern on RE2, bounded or not (to compare the engines); default `auto`. */
  readonly engine?: 'auto' | 're2';
}

/**
 * The most steps a pattern may take on V8's backtracking engine, on the longest allowed input,
 * by the bound {@link compileRegex} proves, for it to run there: about a millisecond.
 */
export const MAX_BACKTRACKING_STEPS = 2 ** 20;

/**
 * A pattern that is valid ECMAScript but uses a feature the linear-time engine cannot run
 * (lookaround, backreferences, …). `feature` names it; `hint` says how to rewrite the pattern.
 */
export class RegexSupportError extends SyntaxError {
  /** The unsupported feature, in words: `lookbehind (?<=…)`. */
  readonly feature: string;
  /** How to write the pattern so that the engine can run it. */
  readonly hint: string;

  constructor(feature: string, message: string, hint: string) {
    super(message);
    this.name = 'RegexSupportError';
    this.feature = feature;
    this.hint = hint;
  }
}

/** What the hint of every unsupported feature ends with. */
const SEE_DOCS = 'see "Regular expressions" in docs/policy-language.md';

/** Every code point: the range a class is complemented against. */
const ANY = '\\x{0}-\\x{10ffff}';
/** ECMAScript's WhiteSpace and LineTerminator code points, which `\s` matches (RE2's `\s` is ASCII only). */
const SPACE = '\\x{9}-\\x{d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';
/** The complement of {@link SPACE}, for `\S` inside a class. */
const NOT_SPACE =
  '\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}';
/** What `.` matches without the `s` flag: anything but ECMAScript's line terminators. */
const DOT = '[^\\x{a}\\x{d}\\x{2028}\\x{2029}]';
/** RE2's largest repetition count. */
const MAX_REPEAT = 1000;
const RE2_META = new Set([...'\\.+*?()|[]{}^$']);

/**
 * Compiles a `regex` condition's pattern for linear-time matching. The pattern is ECMAScript
 * syntax, checked by `RegExp` first, then translated to RE2 syntax with ECMAScript's meaning
 * kept where the two differ (`\s`, `.`, `[]`, `[^]`, `\uXXXX`, `\cX`); a pattern RE2 cannot
 * run is refused, whichever engine would run it, so what a policy may say does not depend on it.
 *
 * Then the engine: a pattern with no unbounded repetition (`*`, `+`, `{n,}`) has a bounded
 * number of ways to match from each position — the product of its alternatives and repetition
 * counts — so a backtracking engine's work is at most paths × (length + nodes) per start
 * position; when that, times the start positions of the longest input, is at most
 * {@link MAX_BACKTRACKING_STEPS}, V8's own engine runs it (exactly ECMAScript's meaning, and
 * fastest on short values). Every other pattern runs on RE2's automata (re2js), linear by
 * construction, by Unicode code point (as with the `u` flag).
 *
 * @throws SyntaxError from `RegExp` for a pattern that is not valid ECMAScript.
 * @throws RegexSupportError for a valid pattern RE2 cannot run: lookahead, lookbehind,
 *   backreferences, legacy octal escapes, repetition counts above 1000, some Unicode properties.
 * @example
 * compileRegex('^[A-Z]{2,10}/USDT$').engine // 'backtracking' (bounded: at most 9 ways)
 * compileRegex('^(a+)+$').test('a'.repeat(8191) + '!') // false, on re2, in well under a millisecond
 */
export function compileRegex(source: string, flags = '', options: RegexOptions = {}): LinearRegex {
  if (/[^imsu]/.test(flags)) throw new SyntaxError(`invalid regex flags "${flags}": only i, m, s and u are allowed`);
  const maxInput = options.maxInput ?? 8192;
  // ECMAScript's own parser decides what is valid; the translator below may then assume it.
  const native = new RegExp(source, flags);
  const probe = new RegExp(`(?:${source})|`, flags).exec('');
  const translator = new Translator(source, {
    unicode: native.unicode,
    dotAll: native.dotAll,
    multiline: native.multiline,
    captures: probe ? probe.length - 1 : 0,
    namedGroups: probe?.groups !== undefined,
  });
  const { text: engineSource, cost } = translator.translate();
  let re: RE2JS;
  try {
    re = RE2JS.compile(engineSource, (native.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0) | (native.multiline ? RE2JS.MULTILINE : 0));
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
    if (/property|class range|\\p/i.test(detail)) {
      throw new RegexSupportError('Unicode property', `the linear-time regex engine does not support this Unicode property (${detail})`, `use a general category such as \\p{L} or \\p{Nd}, or a script such as \\p{Greek}; ${SEE_DOCS}`);
    }
    if (/too large|repeat/i.test(detail)) {
      throw new RegexSupportError('large repetition', `the linear-time regex engine cannot compile the pattern: ${detail}`, `keep repetition counts, and counts nested in counts, to ${MAX_REPEAT} or less; ${SEE_DOCS}`);
    }
    throw new RegexSupportError('pattern', `the linear-time regex engine cannot compile the pattern: ${detail}`, SEE_DOCS);
  }
  // Line anchors run on one engine whatever the pattern's shape, so that where a line ends (at \n
  // only, in RE2's multiline mode) does not depend on whether the pattern is bounded.
  if (options.engine !== 're2' && !translator.lineAnchors && backtrackingSteps(cost, maxInput) <= MAX_BACKTRACKING_STEPS) {
    // Neither `g` nor `y` is allowed, so `test` keeps no state between calls.
    return Object.freeze({ source, flags, engineSource, engine: 'backtracking' as const, test: (input: string) => native.test(input) });
  }
  return Object.freeze({ source, flags, engineSource, engine: 're2' as const, test: (input: string) => re.test(input) });
}

/**
 * A bound on a pattern's backtracking: how many ways it can match from one position, the most
 * characters one way consumes, its size, and whether every match must start at the input's start.
 */
interface Cost {
  paths: number;
  length: number;
  nodes: number;
  anchored: boolean;
}

/** At most how many steps a backtracking engine takes on an input of `maxInput` characters. */
function backtrackingSteps(cost: Cost, maxInput: number): number {
  if (!Number.isFinite(cost.paths)) return Infinity;
  const perStart = cost.paths * (Math.min(cost.length, maxInput) + cost.nodes);
  // An anchored pattern fails at once at every position but the first.
  return cost.anchored ? perStart + maxInput : perStart * (maxInput + 1);
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

interface TranslatorOptions {
  readonly unicode: boolean;
  readonly dotAll: boolean;
  readonly multiline: boolean;
  /** How many capturing groups the pattern has: `\N` up to it is a backreference. */
  readonly captures: number;
  readonly namedGroups: boolean;
}

/** One atom of a character class: a code point, or a set such as `\d` written in RE2 class syntax. */
type ClassAtom = { readonly kind: 'char'; readonly code: number } | { readonly kind: 'set'; readonly text: string };

/**
 * A single left-to-right walk over a valid ECMAScript pattern that writes the RE2 pattern with
 * the same meaning. Capturing groups become non-capturing (a condition only asks whether the
 * pattern matches), and every literal is written escaped, so nothing is reinterpreted.
 */
class Translator {
  readonly #src: string;
  readonly #options: TranslatorOptions;
  #i = 0;
  /** Whether the pattern has a `^` or `$` in multiline mode (a line anchor). */
  lineAnchors = false;

  constructor(src: string, options: TranslatorOptions) {
    this.#src = src;
    this.#options = options;
  }

  /** The pattern in RE2 syntax, and a bound on what a backtracking engine could do with it. */
  translate(): { readonly text: string; readonly cost: Cost } {
    const top = this.#disjunction();
    if (this.#i < this.#src.length) throw new SyntaxError(`unexpected "${this.#src[this.#i]}" at offset ${this.#i}`);
    return top;
  }

  #unsupported(feature: string, what: string, hint: string, at = this.#i): never {
    throw new RegexSupportError(feature, `the linear-time regex engine does not support ${what} (at offset ${at} of the pattern)`, `${hint}; ${SEE_DOCS}`);
  }

  #disjunction(): { text: string; cost: Cost } {
    const alternatives = [this.#alternative()];
    while (this.#src[this.#i] === '|') {
      this.#i++;
      alternatives.push(this.#alternative());
    }
    return {
      text: alternatives.map((a) => a.text).join('|'),
      cost: {
        paths: sum(alternatives.map((a) => a.cost.paths)),
        length: Math.max(...alternatives.map((a) => a.cost.length)),
        nodes: sum(alternatives.map((a) => a.cost.nodes)),
        anchored: alternatives.every((a) => a.cost.anchored),
      },
    };
  }

  #alternative(): { text: string; cost: Cost } {
    let text = '';
    const cost: Cost = { paths: 1, length: 0, nodes: 0, anchored: false };
    let first = true;
    while (this.#i < this.#src.length && this.#src[this.#i] !== '|' && this.#src[this.#i] !== ')') {
      const term = this.#term();
      text += term.text;
      cost.paths *= term.cost.paths;
      cost.length += term.cost.length;
      cost.nodes += term.cost.nodes;
      if (first) cost.anchored = term.cost.anchored;
      first = false;
    }
    return { text, cost };
  }

  /** An assertion, or an atom with its quantifier. */
  #term(): { text: string; cost: Cost } {
    const c = this.#src[this.#i];
    if (c === '^' || c === '$') {
      this.#i++;
      if (this.#options.multiline) this.lineAnchors = true;
      // Only `^` outside multiline mode pins a match to the start of the input.
      return { text: c, cost: { paths: 1, length: 0, nodes: 1, anchored: c === '^' && !this.#options.multiline } };
    }
    const atom = this.#atom();
    return this.#quantified(atom);
  }

  #quantified(atom: { text: string; cost: Cost }): { text: string; cost: Cost } {
    const src = this.#src;
    let min: number;
    let max: number;
    let written: string;
    const c = src[this.#i];
    if (c === '*' || c === '+' || c === '?') {
      this.#i++;
      [min, max] = c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
      written = c;
    } else if (c === '{') {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(src.slice(this.#i));
      // Outside Unicode mode a brace that is not a quantifier is a literal (Annex B): #atom reads it next.
      if (!m) return atom;
      const counts = [m[1]!, m[3]].filter((n): n is string => n !== undefined && n !== '').map(Number);
      if (counts.some((n) => n > MAX_REPEAT)) {
        this.#unsupported('large repetition', `repetition counts above ${MAX_REPEAT} (${m[0]})`, `use counts of at most ${MAX_REPEAT}; a longer exact length can be tested by a second, simpler condition`);
      }
      this.#i += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] ? Number(m[3]) : Infinity;
      written = `{${m[1]}${m[2] ?? ''}${m[3] ?? ''}}`;
    } else {
      return atom;
    }
    if (src[this.#i] === '?') {
      this.#i++;
      written += '?';
    }
    // A repetition tried k times for each k from min to max: paths(X)^k ways each.
    let paths = 0;
    if (max === Infinity) paths = Infinity;
    else for (let k = min; k <= max && paths < Infinity; k++) paths += atom.cost.paths ** k;
    const cost: Cost = { paths, length: atom.cost.length * max, nodes: atom.cost.nodes + 1, anchored: false };
    return { text: `${atom.text}${written}`, cost };
  }

  #atom(): { text: string; cost: Cost } {
    const one = (text: string): { text: string; cost: Cost } => ({ text, cost: { paths: 1, length: 1, nodes: 1, anchored: false } });
    const assertion = (text: string): { text: string; cost: Cost } => ({ text, cost: { paths: 1, length: 0, nodes: 1, anchored: false } });
    const c = this.#src[this.#i]!;
    switch (c) {
      case '\\': {
        const e = this.#src[this.#i + 1];
        const text = this.#escape();
        return e === 'b' || e === 'B' ? assertion(text) : one(text);
      }
      case '[':
        return one(this.#class());
      case '(':
        return this.#group();
      case '.':
        this.#i++;
        return one(this.#options.dotAll ? `[${ANY}]` : DOT);
      default:
        return one(literal(this.#codePoint()));
    }
  }

  /** The code point at the cursor (one UTF-16 unit, or a surrogate pair), consumed. */
  #codePoint(): number {
    const code = this.#src.codePointAt(this.#i)!;
    this.#i += code > 0xffff ? 2 : 1;
    return code;
  }

  #group(): { text: string; cost: Cost } {
    const rest = this.#src.slice(this.#i, this.#i + 4);
    if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
      this.#unsupported('lookahead', `lookahead ${rest.slice(0, 3)}…)`, 'test what follows with a second condition on the same path (conditions of a rule are ANDed), or match it in the pattern itself');
    }
    if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      this.#unsupported('lookbehind', `lookbehind ${rest}…)`, 'match what precedes in the pattern itself, or test it with a second condition on the same path');
    }
    if (rest.startsWith('(?:')) {
      this.#i += 3;
    } else if (rest.startsWith('(?<')) {
      // A named group: the name only matters to backreferences, which are refused.
      this.#i = this.#src.indexOf('>', this.#i) + 1;
    } else if (rest.startsWith('(?')) {
      this.#unsupported('group modifier', `the group syntax ${rest.slice(0, 3)}…)`, 'use the condition\'s "flags" for i, m and s');
    } else {
      this.#i += 1;
    }
    const inner = this.#disjunction();
    this.#i++; // ")"
    return { text: `(?:${inner.text})`, cost: { ...inner.cost, nodes: inner.cost.nodes + 1 } };
  }

  #escape(): string {
    const src = this.#src;
    const { unicode } = this.#options;
    const at = this.#i;
    const e = src[at + 1]!;
    this.#i += 2;
    switch (e) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 'b':
      case 'B':
        return `\\${e}`;
      case 's':
        return `[${SPACE}]`;
      case 'S':
        return `[^${SPACE}]`;
      case 'k':
        if (unicode || this.#options.namedGroups) this.#backreference(at);
        return literal(0x6b);
      case 'p':
      case 'P':
        if (!unicode) return literal(e.charCodeAt(0));
        return this.#property(e, at);
      default:
        if (/[1-9]/.test(e)) {
          const digits = /^\d+/.exec(src.slice(at + 1))![0];
          if (Number(digits) <= this.#options.captures) this.#backreference(at);
          // Annex B: with no such group, \1–\7 start a legacy octal escape and \8, \9 are the digits.
          if (/[1-7]/.test(e)) this.#legacyOctal(at);
          return literal(e.charCodeAt(0));
        }
        return literal(this.#characterEscape(e, at));
    }
  }

  #backreference(at: number): never {
    this.#unsupported('backreference', 'backreferences (\\1, \\k<name>)', 'a backreference cannot be matched in linear time; list the alternatives explicitly, or test the value with eq or in', at);
  }

  #legacyOctal(at: number): never {
    this.#unsupported('legacy octal escape', 'legacy octal escapes (\\1 to \\7 with no such group, \\0 followed by a digit)', 'write the character as \\xHH or \\uHHHH', at);
  }

  /**
   * The code point of a character escape whose letter (after `\`) is `e` and has been consumed:
   * control escapes, `\0`, `\xHH`, `\uHHHH`, `\u{…}`, `\cX`, and identity escapes.
   */
  #characterEscape(e: string, at: number, inClass = false): number {
    const src = this.#src;
    const { unicode } = this.#options;
    switch (e) {
      case 't':
        return 0x09;
      case 'n':
        return 0x0a;
      case 'v':
        return 0x0b;
      case 'f':
        return 0x0c;
      case 'r':
        return 0x0d;
      case '0':
        if (/[0-9]/.test(src[this.#i] ?? '')) this.#legacyOctal(at);
        return 0;
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(src.slice(this.#i, this.#i + 2));
        if (!m) return 0x78;
        this.#i += 2;
        return parseInt(m[0], 16);
      }
      case 'u': {
        if (unicode && src[this.#i] === '{') {
          const end = src.indexOf('}', this.#i);
          const code = parseInt(src.slice(this.#i + 1, end), 16);
          this.#i = end + 1;
          return code;
        }
        const m = /^[0-9a-fA-F]{4}/.exec(src.slice(this.#i, this.#i + 4));
        if (!m) return 0x75;
        this.#i += 4;
        const code = parseInt(m[0], 16);
        // A surrogate pair written as two escapes is one code point, as the engine matches by code point.
        const low = /^\\u(d[c-f][0-9a-f]{2})/i.exec(src.slice(this.#i, this.#i + 6));
        if (code >= 0xd800 && code <= 0xdbff && low) {
          this.#i += 6;
          return 0x10000 + ((code - 0xd800) << 10) + (parseInt(low[1]!, 16) - 0xdc00);
        }
        return code;
      }
      case 'c': {
        const letter = src[this.#i] ?? '';
        // Annex B: inside a class, digits and _ are control letters too; elsewhere `\c` is a backslash.
        if (/[A-Za-z]/.test(letter) || (inClass && !unicode && /[0-9_]/.test(letter))) {
          this.#i++;
          return letter.charCodeAt(0) % 32;
        }
        this.#i--;
        return 0x5c;
      }
      default: {
        // An identity escape: the character itself (a surrogate pair after `\` is one code point).
        this.#i--;
        return this.#codePoint();
      }
    }
  }

  #property(e: string, at: number): string {
    const end = this.#src.indexOf('}', this.#i);
    const body = this.#src.slice(this.#i + 1, end);
    this.#i = end + 1;
    const [key, value] = body.includes('=') ? body.split('=') : [undefined, body];
    if (key === 'Script_Extensions' || key === 'scx') {
      this.#unsupported('Unicode property', `Script_Extensions properties (\\${e}{${body}})`, 'use the script itself, e.g. \\p{Greek}', at);
    }
    return `\\${e}{${value}}`;
  }

  #class(): string {
    const src = this.#src;
    this.#i++;
    const negated = src[this.#i] === '^';
    if (negated) this.#i++;
    const atoms: string[] = [];
    while (src[this.#i] !== ']') {
      const from = this.#classAtom();
      if (src[this.#i] === '-' && src[this.#i + 1] !== ']' && src[this.#i + 1] !== undefined) {
        const dash = this.#i;
        this.#i++;
        const to = this.#classAtom();
        if (from.kind === 'char' && to.kind === 'char') {
          atoms.push(`${classChar(from.code)}-${classChar(to.code)}`);
          continue;
        }
        // Annex B: a set on either side makes the dash a literal, e.g. [\w-z].
        atoms.push(atomText(from), classChar(src.charCodeAt(dash)), atomText(to));
        continue;
      }
      atoms.push(atomText(from));
    }
    this.#i++;
    // ECMAScript's [] matches nothing and [^] matches anything; RE2 has no empty class.
    if (atoms.length === 0) return negated ? `[${ANY}]` : `[^${ANY}]`;
    return `[${negated ? '^' : ''}${atoms.join('')}]`;
  }

  #classAtom(): ClassAtom {
    const src = this.#src;
    if (src[this.#i] !== '\\') return { kind: 'char', code: this.#codePoint() };
    const at = this.#i;
    const e = src[at + 1]!;
    this.#i += 2;
    switch (e) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return { kind: 'set', text: `\\${e}` };
      case 's':
        return { kind: 'set', text: SPACE };
      case 'S':
        return { kind: 'set', text: NOT_SPACE };
      case 'b':
        return { kind: 'char', code: 0x08 };
      case 'p':
      case 'P':
        if (!this.#options.unicode) return { kind: 'char', code: e.charCodeAt(0) };
        return { kind: 'set', text: this.#property(e, at) };
      default:
        if (/[1-9]/.test(e)) {
          // Annex B: inside a class \1–\7 are legacy octal escapes, \8 and \9 the digits.
          if (/[1-7]/.test(e)) this.#legacyOctal(at);
          return { kind: 'char', code: e.charCodeAt(0) };
        }
        return { kind: 'char', code: this.#characterEscape(e, at, true) };
    }
  }
}

function atomText(atom: ClassAtom): string {
  return atom.kind === 'char' ? classChar(atom.code) : atom.text;
}

/** A code point inside an RE2 class: letters and digits as they are, anything else by number. */
function classChar(code: number): string {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ? String.fromCharCode(code) : `\\x{${code.toString(16)}}`;
}

/** A literal code point outside a class, escaped when RE2 would read it as syntax. */
function literal(code: number): string {
  const ch = String.fromCodePoint(code);
  if (RE2_META.has(ch)) return `\\${ch}`;
  return code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff) ? `\\x{${code.toString(16)}}` : ch;
}
