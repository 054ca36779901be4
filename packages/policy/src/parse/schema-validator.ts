import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../diagnostic.js';
import { OPERATOR_SYNONYMS } from '../lint/name-suggester.js';
import { describeSchemaErrors, type SchemaErrorWording } from './schema-error-description.js';
import type { SourceDocument } from './source-document.js';

const require = createRequire(import.meta.url);

/** The JSON Schema of the policy language, version "1" (the single source of the language). */
export const policySchema: Record<string, unknown> = require('../../schema/policy.schema.json');
/** The JSON Schema of `*.test.json` files. */
export const testFileSchema: Record<string, unknown> = require('../../schema/test.schema.json');

type Ajv2020Ctor = new (options: Record<string, unknown>) => { compile(schema: unknown): ValidateFunction };
let validators: { policy: ValidateFunction; testFile: ValidateFunction } | undefined;

function load(): { policy: ValidateFunction; testFile: ValidateFunction } {
  if (!validators) {
    // ajv is CommonJS; loading it on first use keeps `tollgate --help` from paying for it.
    const Ajv2020 = (require('ajv/dist/2020') as { default: Ajv2020Ctor }).default;
    // verbose: errors carry their schema, so an unknown key can be answered with the closest known one.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });
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
  return schemaDiagnostics(validate.errors ?? [], document).slice(0, maxDiagnostics);
}

function schemaDiagnostics(errors: readonly ErrorObject[], document: SourceDocument): Diagnostic[] {
  // The branches of anyOf/oneOf each report why they did not match; the combinator's own
  // error, described in words below, says it once. `if` only restates its `then`.
  const kept = errors.filter((e) => e.keyword !== 'if' && !/\/(anyOf|oneOf)\/\d+\//.test(e.schemaPath));
  return describeSchemaErrors(kept, document, POLICY_WORDING).map((d) => ({ code: 'TG010', severity: 'error', ...d }));
}

/** How schema errors in policies and test files are worded. */
const POLICY_WORDING: SchemaErrorWording = {
  where: (pointer) => (pointer === '' ? 'the document' : pointer),
  synonyms: [[/\/op$/, OPERATOR_SYNONYMS]],
  patterns: [
    [/\/(path|increment_from)$/, 'is not a valid path: expected args.<field> (dots and [index] allowed), agent.id, agent.labels.<key> or session.id'],
    [/\/timeout$/, 'must be a duration like "30s", "10m", "2h" or "1d"'],
    [/\/at$/, 'must be an ISO 8601 time with a zone, like "2026-01-01T00:01:00Z"'],
    [/\/flags$/, 'may hold each of the regex flags i, m, s, u at most once'],
    [/\/id$/, 'must start with a letter or digit and hold only letters, digits, "_", ".", ":" and "-"'],
  ],
  special: (e, { where, shown }) => {
    const p = e.instancePath;
    switch (e.keyword) {
      case 'required': {
        const missing = String((e.params as { missingProperty: string }).missingProperty);
        if (missing !== 'sequence' && missing !== 'call') return undefined;
        return { pointer: p, message: `${where} is missing the required key "${missing}" (a case has either "call" and "expect", or "sequence")`, at: 'value' };
      }
      case 'not':
        return { pointer: `${p}/flags`, message: `${where}: "flags" is only allowed with op "regex"`, at: 'key' };
      case 'oneOf':
        return { pointer: p, message: `${where}: a case has either "call" and "expect", or "sequence", not both`, at: 'value' };
      case 'anyOf':
        if (/\/window$/.test(p)) return { pointer: p, message: `${where} must be "second", "minute", "hour", "day" or a number of seconds${shown}`, at: 'value' };
        if (/\/expect$/.test(p)) return { pointer: p, message: `${where} must be an effect ("allow", "deny", "approval_required", "hidden") or { "effect", "rule"?, "reason_contains"? }${shown}`, at: 'value' };
        return undefined;
      default:
        return undefined;
    }
  },
};
