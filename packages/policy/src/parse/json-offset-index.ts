/**
 * Offsets into JSON text that `JSON.parse` has already accepted, found by scanning the text
 * lazily: a container's children are indexed the first time a pointer goes through it, and
 * never again. Large documents (test suites of thousands of cases) thus cost one native
 * parse plus a scan of the paths someone asks about, instead of a node per value.
 */

/** Where a member starts: its key (the index's value for array items) and its value. */
export interface MemberOffsets {
  readonly keyOffset: number;
  readonly valueOffset: number;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Offset just past the string starting at `i` (which holds a quote). */
function skipString(text: string, i: number): number {
  for (;;) {
    const q = text.indexOf('"', i + 1);
    if (q < 0) return text.length;
    // The quote is escaped when an odd number of backslashes precede it.
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    i = q;
  }
}

/** Offset just past the value starting at `i`. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) i = skipString(text, i) - 1;
      else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return i;
  }
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
    i++;
  }
  return i;
}

/**
 * Counts the object keys written in valid JSON text (a string followed by a colon).
 * Compared with the keys of the parsed value, it tells whether any object repeats a key.
 */
export function countWrittenKeys(text: string): number {
  let keys = 0;
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i)) {
    const j = skipSpace(text, skipString(text, i));
    if (text.charCodeAt(j) === COLON) keys++;
    i = j;
  }
  return keys;
}

/** Counts the own keys of every object in a parsed JSON value. */
export function countParsedKeys(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const v of value) n += countParsedKeys(v);
    return n;
  }
  for (const k of Object.keys(value)) n += 1 + countParsedKeys((value as Record<string, unknown>)[k]);
  return n;
}

/**
 * Resolves JSON pointers to offsets in valid JSON text. Each container is indexed once, on
 * the first pointer through it; for duplicate keys the last one wins, as in `JSON.parse`.
 */
export class JsonOffsetIndex {
  readonly #text: string;
  readonly #root: number;
  readonly #children = new Map<number, Map<string, MemberOffsets>>();

  constructor(text: string) {
    this.#text = text;
    this.#root = skipSpace(text, 0);
  }

  /** Offsets of the node at `tokens` (decoded pointer tokens), or undefined when there is none. */
  locate(tokens: readonly string[]): MemberOffsets | undefined {
    let at: MemberOffsets = { keyOffset: this.#root, valueOffset: this.#root };
    for (const token of tokens) {
      const next = this.#members(at.valueOffset)?.get(token);
      if (!next) return undefined;
      at = next;
    }
    return at;
  }

  #members(offset: number): Map<string, MemberOffsets> | undefined {
    const cached = this.#children.get(offset);
    if (cached) return cached;
    const text = this.#text;
    const open = text.charCodeAt(offset);
    if (open !== OPEN_BRACE && open !== OPEN_BRACKET) return undefined;
    const members = new Map<string, MemberOffsets>();
    let i = skipSpace(text, offset + 1);
    let index = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === CLOSE_BRACE || c === CLOSE_BRACKET) break;
      if (c === COMMA) {
        i = skipSpace(text, i + 1);
        continue;
      }
      if (open === OPEN_BRACE) {
        const keyEnd = skipString(text, i);
        const key = JSON.parse(text.slice(i, keyEnd)) as string;
        const valueOffset = skipSpace(text, skipSpace(text, keyEnd) + 1);
        members.set(key, { keyOffset: i, valueOffset });
        i = skipSpace(text, skipValue(text, valueOffset));
      } else {
        members.set(String(index++), { keyOffset: i, valueOffset: i });
        i = skipSpace(text, skipValue(text, i));
      }
    }
    this.#children.set(offset, members);
    return members;
  }
}
