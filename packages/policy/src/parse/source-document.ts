import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument as parseYamlDocument, type Node as YamlNode } from 'yaml';
import type { Diagnostic } from '../diagnostic.js';
import { countParsedKeys, countWrittenKeys, JsonOffsetIndex } from './json-offset-index.js';

/** A 1-based line and column in a source file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * A parsed JSON or YAML file that remembers where every node came from, so that any
 * later stage (schema validation, compile, lint, tests) can point at file:line:col by
 * JSON pointer.
 */
export interface SourceDocument {
  readonly file: string;
  readonly format: 'json' | 'yaml';
  readonly text: string;
  /** The parsed value. Objects are plain; a `__proto__` key is an own property, never a prototype. */
  readonly value: unknown;
  /**
   * Where the node at `pointer` starts: its key when `at` is `key` and the node is an
   * object member, else its value. Falls back to the nearest ancestor that exists.
   */
  positionOf(pointer: string, at?: 'key' | 'value'): SourcePosition;
}

/** The result of parsing: a document when the text was well-formed, and the problems found. */
export interface ParseResult {
  readonly document: SourceDocument | undefined;
  readonly diagnostics: readonly Diagnostic[];
}

/** Options of {@link parseSourceDocument}. */
export interface ParseOptions {
  /** Force a format; by default `.yaml`/`.yml` files are YAML and everything else JSON. */
  readonly format?: 'json' | 'yaml';
  /** Most diagnostics to collect before stopping (default 100). */
  readonly maxDiagnostics?: number;
}

/** Escapes one JSON pointer reference token (RFC 6901). */
export function pointerToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Joins reference tokens into a JSON pointer: `pointerOf('tools', 'x', 0)` is `/tools/x/0`. */
export function pointerOf(...tokens: ReadonlyArray<string | number>): string {
  let out = '';
  for (const t of tokens) out += '/' + pointerToken(t);
  return out;
}

