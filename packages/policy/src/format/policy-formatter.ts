import { parseTree, type Node as JsonNode } from 'jsonc-parser';
import { Document, isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair } from 'yaml';
import type { Diagnostic } from '../diagnostic.js';
import { PolicyError } from '../diagnostic.js';
import { jsonEqual } from '../json-value.js';
import { TEST_FILE_PATTERN } from '../policy-repository-layout.js';
import { parseSourceDocument } from '../parse/source-document.js';
import { childLayout, layoutOf, orderedKeys, type FormattedKind, type NodeLayout } from './document-layout.js';

/** The line width the formatter fits one-line nodes into, unless told otherwise. */
export const DEFAULT_FORMAT_WIDTH = 120;

/** Options of {@link formatDocument}. */
export interface FormatOptions {
  /** The kind of document; by default `*.test.json|yaml|yml` files are test files, everything else policies. */
  readonly kind?: FormattedKind;
  /** Force a format; by default `.yaml`/`.yml` files are YAML and everything else JSON. */
  readonly format?: 'json' | 'yaml';
  /** The line width one-line nodes must fit in (default {@link DEFAULT_FORMAT_WIDTH}). */
  readonly width?: number;
}

/** The result of {@link formatDocument}. */
export interface FormattedDocument {
  readonly kind: FormattedKind;
  readonly format: 'json' | 'yaml';
  /** The formatted text, or undefined when the input is not well-formed (see `diagnostics`). */
  readonly text: string | undefined;
  /** True when `text` differs from the input. */
  readonly changed: boolean;
  /** Syntax errors (TG001) and duplicate keys (TG002) with file:line:col; empty when formatted. */
  readonly diagnostics: readonly Diagnostic[];
}

/** The kind of document a file name says it is: `*.test.json|yaml|yml` are test files. */
export function formattedKindOf(file: string): FormattedKind {
  return TEST_FILE_PATTERN.test(file) ? 'test-file' : 'policy';
}

/**
 * Formats a policy or test file into Tollgate's canonical layout (docs/cli.md, `tollgate fmt`):
 * keys in the schema's reading order (see `POLICY_LAYOUT`, `TEST_FILE_LAYOUT`), tools and every
 * array in their written order, two-space indentation, a condition, limit, call or expectation
 * on one line when it fits the width, a trailing newline. JSON stays JSON (number literals are
 * kept as written); YAML stays YAML (comments and scalar styles are kept).
 *
 * Pure: text in, text out. The result always parses to a value deep-equal to the input's; the
 * formatter checks that itself and throws rather than return a text that would change meaning.
 *
 * @throws PolicyError `format.meaning-changed` if the formatted text would not parse to the same value (a bug).
 * @example
 * const { text, changed, diagnostics } = formatDocument(source, 'policies/ccxt/policy.json');
 */
export function formatDocument(text: string, file: string, options: FormatOptions = {}): FormattedDocument {
  const format = options.format ?? (/\.ya?ml$/i.test(file) ? 'yaml' : 'json');
  const kind = options.kind ?? formattedKindOf(file);
  const width = options.width ?? DEFAULT_FORMAT_WIDTH;
  const parsed = parseSourceDocument(text, file, { format });
  if (!parsed.document) return { kind, format, text: undefined, changed: false, diagnostics: parsed.diagnostics };
  const formatted = format === 'json' ? formatJsonText(text, layoutOf(kind), width) : formatYamlText(text, layoutOf(kind), width);
  const reparsed = parseSourceDocument(formatted, file, { format });
  if (!reparsed.document || !jsonEqual(reparsed.document.value, parsed.document.value)) {
    throw new PolicyError('format.meaning-changed', `${file}: formatting would change what the document means; it was left as it is`);
  }
  return { kind, format, text: formatted, changed: formatted !== text, diagnostics: [] };
}

/**
 * Writes a JSON value (a policy or a test file) in the canonical layout of {@link formatDocument}.
 * For documents built in memory, e.g. by an importer.
 *
 * @example
 * const text = formatJsonValue(policy, 'policy');
 */
export function formatJsonValue(value: unknown, kind: FormattedKind, width: number = DEFAULT_FORMAT_WIDTH): string {
  return `${printJson(fromValue(value), layoutOf(kind), '', 0, 0, width)}\n`;
}

