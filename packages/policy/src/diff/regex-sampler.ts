/**
 * Strings that a `regex` condition's pattern matches and does not match, for the example
 * calls of `tollgate diff`. The matching string is derived from the pattern itself for the
 * common subset of ECMAScript syntax (literals, escapes, classes, groups, alternation,
 * quantifiers); every string returned has been tested against the compiled pattern, so a
 * pattern outside that subset yields fewer samples, never wrong ones.
 *
 * @example sampleRegex('^bc1q[a-z0-9]{6,}$') // { matching: ['bc1qaaaaaa'], notMatching: ['', …] }
 */
export function sampleRegex(pattern: string, flags = '', hints: readonly string[] = []): { matching: string[]; notMatching: string[] } {
  let re: RegExp;
  try {
    re = new RegExp(pattern, flags.replace(/[gy]/g, ''));
  } catch {
    return { matching: [], notMatching: [] };
  }
  const derived: string[] = [];
  try {
    const parser = new PatternSampler(pattern);
    derived.push(parser.sample());
  } catch {
    // Outside the supported subset: fall back to the hints.
  }
  // Values the catalog or other conditions name read more naturally than derived ones: they lead.
  const candidates = [...hints, ...derived];
  const matching = unique(candidates.filter((s) => re.test(s)));
  const outside = ['', '~', 'x', '0', 'zz-not-matching'];
  // Near misses first: the matching sample one character short, or with something around it.
  for (const m of matching.slice(0, 1)) outside.unshift(m.slice(0, -1), `~${m}`, `${m}~`, `~${m}~`);
  const notMatching = unique([...hints, ...outside].filter((s) => !re.test(s)));
  return { matching, notMatching };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

const DIGIT = '0';
const WORD = 'a';

/** A recursive-descent walk over a pattern that builds the shortest string it matches. */
class PatternSampler {
  #i = 0;
  readonly #src: string;

  constructor(src: string) {
    this.#src = src;
  }

  sample(): string {
    const out = this.#alternation();
    if (this.#i < this.#src.length) throw new SyntaxError('unsupported pattern');
    return out;
  }

  #peek(): string | undefined {
    return this.#src[this.#i];
  }

  #alternation(): string {
    // The first alternative is as good as any: the result is verified afterwards.
    const first = this.#sequence();
    while (this.#peek() === '|') {
      this.#i++;
      this.#sequence();
    }
    return first;
  }

  #sequence(): string {
    let out = '';
    for (;;) {
      const c = this.#peek();
      if (c === undefined || c === '|' || c === ')') return out;
      const atom = this.#atom();
      out += this.#quantified(atom);
    }
  }

  #quantified(atom: string): string {
    const c = this.#peek();
    let min = 1;
    if (c === '?' || c === '*') {
      this.#i++;
      min = 0;
    } else if (c === '+') {
      this.#i++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#src.slice(this.#i));
      if (m) {
        this.#i += m[0].length;
        min = Number(m[1]);
      }
    } else {
      return atom;
    }
    if (this.#peek() === '?') this.#i++; // lazy
    // The fewest repetitions the quantifier allows: the shortest matching string.
    return atom.repeat(min);
  }

  #atom(): string {
    const c = this.#src[this.#i++]!;
    switch (c) {
      case '^':
      case '$':
        return '';
      case '.':
        return WORD;
      case '(': {
        if (this.#src.startsWith('?:', this.#i)) this.#i += 2;
        else if (this.#src.startsWith('?<', this.#i) && !/^\?<[=!]/.test(this.#src.slice(this.#i))) this.#i = this.#src.indexOf('>', this.#i) + 1;
        else if (this.#peek() === '?') throw new SyntaxError('lookaround');
        const inner = this.#alternation();
        if (this.#src[this.#i++] !== ')') throw new SyntaxError('unclosed group');
        return inner;
      }
      case '[':
        return this.#characterClass();
      case '\\':
        return this.#escape();
      default:
        return c;
    }
  }

  #escape(): string {
    const c = this.#src[this.#i++];
    if (c === undefined) throw new SyntaxError('trailing backslash');
    switch (c) {
      case 'd':
        return DIGIT;
      case 'w':
        return WORD;
      case 's':
        return ' ';
      case 'D':
      case 'W':
      case 'S':
        return '-';
      case 'b':
      case 'B':
        return '';
      case 'n':
        return '\n';
      case 't':
        return '\t';
      default:
        if (/[1-9]/.test(c)) throw new SyntaxError('back reference');
        return c;
    }
  }

  #characterClass(): string {
    const negated = this.#peek() === '^';
    if (negated) this.#i++;
    const members: Array<[number, number]> = [];
    let first = true;
    while (this.#peek() !== ']' || first) {
      first = false;
      const c = this.#src[this.#i++];
      if (c === undefined) throw new SyntaxError('unclosed class');
      let lo: string = c;
      if (c === '\\') {
        const e = this.#src[this.#i++];
        if (e === undefined) throw new SyntaxError('trailing backslash');
        if (e === 'd') {
          members.push([48, 57]);
          continue;
        }
        if (e === 'w') {
          members.push([97, 122], [65, 90], [48, 57], [95, 95]);
          continue;
        }
        if (e === 's') {
          members.push([32, 32]);
          continue;
        }
        lo = e === 'n' ? '\n' : e === 't' ? '\t' : e;
      }
      if (this.#peek() === '-' && this.#src[this.#i + 1] !== ']' && this.#src[this.#i + 1] !== undefined) {
        this.#i++;
        let hi = this.#src[this.#i++]!;
        if (hi === '\\') hi = this.#src[this.#i++] ?? '\\';
        members.push([lo.charCodeAt(0), hi.charCodeAt(0)]);
      } else {
        members.push([lo.charCodeAt(0), lo.charCodeAt(0)]);
      }
    }
    this.#i++;
    if (!negated) {
      const m = members[0];
      if (!m) throw new SyntaxError('empty class');
      return String.fromCharCode(m[0]);
    }
    for (const candidate of 'aZ0_-~ x') {
      const code = candidate.charCodeAt(0);
      if (!members.some(([lo, hi]) => code >= lo && code <= hi)) return candidate;
    }
    throw new SyntaxError('class excludes every candidate');
  }
}
