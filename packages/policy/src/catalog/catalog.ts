import type { Diagnostic } from '../diagnostic.js';
import { isJsonObject } from '../json-value.js';
import { classifyTool, RISK_CATEGORIES, RISK_LEVELS, type RiskClass, type ToolAnnotations } from './risk-classifier.js';
import { pointerOf, parseSourceDocument, type SourceDocument } from '../parse/source-document.js';

/** One tool of a server's `tools/list`, plus Tollgate's reviewed risk class when the catalog stores one. */
export interface CatalogTool {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  /** The JSON Schema of the tool's arguments (an object schema). */
  readonly inputSchema: Readonly<Record<string, unknown>>;
  readonly annotations?: ToolAnnotations;
  /** The risk class written by `tollgate catalog pull` (and maybe reviewed); it overrides classification. */
  readonly risk?: RiskClass;
}

/**
 * A snapshot of one MCP server's `tools/list` (`catalog.json`), which lint checks policies
 * against: tool names, argument names and types, and risk classes.
 */
export interface Catalog {
  /** The server's name, when the snapshot records it. */
  readonly server?: string;
  readonly tools: readonly CatalogTool[];
  /** The file it was read from, for messages. */
  readonly file?: string;
}

/** The result of {@link parseCatalog}: a catalog when the text is a valid snapshot, and every problem found. */
export interface CatalogParseResult {
  readonly catalog: Catalog | undefined;
  readonly diagnostics: Diagnostic[];
  /** The parsed document, when the text was well-formed. */
  readonly document: SourceDocument | undefined;
}

/** The JSON Schema types an argument may have. */
const ANNOTATION_HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

/**
 * Parses `catalog.json` (or YAML) and checks its structure: `{ "server"?, "tools": [ { "name",
 * "description"?, "inputSchema", "annotations"?, "risk"? } ] }`. Every problem is a TG206
 * diagnostic at its file:line:col (syntax errors are TG001/TG002); a tool listed twice is
 * an error. Keys that newer MCP versions add (`title`, `outputSchema`, `_meta`, …) are kept
 * out of the model but accepted. Never throws.
 *
 * @example
 * const { catalog, diagnostics } = parseCatalog(text, 'policies/ccxt/catalog.json');
 */
export function parseCatalog(text: string, file: string): CatalogParseResult {
  const parsed = parseSourceDocument(text, file);
  const document = parsed.document;
  if (!document) return { catalog: undefined, diagnostics: [...parsed.diagnostics], document: undefined };
  const diagnostics: Diagnostic[] = [];
  const report = (pointer: string, message: string, hint?: string, at: 'key' | 'value' = 'value'): void => {
    if (diagnostics.length >= 100) return;
    const pos = document.positionOf(pointer, at);
    diagnostics.push({ code: 'TG206', severity: 'error', file, line: pos.line, column: pos.column, message, pointer, ...(hint ? { hint } : {}) });
  };
  const root = document.value;
  if (!isJsonObject(root)) {
    report('', 'a catalog must be an object { "server"?, "tools": [...] }', 'write the output of `tollgate catalog pull`');
    return { catalog: undefined, diagnostics, document };
  }
  if (root.server !== undefined && typeof root.server !== 'string') report('/server', '"server" must be a string');
  if (!Array.isArray(root.tools)) {
    report(root.tools === undefined ? '' : '/tools', root.tools === undefined ? 'the catalog has no "tools" list' : '"tools" must be an array of tools', 'a catalog is a snapshot of the server\'s tools/list');
    return { catalog: undefined, diagnostics, document };
  }
  const tools: CatalogTool[] = [];
  const firstSeen = new Map<string, number>();
  root.tools.forEach((raw, i) => {
    const at = pointerOf('tools', i);
    const tool = checkTool(raw, at, report);
    if (!tool) return;
    const first = firstSeen.get(tool.name);
    if (first !== undefined) {
      const pos = document.positionOf(pointerOf('tools', first, 'name'));
      report(`${at}/name`, `tool "${tool.name}" is listed twice (first at line ${pos.line})`, 'keep one entry per tool name');
      return;
    }
    firstSeen.set(tool.name, i);
    tools.push(tool);
  });
  if (diagnostics.length > 0) return { catalog: undefined, diagnostics, document };
  const catalog: Catalog = { ...(typeof root.server === 'string' ? { server: root.server } : {}), tools, file };
  return { catalog, diagnostics, document };
}

