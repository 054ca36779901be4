import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from './diagnostic.js';
import type { SourceDocument } from './source-document.js';

const require = createRequire(import.meta.url);

/** The JSON Schema of the policy language, version "1" (the single source of the language). */
export const policySchema: Record<string, unknown> = require('../schema/policy.schema.json');
/** The JSON Schema of `*.test.json` files. */
export const testFileSchema: Record<string, unknown> = require('../schema/test.schema.json');

type Ajv2020Ctor = new (options: Record<string, unknown>) => { compile(schema: unknown): ValidateFunction };
let validators: { policy: ValidateFunction; testFile: ValidateFunction } | undefined;

function load(): { policy: ValidateFunction; testFile: ValidateFunction } {
  if (!validators) {
    // ajv is CommonJS; loading it on first use keeps `tollgate --help` from paying for it.
    const Ajv2020 = (require('ajv/dist/2020') as { default: Ajv2020Ctor }).default;
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });
    validators = { policy: ajv.compile(policySchema), testFile: ajv.compile(testFileSchema) };
  }
  return validators;
}

/** Which schema a document is validated against. */
export type DocumentKind = 'policy' | 'test-file';

/**
 * Validates a parsed document against the schema of its kind and returns every error
 * (unknown keys are errors) as a TG010 diagnostic at the offending node's position.
 */
export function validateDocument(document: SourceDocument, kind: DocumentKind, maxDiagnostics = 100): Diagnostic[] {
  const validate = kind === 'policy' ? load().policy : load().testFile;
  if (validate(document.value)) return [];
  return schemaDiagnostics(validate.errors ?? [], document, kind).slice(0, maxDiagnostics);
}

function schemaDiagnostics(errors: readonly ErrorObject[], document: SourceDocument, kind: DocumentKind): Diagnostic[] {
  // The branches of anyOf/oneOf each report why they did not match; the combinator's own
  // error, described in words below, says it once. `if` only restates its `then`.
  const kept = errors.filter((e) => e.keyword !== 'if' && !/\/(anyOf|oneOf)\/\d+\//.test(e.schemaPath));
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const e of kept) {
    const { pointer, message, at } = describe(e, document.value, kind);
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const pos = document.positionOf(pointer, at);
    out.push({ code: 'TG010', severity: 'error', file: document.file, line: pos.line, column: pos.column, message, pointer });
  }
  return out;
}

function where(pointer: string): string {
  return pointer === '' ? 'the document' : pointer;
}

function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function describe(e: ErrorObject, root: unknown, kind: DocumentKind): { pointer: string; message: string; at: 'key' | 'value' } {
  const p = e.instancePath;
  const params = e.params as Record<string, unknown>;
  const actual = valueAt(root, p);
  const shown = actual === undefined ? '' : ` (got ${JSON.stringify(actual)?.slice(0, 60)})`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      return { pointer: `${p}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: `unknown key "${key}" in ${where(p)}`, at: 'key' };
    }
    case 'required': {
      const missing = String(params.missingProperty);
      const hint = missing === 'sequence' || missing === 'call' ? ' (a case has either "call" and "expect", or "sequence")' : '';
      return { pointer: p, message: `${where(p)} is missing the required key "${missing}"${hint}`, at: 'value' };
    }
    case 'enum':
      return { pointer: p, message: `${where(p)} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${shown}`, at: 'value' };
    case 'const':
      return { pointer: p, message: `${where(p)} must be ${JSON.stringify(params.allowedValue)}${shown}`, at: 'value' };
    case 'type':
      return { pointer: p, message: `${where(p)} must be of type ${String(params.type).replace(/,/g, ' or ')}${shown}`, at: 'value' };
    case 'pattern': {
      if (/\/(path|increment_from)$/.test(p)) {
        return { pointer: p, message: `${where(p)} is not a valid path${shown}: expected args.<field> (dots and [index] allowed), agent.id, agent.labels.<key> or session.id`, at: 'value' };
      }
      if (/\/timeout$/.test(p)) return { pointer: p, message: `${where(p)} must be a duration like "30s", "10m", "2h" or "1d"${shown}`, at: 'value' };
      if (/\/at$/.test(p)) return { pointer: p, message: `${where(p)} must be an ISO 8601 time with a zone, like "2026-01-01T00:01:00Z"${shown}`, at: 'value' };
      if (/\/flags$/.test(p)) return { pointer: p, message: `${where(p)} may hold each of the regex flags i, m, s, u at most once${shown}`, at: 'value' };
      if (/\/id$/.test(p)) return { pointer: p, message: `${where(p)} must start with a letter or digit and hold only letters, digits, "_", ".", ":" and "-"${shown}`, at: 'value' };
      return { pointer: p, message: `${where(p)} ${e.message ?? 'does not match its pattern'}${shown}`, at: 'value' };
    }
    case 'not':
      return { pointer: `${p}/flags`, message: `${where(p)}: "flags" is only allowed with op "regex"`, at: 'key' };
    case 'oneOf':
      return { pointer: p, message: `${where(p)}: a case has either "call" and "expect", or "sequence", not both`, at: 'value' };
    case 'anyOf':
      if (/\/window$/.test(p)) return { pointer: p, message: `${where(p)} must be "second", "minute", "hour", "day" or a number of seconds${shown}`, at: 'value' };
      if (/\/expect$/.test(p)) return { pointer: p, message: `${where(p)} must be an effect ("allow", "deny", "approval_required", "hidden") or { "effect", "rule"?, "reason_contains"? }${shown}`, at: 'value' };
      return { pointer: p, message: `${where(p)} ${e.message ?? 'is invalid'}${shown}`, at: 'value' };
    default:
      return { pointer: p, message: `${where(p)} ${e.message ?? 'is invalid'}${shown}`, at: 'value' };
  }
}