/** A JSON value as the printer sees it: numbers keep the literal they were written as. */
type PrintNode =
  | { readonly kind: 'object'; readonly entries: ReadonlyArray<readonly [string, PrintNode]> }
  | { readonly kind: 'array'; readonly items: readonly PrintNode[] }
  | { readonly kind: 'literal'; readonly text: string };

function fromValue(value: unknown): PrintNode {
  if (Array.isArray(value)) return { kind: 'array', items: value.map(fromValue) };
  if (value !== null && typeof value === 'object') {
    return { kind: 'object', entries: Object.keys(value).map((k) => [k, fromValue((value as Record<string, unknown>)[k])] as const) };
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new PolicyError('format.not-json', `a ${typeof value} is not a JSON value`);
  return { kind: 'literal', text };
}

function fromTree(node: JsonNode, source: string): PrintNode {
  switch (node.type) {
    case 'object':
      return {
        kind: 'object',
        entries: (node.children ?? []).map((prop) => [String(prop.children![0]!.value), fromTree(prop.children![1]!, source)] as const),
      };
    case 'array':
      return { kind: 'array', items: (node.children ?? []).map((c) => fromTree(c, source)) };
    case 'number':
      // The literal as written: 1e3 stays 1e3, and digits beyond a double's precision are kept for other readers.
      return { kind: 'literal', text: source.slice(node.offset, node.offset + node.length) };
    default:
      return { kind: 'literal', text: JSON.stringify(node.value) };
  }
}

function formatJsonText(text: string, layout: NodeLayout, width: number): string {
  const root = parseTree(text, [], { disallowComments: true, allowTrailingComma: false });
  return `${printJson(fromTree(root!, text), layout, '', 0, 0, width)}\n`;
}

function orderedEntries(node: Extract<PrintNode, { kind: 'object' }>, layout: NodeLayout | undefined): Array<readonly [string, PrintNode]> {
  const byKey = new Map(node.entries.map((e) => [e[0], e] as const));
  return orderedKeys(node.entries.map((e) => e[0]), layout).map((k) => byKey.get(k)!);
}

/** True when a non-empty container's layout lets it be on one line with `count` members. */
function mayBeOneLine(layout: NodeLayout | undefined, count: number): boolean {
  if (count === 0) return true;
  return layout?.style !== 'block' && (layout?.lineMax === undefined || count <= layout.lineMax);
}

/** The node on one line, or undefined when its layout (or a descendant's) does not allow it. */
function flatJson(node: PrintNode, layout: NodeLayout | undefined): string | undefined {
  if (node.kind === 'literal') return node.text;
  if (node.kind === 'array') {
    if (node.items.length === 0) return '[]';
    if (!mayBeOneLine(layout, node.items.length)) return undefined;
    const items: string[] = [];
    for (let i = 0; i < node.items.length; i++) {
      const flat = flatJson(node.items[i]!, childLayout(layout, i));
      if (flat === undefined) return undefined;
      items.push(flat);
    }
    return `[${items.join(', ')}]`;
  }
  if (node.entries.length === 0) return '{}';
  if (!mayBeOneLine(layout, node.entries.length)) return undefined;
  const members: string[] = [];
  for (const [k, v] of orderedEntries(node, layout)) {
    const flat = flatJson(v, childLayout(layout, k));
    if (flat === undefined) return undefined;
    members.push(`${JSON.stringify(k)}: ${flat}`);
  }
  return `{ ${members.join(', ')} }`;
}

/**
 * Prints a node that starts after `prefix` characters on a line indented by `indent` and is
 * followed by `suffix` characters (a comma): on one line when its layout allows and it fits.
 */
function printJson(node: PrintNode, layout: NodeLayout | undefined, indent: string, prefix: number, suffix: number, width: number): string {
  if (node.kind === 'literal') return node.text;
  const empty = node.kind === 'array' ? node.items.length === 0 : node.entries.length === 0;
  if (empty) return node.kind === 'array' ? '[]' : '{}';
  const flat = flatJson(node, layout);
  if (flat !== undefined && indent.length + prefix + flat.length + suffix <= width) return flat;
  const inner = `${indent}  `;
  if (node.kind === 'array') {
    const lines = node.items.map((item, i) => inner + printJson(item, childLayout(layout, i), inner, 0, i < node.items.length - 1 ? 1 : 0, width));
    return `[\n${lines.join(',\n')}\n${indent}]`;
  }
  const entries = orderedEntries(node, layout);
  const lines = entries.map(([k, v], i) => {
    const key = `${JSON.stringify(k)}: `;
    return inner + key + printJson(v, childLayout(layout, k), inner, key.length, i < entries.length - 1 ? 1 : 0, width);
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

const YAML_OPTIONS = { version: '1.2', uniqueKeys: true, strict: true, prettyErrors: false } as const;

function hasComment(node: unknown): boolean {
  if (!isNode(node) && !isPair(node)) return false;
  if (isPair(node)) return hasComment(node.key) || hasComment(node.value);
  const n = node as YamlNode & { comment?: string | null; commentBefore?: string | null };
  if (n.comment || n.commentBefore) return true;
  if (isMap(n) || isSeq(n)) return n.items.some((item) => hasComment(item));
  return false;
}

/** True when the YAML node and its descendants may be on one line (see {@link mayBeOneLine}). */
function yamlMayBeOneLine(node: unknown, layout: NodeLayout | undefined): boolean {
  if (!isMap(node) && !isSeq(node)) return true;
  if (!mayBeOneLine(layout, node.items.length)) return false;
  if (isMap(node)) return (node.items as Pair[]).every((p) => yamlMayBeOneLine(p.value, childLayout(layout, keyText(p))));
  return node.items.every((item, i) => yamlMayBeOneLine(item, childLayout(layout, i)));
}

function oneLineYaml(node: YamlNode): string {
  const doc = new Document(null, { version: '1.2' });
  const copy = node.clone() as YamlNode & { flow?: boolean };
  copy.flow = true;
  doc.contents = copy as never;
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false }).trimEnd();
}

function keyText(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
}

/** Reorders and restyles YAML nodes in place; `column` is where the node starts (approximate). */
function layoutYaml(node: unknown, layout: NodeLayout | undefined, column: number, prefix: number, width: number): void {
  if (!isMap(node) && !isSeq(node)) return;
  if (isMap(node)) {
    const pairs = node.items as Pair[];
    const keys = pairs.map((p) => keyText(p));
    const byKey = new Map(pairs.map((p, i) => [keys[i]!, p] as const));
    node.items = orderedKeys(keys, layout).map((k) => byKey.get(k)!) as typeof node.items;
    for (const pair of node.items as Pair[]) {
      const key = keyText(pair);
      layoutYaml(pair.value, childLayout(layout, key), column + 2, key.length + 2, width);
    }
  } else {
    node.items.forEach((item, i) => layoutYaml(item, childLayout(layout, i), column + 2, 2, width));
  }
  if (!layout) return; // data (arguments, operands) keeps the style it was written in
  const empty = node.items.length === 0;
  if (layout.style === 'block') {
    node.flow = empty;
    return;
  }
  // Comments inside a collection need its block form; its own trailing comment does not.
  node.flow = empty || (!node.items.some((item) => hasComment(item)) && yamlMayBeOneLine(node, layout) && column + prefix + oneLineYaml(node).length <= width);
}

function formatYamlText(text: string, layout: NodeLayout, width: number): string {
  const doc = parseDocument(text, YAML_OPTIONS);
  // A comment above the first key belongs to the document, not to whichever key ends up first.
  const first = isMap(doc.contents) ? (doc.contents.items[0] as Pair | undefined) : undefined;
  const firstKey = first && isNode(first.key) ? (first.key as YamlNode & { commentBefore?: string | null }) : undefined;
  if (firstKey?.commentBefore) {
    doc.commentBefore = doc.commentBefore ? `${doc.commentBefore}\n${firstKey.commentBefore}` : firstKey.commentBefore;
    firstKey.commentBefore = null;
  }
  layoutYaml(doc.contents, layout, 0, 0, width);
  return doc.toString({ indent: 2, indentSeq: true, lineWidth: 0, flowCollectionPadding: false });
}
