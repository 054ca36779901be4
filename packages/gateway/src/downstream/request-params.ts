import { ClientRequestSchema } from '@modelcontextprotocol/sdk/types.js';

/** One problem the SDK's request schema found (the parts of a zod issue that are read here). */
interface SchemaIssue {
  readonly code: string;
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
  readonly expected?: string;
  readonly values?: readonly unknown[];
  readonly errors?: ReadonlyArray<readonly SchemaIssue[]>;
}

interface RequestSchema {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: readonly SchemaIssue[] } };
}

/** The SDK's schema of each client request, by method: the same schemas the SDK's handlers parse with. */
const SCHEMAS: ReadonlyMap<string, RequestSchema> = new Map(ClientRequestSchema.options.map((schema) => [schema.shape.method.value, schema as unknown as RequestSchema]));

/** Most problems named in one message. */
const MAX_NAMED = 3;

/**
 * What is wrong with a request's params, in words, or undefined when they are what MCP
 * defines for the method (or the method is not an MCP client request: that is for the
 * session to answer, with "Method not found").
 *
 * The SDK parses params with these schemas inside its handler wrapper, where a mismatch
 * becomes -32603 with the raw schema errors; checking first lets the gateway answer -32602
 * (Invalid params) saying which field must be what, and leaves what valid requests carry
 * exactly as the SDK parses it.
 *
 * @example
 * requestParamsProblem({ method: 'tools/call', params: { name: 7 } });
 * // -> 'Invalid params: in tools/call, params.name must be a string, not a number'
 */
export function requestParamsProblem(request: { readonly method: string; readonly params?: unknown }): string | undefined {
  const schema = SCHEMAS.get(request.method);
  if (!schema) return undefined;
  const parsed = schema.safeParse({ method: request.method, params: request.params });
  if (parsed.success) return undefined;
  const issues = parsed.error.issues;
  const named = issues.slice(0, MAX_NAMED).map((issue) => describe(issue, request, []));
  const more = issues.length > MAX_NAMED ? ` (and ${issues.length - MAX_NAMED} more)` : '';
  return `Invalid params: in ${request.method}, ${named.join('; ')}${more}`;
}

function describe(issue: SchemaIssue, root: unknown, base: ReadonlyArray<PropertyKey>): string {
  const path = [...base, ...issue.path];
  const where = pathText(path);
  const value = valueAt(root, path);
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `${where} is missing: it must be ${expectedText(issue.expected)}` : `${where} must be ${expectedText(issue.expected)}, not ${kindOf(value)}`;
    case 'invalid_value': {
      const values = (issue.values ?? []).map((v) => JSON.stringify(v));
      return `${where} must be ${values.length === 1 ? values[0] : `one of ${values.join(', ')}`}${value === undefined ? ' (it is missing)' : `, not ${shown(value)}`}`;
    }
    case 'invalid_union': {
      const branches = issue.errors ?? [];
      // A value of the wrong type for every branch: "a string or a number".
      if (branches.length > 0 && branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0)) {
        return `${where} must be ${branches.map((b) => expectedText(b[0]!.expected)).join(' or ')}, not ${kindOf(value)}`;
      }
      const forms = branches.map((b, i) => `form ${i + 1}: ${b.map((issue) => describe(issue, root, path)).join(', and ')}`);
      return `${where} matches none of the forms MCP defines (${forms.join('; ')})`;
    }
    default:
      return `${where} is not valid: ${issue.message}`;
  }
}

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let text = '';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `${text === '' ? '' : '.'}${String(key)}`;
  return text === '' ? 'the request' : text;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function expectedText(expected: string | undefined): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'object':
    case 'record':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return expected === undefined ? 'something else' : `of type ${expected}`;
  }
}

/** A short string or a number as itself, anything else by its kind. */
function shown(value: unknown): string {
  if ((typeof value === 'string' && value.length <= 40) || typeof value === 'number') return JSON.stringify(value);
  return kindOf(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