function checkTool(raw: unknown, at: string, report: (pointer: string, message: string, hint?: string, at?: 'key' | 'value') => void): CatalogTool | undefined {
  if (!isJsonObject(raw)) {
    report(at, `tools[${at.split('/').pop()}] must be an object with "name" and "inputSchema"`);
    return undefined;
  }
  let ok = true;
  const fail = (pointer: string, message: string, hint?: string): void => {
    ok = false;
    report(pointer, message, hint);
  };
  const name = raw.name;
  if (typeof name !== 'string' || name.length === 0) fail(name === undefined ? at : `${at}/name`, `${name === undefined ? 'a tool has no "name"' : '"name" must be a non-empty string'}`);
  const label = typeof name === 'string' && name.length > 0 ? `tool "${name}"` : 'this tool';
  if (raw.description !== undefined && typeof raw.description !== 'string') fail(`${at}/description`, `${label}: "description" must be a string`);
  if (raw.title !== undefined && typeof raw.title !== 'string') fail(`${at}/title`, `${label}: "title" must be a string`);
  const schema = raw.inputSchema;
  if (!isJsonObject(schema)) {
    fail(schema === undefined ? at : `${at}/inputSchema`, `${label}: ${schema === undefined ? 'has no "inputSchema"' : '"inputSchema" must be a JSON Schema object'}`, 'MCP tools describe their arguments with an object schema, e.g. { "type": "object", "properties": {} }');
  } else if (schema.type !== undefined && schema.type !== 'object') {
    fail(`${at}/inputSchema/type`, `${label}: "inputSchema" must have type "object" (got ${JSON.stringify(schema.type)})`, 'tool arguments are always an object');
  }
  const annotations = raw.annotations;
  if (annotations !== undefined) {
    if (!isJsonObject(annotations)) {
      fail(`${at}/annotations`, `${label}: "annotations" must be an object`);
    } else {
      for (const hint of ANNOTATION_HINTS) {
        if (annotations[hint] !== undefined && typeof annotations[hint] !== 'boolean') fail(`${at}/annotations/${hint}`, `${label}: "${hint}" must be true or false`);
      }
      if (annotations.title !== undefined && typeof annotations.title !== 'string') fail(`${at}/annotations/title`, `${label}: "annotations.title" must be a string`);
    }
  }
  const risk = raw.risk;
  if (risk !== undefined) {
    if (!isJsonObject(risk)) {
      fail(`${at}/risk`, `${label}: "risk" must be { "level", "category" }`);
    } else {
      if (!RISK_LEVELS.includes(risk.level as never)) fail(risk.level === undefined ? `${at}/risk` : `${at}/risk/level`, `${label}: "risk.level" must be one of ${RISK_LEVELS.map((l) => `"${l}"`).join(', ')}${risk.level === undefined ? '' : ` (got ${JSON.stringify(risk.level)})`}`);
      if (!RISK_CATEGORIES.includes(risk.category as never)) fail(risk.category === undefined ? `${at}/risk` : `${at}/risk/category`, `${label}: "risk.category" must be one of ${RISK_CATEGORIES.map((c) => `"${c}"`).join(', ')}${risk.category === undefined ? '' : ` (got ${JSON.stringify(risk.category)})`}`);
      for (const key of Object.keys(risk)) if (key !== 'level' && key !== 'category') fail(`${at}/risk/${key}`, `${label}: unknown key "${key}" in "risk"`);
    }
  }
  if (!ok) return undefined;
  const a = annotations as ToolAnnotations | undefined;
  return {
    name: name as string,
    ...(typeof raw.title === 'string' ? { title: raw.title } : {}),
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    inputSchema: schema as Record<string, unknown>,
    ...(a ? { annotations: a } : {}),
    ...(isJsonObject(risk) ? { risk: { level: risk.level, category: risk.category } as RiskClass } : {}),
  };
}

const toolIndex = new WeakMap<Catalog, Map<string, CatalogTool>>();

/** Finds a tool of the catalog by name (the upstream's own name, without a `<server>__` prefix). */
export function findCatalogTool(catalog: Catalog, name: string): CatalogTool | undefined {
  let index = toolIndex.get(catalog);
  if (!index) {
    index = new Map();
    for (const t of catalog.tools) if (!index.has(t.name)) index.set(t.name, t);
    toolIndex.set(catalog, index);
  }
  return index.get(name);
}

/**
 * The input schema of every tool of a catalog, by name: what `compilePolicy`'s `inputSchemas`
 * takes, so that a policy checked against its catalog decides invalid arguments as the gateway does.
 */
export function catalogInputSchemas(catalog: Catalog): ReadonlyMap<string, object> {
  const schemas = new Map<string, object>();
  for (const t of catalog.tools) if (!schemas.has(t.name)) schemas.set(t.name, t.inputSchema);
  return schemas;
}

/** One tool as a server's `tools/list` returns it: the fields a catalog keeps (extra keys are ignored). */
export type ListedTool = CatalogTool;

/**
 * Builds a catalog from a server's `tools/list` result, keeping each tool's name, title,
 * description, input schema and annotations, and adding its risk class: the tool's own
 * `risk` when it already has one (a reviewed decision), else {@link classifyTool}'s.
 * This is what `tollgate catalog pull` writes to `catalog.json`.
 *
 * @example
 * const catalog = buildCatalog('ccxt', (await client.listTools()).tools);
 */
export function buildCatalog(server: string | undefined, tools: readonly ListedTool[]): Catalog {
  return {
    ...(server !== undefined ? { server } : {}),
    tools: tools.map((t) => ({
      name: t.name,
      ...(t.title !== undefined ? { title: t.title } : {}),
      ...(t.description !== undefined ? { description: t.description } : {}),
      inputSchema: t.inputSchema,
      ...(t.annotations !== undefined ? { annotations: t.annotations } : {}),
      risk: t.risk ?? classifyTool(t),
    })),
  };
}