/** The value a JSON pointer (RFC 6901) names in `root`; undefined when there is none. */
export function valueAtPointer(root: unknown, pointer: string): unknown {
  let v = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * Parses JSON or YAML text into a {@link SourceDocument}. Syntax errors and duplicate keys
 * come back as diagnostics (codes TG001, TG002) with their position; nothing throws.
 *
 * @example
 * const { document, diagnostics } = parseSourceDocument(text, 'policies/ccxt/policy.json');
 */
export function parseSourceDocument(text: string, file: string, options: ParseOptions = {}): ParseResult {
  const format = options.format ?? (/\.ya?ml$/i.test(file) ? 'yaml' : 'json');
  const max = options.maxDiagnostics ?? 100;
  return format === 'yaml' ? parseYaml(text, file, max) : parseJson(text, file, max);
}

interface Span {
  keyOffset: number;
  valueOffset: number;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function positionAt(starts: readonly number[], offset: number): SourcePosition {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A document whose positions come from `locate`, resolved only when someone asks. */
function makeDocument(
  file: string,
  format: 'json' | 'yaml',
  text: string,
  value: unknown,
  locate: (pointer: string) => Span | undefined,
): SourceDocument {
  let starts: number[] | undefined;
  return {
    file,
    format,
    text,
    value,
    positionOf(pointer: string, at: 'key' | 'value' = 'value'): SourcePosition {
      starts ??= lineStarts(text);
      let p = pointer;
      for (;;) {
        const span = locate(p);
        if (span) return positionAt(starts, at === 'key' ? span.keyOffset : span.valueOffset);
        if (p === '') return { line: 1, column: 1 };
        p = p.slice(0, p.lastIndexOf('/'));
      }
    },
  };
}

/** Finds the node at a JSON pointer in a parse tree: the last property wins, as in JSON.parse. */
function locateJson(root: JsonNode, pointer: string): Span | undefined {
  let node: JsonNode = root;
  let keyOffset = root.offset;
  for (const token of decodePointer(pointer)) {
    if (node.type === 'object') {
      let found: JsonNode | undefined;
      for (const prop of node.children ?? []) {
        const keyNode = prop.children?.[0];
        if (keyNode && keyNode.value === token && prop.children?.[1]) found = prop;
      }
      if (!found) return undefined;
      keyOffset = found.children![0]!.offset;
      node = found.children![1]!;
    } else if (node.type === 'array') {
      const item = /^(0|[1-9][0-9]*)$/.test(token) ? node.children?.[Number(token)] : undefined;
      if (!item) return undefined;
      keyOffset = item.offset;
      node = item;
    } else {
      return undefined;
    }
  }
  return { keyOffset, valueOffset: node.offset };
}

function parseJson(text: string, file: string, max: number): ParseResult {
  // Fast path: valid JSON without repeated keys (the written keys equal the parsed ones)
  // needs no parse tree; positions are found in the text when asked for.
  let parsed: { value: unknown } | undefined;
  try {
    parsed = { value: JSON.parse(text) as unknown };
  } catch {
    parsed = undefined;
  }
  if (parsed && countWrittenKeys(text) === countParsedKeys(parsed.value)) {
    const index = new JsonOffsetIndex(text);
    return { document: makeDocument(file, 'json', text, parsed.value, (pointer) => index.locate(decodePointer(pointer))), diagnostics: [] };
  }
  // Otherwise a parse tree says where the syntax errors and the repeated keys are.
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  let starts: number[] | undefined;
  const at = (offset: number): SourcePosition => positionAt((starts ??= lineStarts(text)), offset);
  const diagnostics: Diagnostic[] = [];
  for (const e of errors.slice(0, max)) {
    diagnostics.push({
      code: 'TG001',
      severity: 'error',
      file,
      ...at(e.offset),
      message: `invalid JSON: ${describeJsonError(printParseErrorCode(e.error))}`,
    });
  }
  if (diagnostics.length > 0 || !root) {
    if (diagnostics.length === 0) diagnostics.push({ code: 'TG001', severity: 'error', file, line: 1, column: 1, message: 'invalid JSON: the file is empty' });
    return { document: undefined, diagnostics };
  }
  // Duplicate keys: a walk over the objects only. Pointers are built for the few duplicates
  // found, never for every node, so large files (test suites) parse in linear time.
  const walk = (node: JsonNode, path: () => string): void => {
    if (node.type === 'object') {
      const seen = new Set<string>();
      for (const prop of node.children ?? []) {
        const [keyNode, valueNode] = prop.children ?? [];
        if (!keyNode || !valueNode) continue;
        const key = String(keyNode.value);
        const child = (): string => path() + '/' + pointerToken(key);
        if (seen.has(key) && diagnostics.length < max) {
          diagnostics.push({
            code: 'TG002',
            severity: 'error',
            file,
            ...at(keyNode.offset),
            message: `duplicate key "${key}": JSON parsers disagree on which value wins`,
            pointer: child(),
            hint: 'remove one of the two',
          });
        }
        seen.add(key);
        if (valueNode.type === 'object' || valueNode.type === 'array') walk(valueNode, child);
      }
    } else if (node.type === 'array') {
      const items = node.children ?? [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item.type === 'object' || item.type === 'array') walk(item, () => `${path()}/${i}`);
      }
    }
  };
  walk(root, () => '');
  if (diagnostics.length > 0) return { document: undefined, diagnostics };
  // JSON.parse makes `__proto__` an own property, where a tree walk that assigns keys would not.
  const value: unknown = JSON.parse(text);
  return { document: makeDocument(file, 'json', text, value, (pointer) => locateJson(root, pointer)), diagnostics };
}

function describeJsonError(code: string): string {
  const words: Record<string, string> = {
    InvalidSymbol: 'unexpected character',
    InvalidNumberFormat: 'malformed number',
    PropertyNameExpected: 'expected a property name in double quotes',
    ValueExpected: 'expected a value',
    ColonExpected: 'expected ":"',
    CommaExpected: 'expected ","',
    CloseBraceExpected: 'expected "}"',
    CloseBracketExpected: 'expected "]"',
    EndOfFileExpected: 'unexpected content after the end of the document',
    InvalidCommentToken: 'comments are not allowed in JSON',
    UnexpectedEndOfComment: 'unterminated comment',
    UnexpectedEndOfString: 'unterminated string',
    UnexpectedEndOfNumber: 'unterminated number',
    InvalidUnicode: 'invalid unicode escape',
    InvalidEscapeCharacter: 'invalid escape character',
    InvalidCharacter: 'invalid character in string',
  };
  return words[code] ?? code;
}

function parseYaml(text: string, file: string, max: number): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseYamlDocument(text, { lineCounter, uniqueKeys: true, strict: true, prettyErrors: false, version: '1.2' });
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors.slice(0, max)) {
    const pos = lineCounter.linePos(e.pos[0]);
    diagnostics.push({
      code: e.code === 'DUPLICATE_KEY' ? 'TG002' : 'TG001',
      severity: 'error',
      file,
      line: pos.line,
      column: pos.col,
      message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    });
  }
  if (diagnostics.length > 0) return { document: undefined, diagnostics };
  let value: unknown;
  try {
    // A small alias budget keeps "billion laughs" documents from expanding without bound.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    diagnostics.push({ code: 'TG001', severity: 'error', file, line: 1, column: 1, message: `invalid YAML: ${(error as Error).message}` });
    return { document: undefined, diagnostics };
  }
  const spans = new Map<string, Span>();
  const walk = (node: YamlNode | null | undefined, pointer: string, keyOffset: number): void => {
    if (!node) return;
    const valueOffset = node.range?.[0] ?? keyOffset;
    spans.set(pointer, { keyOffset, valueOffset });
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyStart = (pair.key as YamlNode | null)?.range?.[0] ?? valueOffset;
        walk(pair.value as YamlNode | null, pointer + '/' + pointerToken(key), keyStart);
        if (!pair.value) spans.set(pointer + '/' + pointerToken(key), { keyOffset: keyStart, valueOffset: keyStart });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const n = item as YamlNode | null;
        walk(n, `${pointer}/${i}`, n?.range?.[0] ?? valueOffset);
      });
    }
  };
  walk(doc.contents as YamlNode | null, '', 0);
  return { document: makeDocument(file, 'yaml', text, value, (pointer) => spans.get(pointer)), diagnostics };
}
